"""Defended: careless input meets a clear message, and the command line leaves a trace.

- A bad setting names the setting, its value and what is accepted, on the command line and
  in the app (not "cannot open its database"); whole-number settings accept `1.0`.
- `?route=iv` selects the IV route as `?route=IV` does (links written with template codes).
- The `--rejections` report names each record by its id, not by its row number.
- Command-line imports and exports are in the audit trail, as the app's are.
- An import into the embedded demo database turns sign-in on: with no account yet, the
  command says how to add one.
"""

from __future__ import annotations

import csv

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from kapviz import config
from kapviz.auth import accounts, audit
from kapviz.auth.audit import command_line_user
from kapviz.auth.scope import DIRECTOR
from kapviz.cli import main
from kapviz.config import SettingsError, load_settings
from kapviz.db.engine import make_engine
from tests.pages.auth.conftest import fast_hasher
from tests.pages.conftest import ROOT, clinic_anchor, clinic_url, run_app  # noqa: F401
from tests.security.hostile import write_clinic

SETTING_CASES = [
    ("KAPVIZ_REFRESH_SECONDS", "1.0", "refresh_seconds", 1),
    ("KAPVIZ_REFRESH_SECONDS", " 15 ", "refresh_seconds", 15),
    ("KAPVIZ_SMALL_CELL_THRESHOLD", "11.0", "small_cell_threshold", 11),
]


@pytest.mark.parametrize(("name", "raw", "field", "value"), SETTING_CASES)
def test_whole_number_settings_accept_a_point_zero(name, raw, field, value, tmp_path):
    """`1.0` is the whole number 1, as a person writing it means."""
    settings = load_settings({name: raw}, secrets_path=tmp_path / "none.toml")
    assert getattr(settings, field) == value


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("abc", "KAPVIZ_REFRESH_SECONDS='abc' is not accepted: expected a whole number (the "
         "default is 60)"),
        ("1.5", "KAPVIZ_REFRESH_SECONDS='1.5' is not accepted: expected a whole number"),
        ("0", "KAPVIZ_REFRESH_SECONDS=0 is not accepted: expected a whole number from 1 to "
         "3600"),
        ("7200", "KAPVIZ_REFRESH_SECONDS=7200 is not accepted: expected a whole number from 1 "
         "to 3600"),
    ],
)  # fmt: skip
def test_bad_setting_names_setting_value_and_what_is_accepted(raw, message, tmp_path):
    with pytest.raises(SettingsError) as caught:
        load_settings({"KAPVIZ_REFRESH_SECONDS": raw}, secrets_path=tmp_path / "none.toml")
    assert str(caught.value).startswith(message)


def test_app_shows_the_setting_problem(clinic_url, monkeypatch):  # noqa: F811 - fixture
    """The page says which setting is wrong, not that the database cannot be opened."""
    monkeypatch.setenv("KAPVIZ_REFRESH_SECONDS", "abc")
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "pages/overview.py"), default_timeout=60)
    at.run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "KAPVIZ\\_REFRESH\\_SECONDS" in errors[0]
    assert "abc" in errors[0] and "whole number" in errors[0]
    assert "cannot open its database" not in errors[0]


@pytest.mark.parametrize("value", ["iv", "IV", "Iv", " iv "])
def test_route_parameter_accepts_codes_and_labels(clinic_url, value):  # noqa: F811
    """A shared link with `?route=iv` filters like `?route=IV` (the widget's label)."""
    at = run_app("pages/safety.py", route=value)
    route = next(m for m in at.sidebar.multiselect if m.key == "route")
    assert route.value == ["iv"]


def test_rejection_report_names_records_by_id(sqlite_url, tmp_path):
    """--skip-invalid --rejections: the id column holds the session's id."""
    folder = write_clinic(tmp_path / "in", ["North"])
    sessions = folder / "sessions.csv"
    rows = list(csv.DictReader(sessions.open()))
    rows[3]["phase"] = "intergration"
    with sessions.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    report = tmp_path / "rejected.csv"
    args = ["import", str(folder), "--db", sqlite_url, "--skip-invalid", "--rejections",
            str(report)]  # fmt: skip
    assert main(args) == 0
    rejected = list(csv.DictReader(report.open()))
    assert rejected[0]["record"] == "5" and rejected[0]["id"] == rows[3]["session_id"]
    # Its side effects and vital signs follow it out, each named by its own key.
    assert [r["id"] for r in rejected[1:]] == ["S0-3 nausea", "S0-3 -10"]


def test_cli_import_and_export_are_audited(sqlite_url, tmp_path):
    """`import` and `export` each write an audit row naming the command-line user."""
    folder = write_clinic(tmp_path / "in", ["North"])
    assert main(["import", str(folder), "--db", sqlite_url]) == 0
    assert main(["import", str(folder), "--db", sqlite_url, "--dry-run"]) == 0
    assert main(["export", str(tmp_path / "out"), "--db", sqlite_url]) == 0
    with make_engine(sqlite_url).connect() as conn:
        rows = audit.audit_frame(conn)
    rows = rows.sort_values("id")
    assert rows["action"].tolist() == ["import", "export"]  # the dry run wrote nothing
    assert set(rows["username"]) == {command_line_user()}
    assert rows["target"].tolist() == [str(folder), str(tmp_path / "out")]
    assert '"added": 98' in rows["detail"].iloc[0]  # 7 patients, 25 sessions, 18 dosings, ...


def test_import_into_the_demo_database_says_how_to_add_an_account(tmp_path, monkeypatch, capsys):
    """The embedded database signs people in once clinic data are in it: the import says so
    and gives the command, while there is no account (a header-only file included)."""
    url = f"sqlite:///{tmp_path}/kapviz.db"
    monkeypatch.setattr(config, "DEFAULT_DATABASE_URL", url)
    monkeypatch.delenv("KAPVIZ_AUTH_MODE", raising=False)
    monkeypatch.setattr(accounts, "_HASHER", fast_hasher())
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "patients.csv").write_text("patient_id,site\n")
    assert main(["import", str(folder), "--db", url]) == 0
    err = capsys.readouterr().err
    assert "no account yet" in err and "python -m kapviz users add NAME --role director" in err
    with make_engine(url).begin() as conn:
        accounts.add_user(conn, "dora", "director-pass-1", role=DIRECTOR)
    assert main(["import", str(folder), "--db", url]) == 0
    assert "no account yet" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"patient_id;site\nP1;North\n",
         "patients.csv: line 1 (the header) is one column 'patient_id;site', separated by "
         "semicolons instead of commas"),
        (b"patient_id\tsite\nP1\tNorth\n", "separated by tabs instead of commas"),
        ("patient_id,site\nP1,North\nP2,Zürich\n".encode("latin-1"),
         "patients.csv: line 3 is not UTF-8 text (byte 0xfc); the file was probably saved as "
         "Windows-1252/Latin-1"),
        ("patient_id,site\nP1,North\n".encode("utf-16"), "patients.csv: the file is UTF-16"),
    ],
    ids=["semicolons", "tabs", "latin-1", "utf-16"],
)  # fmt: skip
def test_delimiter_and_encoding_name_cause_and_line(content, message, tmp_path, capsys):
    """A European-locale or non-UTF-8 CSV: the message says what the file is, where, and how
    to save it; exit 2 and nothing written."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "patients.csv").write_bytes(content)
    assert main(["import", str(folder), "--db", f"sqlite:///{tmp_path}/x.db"]) == 2
    err = capsys.readouterr().err
    assert message in err and "CSV" in err


def test_supervisor_needs_a_site_of_the_database(sqlite_url, tmp_path, monkeypatch, capsys):
    """`users add --role supervisor --site Nroth` is refused, naming the sites there are;
    `--allow-new-site` accepts a site whose data come later (a deliberate choice)."""
    import io

    monkeypatch.setattr(accounts, "_HASHER", fast_hasher())
    assert main(["import", str(write_clinic(tmp_path / "in", ["North"])), "--db", sqlite_url]) == 0
    capsys.readouterr()

    def add(name: str, *extra: str) -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO("supervisor-pass-1\n"))
        args = ["users", "add", name, "--role", "supervisor", "--password-stdin"]
        return main([*args, *extra, "--db", sqlite_url])

    assert add("sam", "--site", "Nroth") == 2
    err = capsys.readouterr().err
    assert "no site named 'Nroth' in this database (sites: North)" in err
    assert "--allow-new-site" in err
    assert add("sam", "--site", "North") == 0
    assert add("sue", "--site", "East", "--allow-new-site") == 0
    with make_engine(sqlite_url).connect() as conn:
        assert [a.username for a in accounts.list_users(conn)] == ["sam", "sue"]
