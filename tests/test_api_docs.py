"""Every Python example of docs/api.md runs against a demo clinic (an example that no
longer works is a documentation bug)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pandas as pd

import kapviz
from kapviz.db.engine import make_engine
from kapviz.demo import generate_clinic

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_the_python_examples_run(sqlite_url, monkeypatch):
    generate_clinic(make_engine(sqlite_url), patients=60, seed=41)
    clinic = kapviz.connect(sqlite_url)
    # The examples name their own databases; every one of them is this demo clinic.
    monkeypatch.setattr(kapviz.api, "connect", lambda url, **kw: clinic)
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 8
    scope: dict = {}
    tables = 0
    for block in blocks:
        lines = block.splitlines()
        for node in ast.parse(block).body:
            source = "\n".join(lines[node.lineno - 1 : node.end_lineno])
            if isinstance(node, ast.Expr):
                tables += isinstance(eval(source, scope), pd.DataFrame)  # noqa: S307
            else:
                exec(source, scope)  # noqa: S102
    assert tables >= 15
