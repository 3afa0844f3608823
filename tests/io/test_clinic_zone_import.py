"""The clinic's time zone in imports (DOMAIN §4d), across both 2026 DST changes in California.

The server runs in UTC (as on CI); KAPVIZ_TIMEZONE=America/Los_Angeles. Stored times are the
clinic's wall-clock times, so calendar groupings in SQL are the clinic's calendar.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from kapviz.cli import main
from kapviz.db.aggregates import program
from kapviz.db.engine import make_engine
from kapviz.db.models import Assessment, Session
from kapviz.filters import Filters
from tests.io.test_template import VALID

LA = "America/Los_Angeles"


@pytest.fixture(autouse=True)
def california(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("KAPVIZ_TIMEZONE", LA)


def phq9(oid: str, when: str) -> dict:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
            "effectiveDateTime": when, "valueInteger": 10}  # fmt: skip


def test_fhir_offsets_become_clinic_wall_time_across_spring_forward(tmp_path, db_url):
    path = tmp_path / "obs.ndjson"
    resources = [
        {"resourceType": "Patient", "id": "p1"},
        phq9("a", "2026-03-08T09:30:00Z"),
        phq9("b", "2026-03-08T10:30:00Z"),
    ]
    # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    assert main(["import", str(path), "--db", db_url]) == 0
    with make_engine(db_url).connect() as conn:
        stored = conn.execute(select(Assessment.administered_at).order_by(Assessment.id))
        assert [r[0] for r in stored] == [datetime(2026, 3, 8, 1, 30), datetime(2026, 3, 8, 3, 30)]


def template(tmp_path: Path, started_at: str) -> Path:
    """The valid fixture with session S2's start replaced."""
    folder = tmp_path / "in"
    shutil.copytree(VALID, folder)
    sessions = folder / "sessions.csv"
    text = sessions.read_text().replace("S2,A1,,2026-01-08T10:00,", f"S2,A1,,{started_at},")
    sessions.write_text(text)
    return folder


def test_template_time_skipped_by_spring_forward_is_an_error_naming_the_row(
    tmp_path, sqlite_url, capsys
):
    assert main(["import", str(template(tmp_path, "2026-03-08T02:30")), "--db", sqlite_url]) == 2
    err = capsys.readouterr().err
    assert (
        "sessions.csv:3 started_at '2026-03-08T02:30': expected a local time that exists "
        "in America/Los_Angeles (the clocks skip it: daylight saving time begins)"
    ) in err
    # fmt: skip


def test_template_time_repeated_by_fall_back_is_the_earlier_with_a_warning(
    tmp_path, sqlite_url, capsys
):
    assert main(["import", str(template(tmp_path, "2026-11-01T01:30")), "--db", sqlite_url]) == 0
    captured = capsys.readouterr()
    assert ("warning: sessions.csv:3 started_at '2026-11-01T01:30': this local time occurs "
            "twice in America/Los_Angeles (the clocks go back); read as the earlier one"
            ) in captured.err  # fmt: skip
    assert "warnings: 1" in captured.out
    with make_engine(sqlite_url).connect() as conn:
        start = conn.execute(select(Session.started_at).where(Session.session_id == "S2"))
        assert start.scalar() == datetime(2026, 11, 1, 1, 30)


def test_late_evening_dose_counts_in_its_local_month_on_a_utc_server(tmp_path, db_url):
    """23:30 on 31 March in California is 06:30 on 1 April in UTC: it is a March dose."""
    folder = tmp_path / "in"
    shutil.copytree(VALID, folder)
    sessions = folder / "sessions.csv"
    text = sessions.read_text().replace("S3,A1,,2026-01-12T09:00,", "S3,A1,,2026-04-01T06:30Z,")
    sessions.write_text(text)
    assert main(["import", str(folder), "--db", db_url]) == 0
    with make_engine(db_url).connect() as conn:
        start = conn.execute(select(Session.started_at).where(Session.session_id == "S3"))
        assert start.scalar() == datetime(2026, 3, 31, 23, 30)
        monthly = program.merged_counts(conn, *program.dosing_counts(Filters(), program.month_of))
    assert "2026-04" not in set(monthly.iloc[:, 0].astype(str))
    march = monthly[monthly.iloc[:, 0].astype(str) == "2026-03"]
    assert int(march["sessions"].sum()) == 1


def test_data_page_names_the_clinic_zone(sqlite_url, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("KAPVIZ_DATABASE_URL", sqlite_url)
    root = Path(__file__).resolve().parents[2]
    at = AppTest.from_file(str(root / "pages" / "data.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert any("Clinic time zone: **America/Los_Angeles**" in c.value for c in at.caption)


def test_unknown_zone_is_named_with_what_is_accepted(tmp_path, sqlite_url, capsys, monkeypatch):
    monkeypatch.setenv("KAPVIZ_TIMEZONE", "California")
    assert main(["import", str(VALID), "--db", sqlite_url]) == 2
    err = capsys.readouterr().err
    assert "KAPVIZ_TIMEZONE='California' is not an IANA time zone name" in err
    assert "Traceback" not in err and "bug" not in err


def test_redcap_offsets_and_local_times(tmp_path, sqlite_url):
    """REDCap: an offset is converted to the clinic's zone; a time without one is local."""
    from kapviz.io.redcap import SHIPPED_MAPPING

    source = Path(__file__).parent / "fixtures" / "redcap" / "kap_project.csv"
    export = tmp_path / "export.csv"
    text = source.read_text().replace("2026-02-02 09:00", "2026-02-02T17:00Z", 1)
    export.write_text(text)
    args = ["import", str(export), "--redcap-mapping", str(SHIPPED_MAPPING), "--db", sqlite_url]
    assert main(args) == 0
    with make_engine(sqlite_url).connect() as conn:
        starts = conn.execute(select(Session.started_at).where(Session.patient_id == "K001")
                              .order_by(Session.started_at)).scalars().all()  # fmt: skip
    assert starts[0] == datetime(2026, 2, 2, 9, 0)  # 17:00 UTC is 09:00 PST
    assert starts[1] == datetime(2026, 2, 5, 10, 0)  # local, unchanged


def test_fhir_minutes_from_dose_count_real_time_across_spring_forward(tmp_path):
    """A dose from 01:50 PST to 03:30 PDT on 2026-03-08 lasts 40 minutes, and a reading at
    03:10 PDT is 20 minutes after the dose (wall times differ by 80)."""
    from kapviz.io.fhir import read_fhir

    def ref(kind: str, rid: str) -> dict:
        return {"reference": f"{kind}/{rid}"}

    resources = [
        {"resourceType": "Patient", "id": "p1"},
        {"resourceType": "Encounter", "id": "e1", "status": "finished",
         "subject": ref("Patient", "p1"), "type": [{"text": "dosing"}],
         "period": {"start": "2026-03-08T09:40:00Z"}},
        {"resourceType": "MedicationAdministration", "id": "m1", "status": "completed",
         "medicationCodeableConcept": {"coding": [{"code": "6130"}]},
         "context": ref("Encounter", "e1"),
         "effectivePeriod": {"start": "2026-03-08T09:50:00Z", "end": "2026-03-08T10:30:00Z"},
         "dosage": {"route": {"text": "iv"}, "dose": {"value": 35, "code": "mg"}}},
        {"resourceType": "Observation", "id": "hr", "status": "final",
         "code": {"coding": [{"code": "8867-4"}]}, "encounter": ref("Encounter", "e1"),
         "effectiveDateTime": "2026-03-08T10:10:00Z", "valueInteger": 72},
    ]  # fmt: skip
    path = tmp_path / "dst.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    tables = read_fhir(path).batch.tables
    assert tables["sessions"][["started_at", "duration_min"]].values.tolist() == [
        ["2026-03-08T01:40:00", "40"]
    ]
    assert tables["vitals"][["minutes_from_dose", "heart_rate"]].values.tolist() == [["20", "72"]]
