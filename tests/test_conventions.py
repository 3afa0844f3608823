"""Project conventions that code review would otherwise have to remember."""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Only these may import streamlit: the rest of kapviz stays testable without a Streamlit runtime.
STREAMLIT_ALLOWED = ("kapviz/ui/",)


def streamlit_imports(source: str) -> list[int]:
    """Line numbers of `import streamlit...` / `from streamlit... import ...` in the source."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        if any(name == "streamlit" or name.startswith("streamlit.") for name in names):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import streamlit as st", [1]),
        ("import os, streamlit", [1]),
        ("from streamlit import session_state", [1]),
        ("import streamlit.components.v1 as components", [1]),
        ("from streamlit.testing.v1 import AppTest", [1]),
        ("def f():\n    import streamlit\n", [2]),
        ("import streamlit_extras", []),
        ("from . import streamlit", []),
        ("import pandas as pd\nfrom kapviz.ui import data", []),
    ],
)
def test_streamlit_imports_detector(source: str, expected: list[int]) -> None:
    """The scanner finds every spelling of a streamlit import and nothing else."""
    assert streamlit_imports(source) == expected


def test_only_ui_imports_streamlit() -> None:
    """Nothing in kapviz/ outside kapviz/ui/ imports streamlit (pages/ and app.py may)."""
    files = sorted((ROOT / "kapviz").rglob("*.py"))
    assert files, "kapviz/ holds no Python files: is ROOT right?"
    offenders = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(STREAMLIT_ALLOWED):
            continue
        try:
            found = streamlit_imports(path.read_text(encoding="utf-8"))
        except SyntaxError as exc:
            pytest.fail(f"{rel} does not parse: {exc}")
        offenders += [f"{rel}:{line}" for line in found]
    assert not offenders, "streamlit imported outside kapviz/ui/: " + ", ".join(offenders)


def ci_test_command() -> str:
    """The TEST_COMMAND that .ci/run evals."""
    script = (ROOT / ".ci" / "run").read_text()
    match = re.search(r"^TEST_COMMAND=(.+)$", script, re.MULTILINE)
    assert match, ".ci/run does not define TEST_COMMAND"
    assert re.search(r'^\s*eval "\$TEST_COMMAND"', script, re.MULTILINE), (
        '.ci/run does not run eval "$TEST_COMMAND"'
    )
    (command,) = shlex.split(match.group(1))
    return command


def readme_test_command(readme: str) -> str:
    """The command in the first fenced block after the heading containing "Run the tests".

    Several lines count as one command joined with `&&`; `$ ` prompts and comments are dropped.
    """
    heading = re.search(r"^#+ .*run the tests.*$", readme, re.MULTILINE | re.IGNORECASE)
    assert heading, 'README.md has no heading containing "Run the tests"'
    block = re.search(r"^```[^\n]*\n(.*?)^```", readme[heading.end() :], re.MULTILINE | re.DOTALL)
    assert block, 'README.md has no fenced code block after "Run the tests"'
    lines = [line.strip().removeprefix("$ ") for line in block.group(1).splitlines()]
    return " && ".join(line for line in lines if line and not line.startswith("#"))


def test_readme_test_command_is_what_ci_runs() -> None:
    """The README's "Run the tests" command is exactly the one CI runs, so it cannot rot."""
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md not written yet")
    assert readme_test_command(readme.read_text(encoding="utf-8")) == ci_test_command()


def test_readme_parser() -> None:
    """One-line and multi-line README blocks both reduce to the command CI runs."""
    one = "# kapviz\n## Run the tests\n```bash\n$ pip install -r r.txt && python -m pytest\n```\n"
    two = "## How to run the tests\n\n```\n# dev deps\npip install -r r.txt\npython -m pytest\n```"
    assert readme_test_command(one) == "pip install -r r.txt && python -m pytest"
    assert readme_test_command(two) == "pip install -r r.txt && python -m pytest"


def test_ci_script_is_executable_bash() -> None:
    """.ci/run has the executable bit and passes `bash -n`."""
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK), ".ci/run is not executable (git update-index --chmod=+x)"
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_pytest_markers_are_documented() -> None:
    """Every marker declared in pyproject.toml is explained in docs/testing.md."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    markers = [m.split(":")[0] for m in config["tool"]["pytest"]["ini_options"]["markers"]]
    docs = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    assert [m for m in markers if f"`{m}`" not in docs] == []
