"""Problem reports as tables: every problem, and a count per file and column."""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd

from kapviz.io.tables import Problem

COLUMNS = ["file", "row", "column", "value", "expected"]


def problems_frame(problems: list[Problem]) -> pd.DataFrame:
    """One row per problem, in the order they were found (file, then row)."""
    return pd.DataFrame([asdict(p) for p in problems], columns=COLUMNS)


def problem_groups(problems: list[Problem]) -> pd.DataFrame:
    """How many problems each file and column has, with the first rows affected."""
    frame = problems_frame(problems)
    if frame.empty:
        return pd.DataFrame(columns=["file", "column", "problems", "rows", "expected"])
    frame["column"] = frame["column"].fillna("(whole file)")
    grouped = frame.groupby(["file", "column"], sort=False).agg(
        problems=("expected", "size"),
        rows=("row", lambda r: ", ".join(str(int(v)) for v in r.dropna().head(8))),
        expected=("expected", "first"),
    )
    return grouped.reset_index()
