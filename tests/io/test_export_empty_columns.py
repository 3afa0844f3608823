"""Property: a clinic whose optional column is entirely empty exports and round-trips.

For every optional column of every template table, the valid fixture with that column
blanked (rows that then become invalid are left out with --skip-invalid) imports, exports
through the CLI, re-imports into an empty database and exports again: the two exports are
byte-identical and so are the two databases. On SQLite and PostgreSQL, and through the Data
page's export (AppTest).
"""

from __future__ import annotations

import filecmp
import io
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from kapviz.cli import main
from kapviz.db.engine import make_engine
from kapviz.db.models import Base
from kapviz.io.tables import MAX_ITEMS, TEMPLATE_FILES
from tests.io.test_template import TABLES, VALID

ROOT = Path(__file__).resolve().parents[2]
ITEMS = tuple(f"item_{k}" for k in range(1, MAX_ITEMS + 1))
OPTIONAL = [
    (file, column.name)
    for file, columns in TEMPLATE_FILES.items()
    for column in columns
    if column.required is False and column.name not in ITEMS
] + [("assessments", "item_1…item_23")]
DEFAULTED = {"course_id", "status", "drug", "serious", "total"}
"""Filled on import when empty: the defaults of the template; a total from the items."""


def dump(url: str) -> dict[str, list]:
    """Every clinic row but its write time (`updated_at`), ordered by its columns."""
    engine = make_engine(url)
    out = {}
    with engine.connect() as conn:
        for name in TABLES:
            table = Base.metadata.tables[name]
            columns = [c for c in table.c if c.name != "updated_at"]
            out[name] = sorted(
                (tuple(r) for r in conn.execute(table.select().with_only_columns(*columns))),
                key=repr,
            )
    engine.dispose()
    return out


def blanked(target: Path, blanks: dict[str, list[str]]) -> Path:
    """The valid fixture with these columns (per file) present but entirely empty."""
    shutil.copytree(VALID, target)
    for file, columns in blanks.items():
        path = target / f"{file}.csv"
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        for column in columns:
            names = ITEMS if column.startswith("item_1…") else (column,)
            for name in names:
                frame[name] = ""
        frame.to_csv(path, index=False)
    return target


def round_trip(folder: Path, url_a: str, url_b: str, tmp: Path) -> None:
    assert main(["import", str(folder), "--db", url_a, "--skip-invalid"]) == 0
    first, second = tmp / "first", tmp / "second"
    assert main(["export", str(first), "--db", url_a]) == 0
    assert main(["import", str(first), "--db", url_b]) == 0
    assert main(["export", str(second), "--db", url_b]) == 0
    names = sorted(p.name for p in first.glob("*.csv"))
    match, mismatch, errors = filecmp.cmpfiles(first, second, names, shallow=False)
    assert len(match) == 5 and not mismatch and not errors
    assert dump(url_a) == dump(url_b)


@pytest.mark.parametrize(("file", "column"), OPTIONAL, ids=[f"{f}.{c}" for f, c in OPTIONAL])
def test_empty_optional_column_round_trips(file, column, db_url, tmp_path, capsys):
    folder = blanked(tmp_path / "in", {file: [column]})
    other = f"sqlite:///{tmp_path}/other.db"
    round_trip(folder, db_url, other, tmp_path)
    exported = pd.read_csv(tmp_path / "first" / f"{file}.csv", dtype=str, keep_default_na=False)
    if column in exported and column not in DEFAULTED:
        assert (exported[column] == "").all()


ALL_OPTIONAL = {f: [c for g, c in OPTIONAL if g == f] for f in TEMPLATE_FILES}


def test_every_optional_column_empty_at_once(db_url, tmp_path, capsys):
    folder = blanked(tmp_path / "in", ALL_OPTIONAL)
    round_trip(folder, db_url, f"sqlite:///{tmp_path}/other.db", tmp_path)
    patients = pd.read_csv(tmp_path / "first" / "patients.csv", dtype=str, keep_default_na=False)
    assert len(patients) == 3 and (patients["indication"] == "").all()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_data_page_exports_a_clinic_with_empty_columns(db_url, fmt, tmp_path, monkeypatch):
    """The Data page's full export works and re-imports to the same database."""
    folder = blanked(tmp_path / "in", ALL_OPTIONAL)
    assert main(["import", str(folder), "--db", db_url, "--skip-invalid"]) == 0
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", db_url)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=60)
    at.run()
    at.segmented_control(key="data_export_fmt").set_value(fmt)
    at.button(key="data_export_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    shipped, data = at.session_state["data_export"]
    assert shipped == fmt
    unpacked = tmp_path / "zip"
    zipfile.ZipFile(io.BytesIO(data)).extractall(unpacked)
    source = unpacked if fmt == "csv" else unpacked / "kapviz-export.xlsx"
    other = f"sqlite:///{tmp_path}/other.db"
    assert main(["import", str(source), "--db", other]) == 0
    assert dump(other) == dump(db_url)
    st.cache_data.clear()
    st.cache_resource.clear()


def test_cli_failure_says_what_and_what_to_do(sqlite_url, tmp_path, monkeypatch, capsys, caplog):
    """An unexpected error: message and hint, exit 1; the traceback only with -v."""
    from kapviz.io import commands

    def broken(*args, **kwargs):
        raise ValueError("assignment destination is read-only")

    monkeypatch.setattr(commands, "export_template", broken)
    assert main(["export", str(tmp_path / "out"), "--db", sqlite_url]) == 1
    err = capsys.readouterr().err
    assert "kapviz export: failed: ValueError: assignment destination is read-only" in err
    assert "what to do:" in err and "-v" in err and "Traceback" not in err
    assert not caplog.records
    assert main(["-v", "export", str(tmp_path / "out"), "--db", sqlite_url]) == 1
    assert any(r.exc_info for r in caplog.records)


def test_data_page_export_failure_is_a_message(sqlite_url, monkeypatch):
    from kapviz.io import bundle

    def broken(*args, **kwargs):
        raise ValueError("assignment destination is read-only")

    monkeypatch.setattr(bundle, "export_zip", broken)
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", sqlite_url)
    at = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=60)
    at.run()
    at.button(key="data_export_go").click().run()
    assert not at.exception
    assert "could not be prepared" in at.error[0].value
    assert "data_export" not in at.session_state
