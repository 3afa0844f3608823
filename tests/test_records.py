"""Records the next maintainer relies on: bound SQL, few and explained noqa markers, and
references to files that exist in this repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "kapviz").rglob("*.py"))
MAX_NOQA = 25


def _lines(pattern: str) -> list[str]:
    found = []
    for path in SOURCES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(pattern, line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def test_sql_is_never_compiled_with_literal_values() -> None:
    assert _lines(r"literal_binds|str\(compiled|str\(\w+\.compile\(") == []


def test_noqa_markers_are_few() -> None:
    """At most MAX_NOQA lines of kapviz/ silence ruff (`ruff check --extend-select RUF100`
    lists any that silence nothing)."""
    assert len(_lines(r"#\s*noqa")) <= MAX_NOQA


def test_no_reference_to_files_outside_the_repository() -> None:
    assert _lines(r"STACK-NOTES|/work/shared|\bDOMAIN\.md") == []
