"""REDCap import: the shipped KAP mapping on a hand-written export, and real REDCapR fixtures."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select, text

from kapviz.cli import main
from kapviz.db.engine import make_engine
from kapviz.db.models import Assessment, Dosing, Patient, Session, SideEffect, VitalSign
from kapviz.io.redcap import SHIPPED_MAPPING, MappingError, load_mapping, read_redcap

FIXTURES = Path(__file__).parent / "fixtures" / "redcap"
KAP = FIXTURES / "kap_project.csv"
LONGITUDINAL = Path(__file__).parents[2].parent / "shared" / "examples" / "redcap" / "longitudinal"


def rows(url: str, *columns) -> list[tuple]:
    """Selected columns of one table, ordered by those columns."""
    with make_engine(url).connect() as conn:
        return [tuple(r) for r in conn.execute(select(*columns).order_by(*columns))]


def import_kap(url: str, *extra: str) -> int:
    return main(["import", str(KAP), "--redcap-mapping", str(SHIPPED_MAPPING), "--db", url,
                 *extra])  # fmt: skip


def test_shipped_mapping_is_complete():
    """The shipped mapping names every part kapviz reads, and its codes map onto enumerations."""
    m = load_mapping()
    assert set(m) == {"record", "events", "session", "dosing", "assessments", "side_effects",
                      "vitals"}  # fmt: skip
    assert set(m["events"].values()) == {"intake", "preparation", "dosing", "integration",
                                         "follow_up"}  # fmt: skip
    assert [a["instrument"] for a in m["assessments"]] == ["PHQ-9", "GAD-7", "PCL-5"]
    assert len(m["side_effects"]["codes"]) == 16


def test_kap_export_tables():
    """The hand-written export becomes exactly these template rows (strings, line numbers)."""
    batch = read_redcap(KAP, SHIPPED_MAPPING)
    sessions = batch.tables["sessions"][["session_id", "phase", "status", "started_at", "route",
                                         "dose_mg", "eligible"]]  # fmt: skip
    expected = pd.DataFrame(
        [
            ["K001-screening_arm_1", "intake", "completed", "2026-02-02 09:00", "", "", "1"],
            ["K001-prep_1_arm_1", "preparation", "completed", "2026-02-05 10:00", "", "", ""],
            ["K001-dose_1_arm_1", "dosing", "completed", "2026-02-09 09:00", "iv", "35", ""],
            ["K001-integration_1_arm_1", "integration", "completed", "2026-02-10 10:00", "", "",
             ""],
            ["K001-dose_2_arm_1", "dosing", "cancelled", "2026-02-12 09:00", "iv", "35", ""],
            ["K001-followup_arm_1", "follow_up", "completed", "2026-03-10 10:00", "", "", ""],
            ["K002-screening_arm_1", "intake", "completed", "2026-02-03 09:00", "", "", "0"],
        ],
        columns=sessions.columns,
    )  # fmt: skip
    pd.testing.assert_frame_equal(sessions, expected, check_dtype=False)
    assert batch.source_rows["sessions"] == [2, 3, 4, 9, 10, 11, 12]
    assert batch.source_rows["side_effects"] == [5, 5, 6]
    assert batch.warnings == [
        "kap_project.csv: 1 rows of event 'adverse_event_log_arm_1' skipped (the mapping "
        "gives it no phase)"
    ]


def test_kap_export_imports(db_url, capsys):
    """The export with the shipped mapping lands in the database row for row."""
    assert import_kap(db_url) == 0
    assert rows(db_url, Patient.patient_id, Patient.site, Patient.sex, Patient.birth_year,
                Patient.indication, Patient.enrolled_on) == [
        ("K001", "North", "female", 1985, "TRD", date(2026, 2, 2)),
        ("K002", "South", "male", 1979, "MDD", date(2026, 2, 3)),
    ]  # fmt: skip
    assert rows(db_url, Session.session_id, Session.course_id, Session.phase, Session.status,
                Session.eligible, Session.ineligible_reason) == [
        ("K001-dose_1_arm_1", "K001-C1", "dosing", "completed", None, None),
        ("K001-dose_2_arm_1", "K001-C1", "dosing", "cancelled", None, None),
        ("K001-followup_arm_1", "K001-C1", "follow_up", "completed", None, None),
        ("K001-integration_1_arm_1", "K001-C1", "integration", "completed", None, None),
        ("K001-prep_1_arm_1", "K001-C1", "preparation", "completed", None, None),
        ("K001-screening_arm_1", "K001-C1", "intake", "completed", True, None),
        ("K002-screening_arm_1", "K002-C1", "intake", "completed", False,
         "uncontrolled hypertension"),
    ]  # fmt: skip
    assert rows(db_url, Dosing.session_id, Dosing.route, Dosing.drug, Dosing.dose_mg,
                Dosing.dose_mg_per_kg, Dosing.duration_min, Dosing.monitoring_min) == [
        ("K001-dose_1_arm_1", "iv", "ketamine", 35.0, 0.5, 40, 120),
        ("K001-dose_2_arm_1", "iv", "ketamine", 35.0, 0.5, None, None),
    ]  # fmt: skip
    a = Assessment
    assert rows(db_url, a.patient_id, a.instrument, a.administered_at, a.total, a.session_id,
                a.suicide_item) == [
        ("K001", "GAD-7", datetime(2026, 2, 2, 9), 12, "K001-screening_arm_1", None),
        ("K001", "GAD-7", datetime(2026, 3, 10, 10), 3, "K001-followup_arm_1", None),
        ("K001", "PCL-5", datetime(2026, 3, 10, 10), 20, "K001-followup_arm_1", None),
        ("K001", "PHQ-9", datetime(2026, 2, 2, 9), 17, "K001-screening_arm_1", 1),
        ("K001", "PHQ-9", datetime(2026, 2, 9, 9), 15, "K001-dose_1_arm_1", None),
        ("K001", "PHQ-9", datetime(2026, 3, 10, 10), 4, "K001-followup_arm_1", 0),
        ("K002", "PHQ-9", datetime(2026, 2, 3, 9), 22, "K002-screening_arm_1", None),
    ]  # fmt: skip
    e = SideEffect
    assert rows(db_url, e.session_id, e.seq, e.term, e.severity, e.serious, e.onset_min,
                e.resolved, e.action) == [
        ("K001-dose_1_arm_1", 1, "dissociation", "moderate", False, 10, True, "observation"),
        ("K001-dose_1_arm_1", 2, "sedation", "moderate", False, 10, True, "observation"),
        ("K001-dose_1_arm_1", 3, "hypertension", "severe", False, 40, True,
         "medication_given"),
    ]  # fmt: skip
    v = VitalSign
    assert rows(db_url, v.session_id, v.minutes_from_dose, v.systolic, v.diastolic,
                v.heart_rate, v.spo2) == [
        ("K001-dose_1_arm_1", -5, 130, 85, 70, 98),
        ("K001-dose_1_arm_1", 40, 165, 100, 88, 97),
    ]  # fmt: skip
    assert "adverse_event_log_arm_1" in capsys.readouterr().err


def test_reimport_changes_nothing(sqlite_url, capsys):
    """Importing the same export again adds and updates nothing."""
    assert import_kap(sqlite_url) == 0
    capsys.readouterr()
    assert import_kap(sqlite_url) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if " added" in line and "0 added, 0 updated"
            not in line] == []  # fmt: skip


@pytest.mark.parametrize(
    ("column", "line", "bad", "expected"),
    [
        ("dose_route", 4, "7", "(sessions):4 route '7': expected one of iv, im, sublingual, "
         "oral, intranasal"),
        ("phq9_total", 12, "29", "(assessments):12 total '29': expected a PHQ-9 total from 0 "
         "to 27"),
        ("se_severity", 5, "", "(side_effects):5 severity: expected a value (required)"),
    ],
)  # fmt: skip
def test_bad_codes_fail_with_the_csv_line(tmp_path, sqlite_url, capsys, column, line, bad,
                                          expected):  # fmt: skip
    """A bad value fails the import naming the export line; nothing is written."""
    frame = pd.read_csv(KAP, dtype=str, keep_default_na=False)
    frame.loc[line - 2, column] = bad
    path = tmp_path / "export.csv"
    frame.to_csv(path, index=False)
    args = ["import", str(path), "--redcap-mapping", str(SHIPPED_MAPPING), "--db", sqlite_url]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"export.csv {expected}" in err
    with make_engine(sqlite_url).connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM patients")).scalar() == 0


def test_skip_invalid_drops_only_the_bad_line(tmp_path, sqlite_url):
    """With --skip-invalid a bad PHQ-9 total on one line is rejected and the rest imported."""
    frame = pd.read_csv(KAP, dtype=str, keep_default_na=False)
    frame.loc[12 - 2, "phq9_total"] = "29"
    path = tmp_path / "export.csv"
    frame.to_csv(path, index=False)
    report = tmp_path / "rejected.csv"
    args = ["import", str(path), "--redcap-mapping", str(SHIPPED_MAPPING), "--db", sqlite_url,
            "--skip-invalid", "--rejections", str(report)]  # fmt: skip
    assert main(args) == 0
    assert len(rows(sqlite_url, Assessment.id)) == 6
    assert pd.read_csv(report, dtype=str).values.tolist() == [
        # id: the record's own key (REDCap record, instrument, time), not the line number
        ["12", "export.csv (assessments)", "assessments", "K002 PHQ-9 2026-02-03 09:00",
         "total '29': expected a PHQ-9 total from 0 to 27"]
    ]  # fmt: skip


def test_mapping_errors(tmp_path):
    """An unreadable mapping or a missing record id column is a clear error."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[record\n")
    with pytest.raises(MappingError, match="not a readable TOML mapping"):
        read_redcap(KAP, bad)
    other = tmp_path / "other.toml"
    other.write_text('[record]\nid_field = "study_id"\n')
    with pytest.raises(MappingError, match="no record id column 'study_id'"):
        read_redcap(KAP, other)


LONGITUDINAL_MAPPING = """
[record]
id_field = "study_id"
id_prefix = "LT-"
site = "REDCapR longitudinal"
sex_field = "sex"
sex_choices = { "0" = "female", "1" = "male" }
birth_year_field = "dob"
enrolled_on_field = "date_enrolled"

[events]
"enrollment_arm_*" = "intake"

[session]
date_field = "date_enrolled"

[side_effects]
checkbox = "meds"
severity_default = "mild"
codes = { "1" = "nausea", "2" = "somnolence" }
"""


@pytest.mark.skipif(not LONGITUDINAL.is_dir(), reason="shared REDCap examples not present")
def test_real_longitudinal_export(tmp_path, sqlite_url, capsys):
    """Real REDCapR data: events by glob, checkbox columns as records, names never stored."""
    mapping = tmp_path / "longitudinal.toml"
    mapping.write_text(LONGITUDINAL_MAPPING)
    batch = read_redcap(LONGITUDINAL / "data.csv", mapping)
    assert batch.tables["patients"][["patient_id", "sex", "birth_year"]].values.tolist() == [
        ["LT-100", "male", "1983"], ["LT-220", "female", "2011"], ["LT-304", "female", "2005"],
    ]  # fmt: skip
    assert batch.tables["sessions"][["session_id", "phase"]].values.tolist() == [
        ["LT-100-enrollment_arm_1", "intake"], ["LT-220-enrollment_arm_1", "intake"],
        ["LT-304-enrollment_arm_2", "intake"],
    ]  # fmt: skip
    # meds___1/meds___2 checked: 100 has 2 only; 220 and 304 have both.
    assert batch.tables["side_effects"][["session_id", "effect"]].values.tolist() == [
        ["LT-100-enrollment_arm_1", "somnolence"],
        ["LT-220-enrollment_arm_1", "nausea"], ["LT-220-enrollment_arm_1", "somnolence"],
        ["LT-304-enrollment_arm_2", "nausea"], ["LT-304-enrollment_arm_2", "somnolence"],
    ]  # fmt: skip
    assert "2 rows of event 'dose_1_arm_1' skipped" in " ".join(batch.warnings)
    args = ["import", str(LONGITUDINAL / "data.csv"), "--redcap-mapping", str(mapping),
            "--db", sqlite_url]  # fmt: skip
    assert main(args) == 0
    assert rows(sqlite_url, SideEffect.term)[0] == ("nausea",)
    assert len(rows(sqlite_url, SideEffect.id)) == 5
    with make_engine(sqlite_url).connect() as conn:
        dump = json.dumps(
            [list(conn.execute(text(f"SELECT * FROM {t}"))) for t in ("patients", "sessions")],
            default=str,
        )
    for secret in ("Zharko", "Lenox", "555-1212", "1983-09-23"):
        assert secret not in dump


def test_dry_run_writes_nothing(sqlite_url, capsys):
    """--dry-run reports what would be added and creates no database (issue 15)."""
    assert import_kap(sqlite_url, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "dry run, nothing written" in out
    assert "sessions: 7 added, 0 updated, 0 unchanged (would be)" in out
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()
