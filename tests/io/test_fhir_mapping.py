"""FHIR mapping file: an EHR's own encounter, medication and procedure codes → sessions.

The Synthea-shaped fixture (tests/io/fixtures/fhir/synthea: two patients' transaction
bundles with urn:uuid references, SNOMED encounter types, a local ketamine infusion
Procedure code and a local esketamine product code) yields no dosing without a mapping,
and sessions and courses with the shipped example mapping.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from kapviz.cli import main
from kapviz.db.engine import make_engine
from kapviz.io.fhir import read_fhir
from kapviz.io.fhir_mapping import FhirMappingError, load_fhir_mapping, parse_fhir_mapping

SYNTHEA = Path(__file__).parent / "fixtures" / "fhir" / "synthea"
MAPPING = Path(__file__).parents[2] / "kapviz" / "io" / "mappings" / "fhir_example.toml"
A, B = "e4a949f3-70ea-501d-afab-a776e00be584", "3f1db0e7-4b0a-5e86-af83-de7a7343d452"


def query(url: str, sql: str) -> list[tuple]:
    with make_engine(url).connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_without_a_mapping_no_session_can_be_told(sqlite_url, capsys):
    """All but the two esketamine visits are 'phase cannot be told'; those lack route and
    dose, so the import fails (exit 2) and the Procedures are unmapped."""
    counts = read_fhir(SYNTHEA).skipped_counts()
    assert counts[("Encounter", "phase cannot be told (no phase code in type or serviceType, "
                   "no ketamine administration)")] == 9  # fmt: skip
    assert counts[("Procedure", "code not mapped to a dose (FHIR mapping)")] == 2
    assert main(["import", str(SYNTHEA), "--db", sqlite_url]) == 2
    err = capsys.readouterr().err
    assert "Bruno_Kessler_B.json route: expected a value (required)" in err


def test_synthea_with_mapping_yields_sessions_and_courses(db_url, capsys, monkeypatch):
    monkeypatch.setenv("KAPVIZ_TIMEZONE", "America/Los_Angeles")
    args = ["import", str(SYNTHEA), "--db", db_url, "--fhir-mapping", str(MAPPING)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "skipped 2 Encounter: phase cannot be told" in out  # wellness, urgent care
    assert "skipped 1 Observation: code 2339-0 is not used by kapviz" in out
    sessions = query(
        db_url,
        "SELECT s.patient_id, s.phase, s.started_at, d.drug, d.route, "
        "d.dose_mg, d.duration_min FROM sessions s LEFT JOIN dosings d "
        "ON d.session_id = s.session_id ORDER BY s.patient_id, s.started_at",
    )
    phases = [(p, phase) for p, phase, *_ in sessions]
    assert phases == [
        (B, "intake"), (B, "dosing"), (B, "dosing"), (B, "follow_up"),
        (A, "intake"), (A, "preparation"), (A, "dosing"), (A, "dosing"), (A, "follow_up"),
    ]  # fmt: skip
    dosing = [(p, drug, route, dose, minutes) for p, phase, _, drug, route, dose, minutes
              in sessions if phase == "dosing"]  # fmt: skip
    assert dosing == [
        (B, "esketamine", "intranasal", 56.0, None), (B, "esketamine", "intranasal", 56.0, None),
        (A, "ketamine", "iv", 35.0, 40), (A, "ketamine", "iv", 35.0, 40),
    ]  # fmt: skip
    # Clinic-local times: 17:00-08:00 is 17:00 in Los Angeles.
    assert str(sessions[6][2]).startswith("2026-01-12 17:00")
    assert query(db_url, "SELECT patient_id, count(*) FROM courses GROUP BY patient_id "
                 "ORDER BY patient_id") == [(B, 1), (A, 1)]  # fmt: skip
    assert query(db_url, "SELECT patient_id, total FROM assessments ORDER BY patient_id, "
                 "administered_at") == [(B, 16), (B, 7), (A, 19), (A, 8)]  # fmt: skip
    assert main(["summary", "--db", db_url]) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"phases": {"X": "dosage"}}, r"\[phases\] 'X' = 'dosage': expected one of intake"),
        ({"doses": [{"codes": ["X"], "drug": "lsd"}]}, r"#1 drug = 'lsd': expected one of"),
        ({"doses": [{"codes": [], "drug": "ketamine"}]}, "codes must be a non-empty list"),
        ({"doses": [{"codes": ["X"], "dose_mg": -1}]}, "dose_mg = -1: expected a number"),
        ({"encounters": {}}, r"unknown section\(s\) encounters"),
    ],
)
def test_mapping_mistakes_are_named(data, message):
    with pytest.raises(FhirMappingError, match=message):
        parse_fhir_mapping(data, "m.toml")


def test_unreadable_mapping_is_exit_2(tmp_path, sqlite_url, capsys):
    bad = tmp_path / "m.toml"
    bad.write_text("[phases\n")
    assert main(["import", str(SYNTHEA), "--db", sqlite_url, "--fhir-mapping", str(bad)]) == 2
    assert "m.toml: not a readable TOML mapping" in capsys.readouterr().err
    assert load_fhir_mapping(MAPPING).phases["http://snomed.info/sct|390906007"] == "follow_up"
