"""Defended: implausible data (a session dated 9999-12-31, 35,000 mg at 0.001 kg).

Values of the right type but outside plausible ranges are row-level problems: dates after
tomorrow or before 1900; doses outside the configured range of their route and weights
outside theirs (`KAPVIZ_PLAUSIBLE_*`, kapviz.io.plausibility). Nothing is written. The
deliberate override `import --allow-implausible` writes them and reports each one.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from sqlalchemy import func, select

from kapviz.cli import main
from kapviz.config import Settings
from kapviz.db.engine import make_engine
from kapviz.db.models import Dosing, Patient, Session
from kapviz.io.plausibility import Limits
from kapviz.io.tables import ImportBatch
from kapviz.io.validate import validate

TODAY = date(2026, 3, 10)
LIMITS = Limits.from_settings(Settings(), today=TODAY)

PATIENTS = "patient_id,site\nA1,North\n"
SESSIONS = (
    "session_id,patient_id,started_at,phase,route,dose_mg,weight_kg\n"
    "S1,A1,2026-01-05T09:00,dosing,iv,35000,0.001\n"
    "S2,A1,9999-12-31T09:00,intake,,,\n"
    "S3,A1,2026-01-12T09:00,dosing,iv,35,70\n"
)


def write(folder, sessions: str = SESSIONS):
    folder.mkdir()
    (folder / "patients.csv").write_text(PATIENTS)
    (folder / "sessions.csv").write_text(sessions)
    return folder


def problems(rows: list[tuple[str, ...]], *, limits: Limits = LIMITS, **kw) -> list[str]:
    """Problems of a sessions table of (session_id, started_at, phase, route, dose, weight)."""
    batch = ImportBatch()
    batch.add("patients", pd.DataFrame({"patient_id": ["A1"], "site": ["North"]}))
    columns = ["session_id", "started_at", "phase", "route", "dose_mg", "weight_kg"]
    frame = pd.DataFrame(rows, columns=columns).assign(patient_id="A1")
    batch.add("sessions", frame)
    return [str(p) for p in validate(batch, limits=limits, **kw).problems]


def test_the_issue_case_is_rejected_by_the_cli(sqlite_url, tmp_path, capsys):
    """35,000 mg at 0.001 kg and 9999-12-31: three row-level problems, exit 2, nothing written."""
    assert main(["import", str(write(tmp_path / "in")), "--db", sqlite_url]) == 2
    err = capsys.readouterr().err
    assert "3 problems found; nothing was written" in err
    assert "sessions.csv:2 dose_mg '35000': expected a dose from 1 to 300 mg for route iv" in err
    assert "sessions.csv:2 weight_kg '0.001': expected a weight from 20 to 350 kg" in err
    assert "sessions.csv:3 started_at '9999-12-31T09:00': expected a date from 1900-01-01" in err
    with make_engine(sqlite_url).connect() as conn:
        assert conn.execute(select(func.count()).select_from(Patient)).scalar_one() == 0


def test_allow_implausible_writes_and_reports(sqlite_url, tmp_path, capsys):
    """The override imports the rows as they are and reports every value it let through."""
    args = ["import", str(write(tmp_path / "in")), "--db", sqlite_url, "--allow-implausible"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "accepted 3 implausible values (--allow-implausible" in out
    assert err.count("warning: implausible values accepted (--allow-implausible): ") == 3
    with make_engine(sqlite_url).connect() as conn:
        dose = conn.execute(select(Dosing.dose_mg).where(Dosing.session_id == "S1")).scalar_one()
        when = conn.execute(select(Session.started_at).where(Session.session_id == "S2"))
        assert dose == 35000 and when.scalar_one().year == 9999


@pytest.mark.parametrize(
    ("started_at", "ok"),
    [
        ("1899-12-31", False),
        ("1900-01-01", True),
        (str(TODAY + timedelta(days=1)) + "T23:59", True),
        (str(TODAY + timedelta(days=2)), False),
    ],
    ids=["before-1900", "1900", "tomorrow", "day-after-tomorrow"],
)
def test_date_limits(started_at, ok):
    """From 1900-01-01 to the end of tomorrow (a clock a day off still imports)."""
    found = problems([("S1", started_at, "intake", "", "", "")])
    assert (found == []) is ok, found


@pytest.mark.parametrize(
    ("route", "dose", "weight", "expected"),
    [
        ("iv", "35", "70", None),
        ("iv", "0.5", "", "dose_mg '0.5': expected a dose from 1 to 300 mg for route iv"),
        ("intranasal", "84", "", None),
        (
            "intranasal",
            "168",
            "",
            "dose_mg '168': expected a dose from 1 to 112 mg for route intranasal",
        ),
        ("oral", "500", "", None),
        (
            "sublingual",
            "1500",
            "",
            "dose_mg '1500': expected a dose from 1 to 1000 mg for route sublingual",
        ),
        ("im", "50", "400", "weight_kg '400': expected a weight from 20 to 350 kg"),
    ],
)
def test_dose_and_weight_ranges_per_route(route, dose, weight, expected):
    """Doses by their route's range; weights by theirs (defaults of the settings)."""
    found = problems([("S1", "2026-01-05", "dosing", route, dose, weight)])
    assert found == ([] if expected is None else [f"sessions.csv:2 {expected}"])


def test_ranges_are_configurable(monkeypatch):
    """KAPVIZ_PLAUSIBLE_DOSE_MAX_MG_IV lowers the IV ceiling for every import."""
    monkeypatch.setenv("KAPVIZ_PLAUSIBLE_DOSE_MAX_MG_IV", "20")
    batch = ImportBatch()
    batch.add("patients", pd.DataFrame({"patient_id": ["A1"], "site": ["North"]}))
    batch.add("sessions", pd.DataFrame({
        "session_id": ["S1"], "patient_id": ["A1"], "started_at": ["2026-01-05"],
        "phase": ["dosing"], "route": ["iv"], "dose_mg": ["35"],
    }))  # fmt: skip
    found = [str(p) for p in validate(batch).problems]
    assert found == ["sessions.csv:2 dose_mg '35': expected a dose from 1 to 20 mg for route iv"]
    assert validate(batch, allow_implausible=True).accepted_implausible[0].column == "dose_mg"
