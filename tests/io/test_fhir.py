"""FHIR R4 import: mapping of each resource, statuses, invalid records, privacy, real examples."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from kapviz.cli import main
from kapviz.db.engine import make_engine
from kapviz.db.migrate import upgrade
from kapviz.db.models import Assessment
from kapviz.io.fhir import SkippedRecord, read_fhir, validate_fhir

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
CLINIC = FIXTURES / "clinic"
EXAMPLES = Path(__file__).parents[2].parent / "shared" / "examples" / "fhir-us-core"
TABLES = ("patients", "courses", "sessions", "dosings", "assessments", "side_effects", "vitals",
          "sites", "clinicians")  # fmt: skip
SECRETS = ("Zelda", "Quartermain", "MRN-555123", "555-0100", "Elm Street", "Springfield",
           "Barnaby", "Oswin", "Holloway", "1980-05-02")  # fmt: skip
URN_SESSION = "0a6f7d3e-2c1b-4f55-9e61-3b9a1c7e2d10"


def dump(url: str) -> dict[str, list[tuple]]:
    """Every row of every clinic table, ordered."""
    engine = make_engine(url)
    upgrade(engine)
    with engine.connect() as conn:
        return {
            t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1"))]
            for t in TABLES
        }


def query(url: str, sql: str) -> list[tuple]:
    with make_engine(url).connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def phq9_totals(url: str) -> list[tuple]:
    a = Assessment
    stmt = (
        select(a.patient_id, a.administered_at, a.total, a.session_id)
        .where(a.instrument == "PHQ-9")
        .order_by(a.patient_id, a.administered_at)
    )
    with make_engine(url).connect() as conn:
        return [tuple(r) for r in conn.execute(stmt)]


VALID_PHQ9 = [
    ("p1", datetime(2026, 1, 5, 9, 30), 18, "e-intake"),
    ("p1", datetime(2026, 1, 11, 9, 0), 16, None),
    ("p1", datetime(2026, 1, 19, 9, 0), 9, None),
    ("p2", datetime(2026, 1, 19, 10, 0), 9, None),
]
"""valueInteger, valueQuantity, valueString (tied to a skipped encounter: untied), items+total;
not the preliminary 20, not the out-of-range 30, not the non-numeric 'twelve'."""


def test_tables_from_the_clinic_fixture():
    """Patients, sessions (each phase, status, course), dosing, effects and vitals as expected."""
    batch = read_fhir(CLINIC).batch
    patients = batch.tables["patients"][["patient_id", "site", "sex", "birth_year"]]
    pd.testing.assert_frame_equal(
        patients,
        pd.DataFrame({"patient_id": ["p1", "p2"], "site": ["North Clinic", "FHIR import"],
                      "sex": ["female", "male"], "birth_year": ["1980", "1975"]}),
        check_dtype=False,
    )  # fmt: skip
    cols = ["session_id", "patient_id", "course_id", "phase", "status", "route", "drug",
            "dose_mg", "weight_kg", "duration_min"]  # fmt: skip
    expected = pd.DataFrame(
        [
            ["e-intake", "p1", "course-A", "intake", "completed", "", "", "", "", ""],
            ["e-prep", "p1", "course-A", "preparation", "completed", "", "", "", "", ""],
            ["e-dose1", "p1", "course-A", "dosing", "completed", "iv", "ketamine", "35", "70",
             "40"],
            ["e-integ", "p1", "course-A", "integration", "completed", "", "", "", "", ""],
            ["e-fu", "p1", "course-A", "follow_up", "cancelled", "", "", "", "", ""],
            ["e-p2-dose1", "p2", "", "dosing", "completed", "im", "ketamine", "60", "", ""],
            [URN_SESSION, "p2", "", "dosing", "completed", "intranasal", "esketamine", "56", "",
             ""],
        ],
        columns=cols,
    )  # fmt: skip
    pd.testing.assert_frame_equal(batch.tables["sessions"][cols], expected, check_dtype=False)
    effects = batch.tables["side_effects"][["session_id", "effect", "severity", "serious",
                                            "onset_min"]]  # fmt: skip
    assert effects.values.tolist() == [["e-dose1", "Somnolence", "moderate", "false", "20"]]
    vitals = batch.tables["vitals"][["session_id", "minutes_from_dose", "systolic", "diastolic",
                                     "heart_rate", "spo2"]]  # fmt: skip
    assert vitals.values.tolist() == [
        ["e-dose1", "-5", "128", "82", "72", ""],  # BP panel and heart rate, 5 min before dose
        ["e-dose1", "40", "150", "95", "", "97"],  # single codes; SpO2 at +40.5 min → 40
    ]


def test_skipped_and_rejected_records_are_named():
    """Each record left out by rule is counted with its reason; non-numeric values rejected."""
    result = read_fhir(CLINIC)
    assert sorted((s.resource_type, s.id, s.reason) for s in result.skipped) == sorted([
        ("Encounter", "e-p2-planned", "status planned is not imported"),
        ("Encounter", "e-p2-error", "status entered-in-error is not imported"),
        ("Encounter", "e-consult", "phase cannot be told (no phase code in type or serviceType, "
         "no ketamine administration)"),
        ("Observation", "phq-p2-prelim", "status preliminary does not count"),
        ("Observation", "gad-p1-panel", "GAD-7 panel code 69737-5 carries no item or total "
         "(the total is 70274-6)"),
        ("Practitioner", "dr-1", "resource type not used by kapviz"),
    ])  # fmt: skip
    assert [(r.resource_type, r.id, r.reason) for r in result.rejected] == [
        ("Observation", "phq-p2-text", "value 'twelve' is not a number")
    ]


def test_default_import_fails_and_writes_nothing(db_url, capsys):
    """Without --skip-invalid the out-of-range 30 and the text value fail the whole import."""
    before = dump(db_url)
    assert main(["import", str(CLINIC), "--db", db_url]) == 2
    err = capsys.readouterr().err
    assert "2 problems found; nothing was written" in err
    # Each problem names the file, (the bundle entry or NDJSON line,) resource type and id.
    assert ("2_searchset.json: expected a readable Observation: value 'twelve' is not a number "
            "(Observation/phq-p2-text, entry 6)") in err  # fmt: skip
    assert ("2_searchset.json total '30': expected a PHQ-9 total from 0 to 27 "
            "(Observation/phq-p2-30, entry 5)") in err  # fmt: skip
    assert dump(db_url) == before


def test_skip_invalid_imports_exactly_the_valid_final_phq9(db_url, tmp_path, capsys):
    """--skip-invalid writes the valid records, exactly these PHQ-9 totals, and a report."""
    report = tmp_path / "rejected.csv"
    args = ["import", str(CLINIC), "--db", db_url, "--skip-invalid", "--rejections", str(report)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "skipped 1 Observation: status preliminary does not count" in out
    assert "rejected 2 invalid records" in out
    assert phq9_totals(db_url) == VALID_PHQ9
    with report.open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows == [
        {"record": "20", "file": "2_searchset.json", "resource_type": "Observation",
         "id": "phq-p2-text", "reason": "value 'twelve' is not a number"},
        {"record": "19", "file": "2_searchset.json", "resource_type": "Observation",
         "id": "phq-p2-30",
         "reason": "total '30': expected a PHQ-9 total from 0 to 27"},
    ]  # fmt: skip
    assert query(db_url, "SELECT instrument, total FROM assessments WHERE instrument <> 'PHQ-9'"
                 ) == [("GAD-7", 12)]  # fmt: skip
    assert query(db_url, "SELECT items, suicide_item FROM assessments WHERE items IS NOT NULL"
                 ) == [("[1, 1, 2, 1, 0, 1, 2, 0, 1]", 1)]  # fmt: skip
    assert query(db_url, "SELECT session_id, route, drug, dose_mg, weight_kg, dose_mg_per_kg, "
                 "duration_min FROM dosings ORDER BY session_id") == [
        (URN_SESSION, "intranasal", "esketamine", 56.0, None, None, None),
        ("e-dose1", "iv", "ketamine", 35.0, 70.0, 0.5, 40),
        ("e-p2-dose1", "im", "ketamine", 60.0, None, None, None),
    ]  # fmt: skip
    assert query(db_url, "SELECT session_id, seq, term, verbatim, severity, serious, onset_min "
                 "FROM side_effects") == [
        ("e-dose1", 1, "sedation", "Somnolence", "moderate", False, 20)
    ]  # fmt: skip
    assert query(db_url, "SELECT course_id, patient_id FROM courses ORDER BY 1") == [
        ("course-A", "p1"), ("p2-C1", "p2")]  # fmt: skip
    assert len(query(db_url, "SELECT * FROM vitals")) == 2


def test_reimport_changes_nothing(sqlite_url, capsys):
    """A second import of the same FHIR folder adds and updates nothing."""
    args = ["import", str(CLINIC), "--db", sqlite_url, "--skip-invalid"]
    assert main(args) == 0
    first = dump(sqlite_url)
    capsys.readouterr()
    assert main(args) == 0
    out = capsys.readouterr().out
    assert " added" in out and "1 added" not in out and "updated, " in out
    assert all(", 0 updated" in line or "0 added, 0 updated" in line
               for line in out.splitlines() if "added" in line)  # fmt: skip
    assert dump(sqlite_url) == first


def test_no_name_or_identifier_is_stored(db_url):
    """Names, identifiers, telecom, address and full birth dates never reach the database."""
    assert main(["import", str(CLINIC), "--db", db_url, "--skip-invalid"]) == 0
    text_dump = json.dumps(dump(db_url), default=str)
    for secret in SECRETS:
        assert secret not in text_dump


def test_single_resource_and_ndjson(tmp_path):
    """A single resource file and an NDJSON file are read like a bundle's entries."""
    patient = {"resourceType": "Patient", "id": "solo", "gender": "other", "birthDate": "1990"}
    (tmp_path / "p.json").write_text(json.dumps(patient))
    assert read_fhir(tmp_path / "p.json").batch.tables["patients"]["sex"].tolist() == ["other"]
    ndjson = tmp_path / "export.ndjson"
    ndjson.write_text("\n".join(json.dumps(dict(patient, id=f"n{i}")) for i in range(3)) + "\n")
    assert read_fhir(ndjson).batch.tables["patients"]["patient_id"].tolist() == ["n0", "n1", "n2"]


def test_bad_json_is_a_clear_error(tmp_path, capsys, sqlite_url):
    """Unreadable JSON stops the import with the file named, exit 2."""
    (tmp_path / "broken.json").write_text("{not json")
    assert main(["import", str(tmp_path / "broken.json"), "--db", sqlite_url]) == 2
    assert "broken.json: not readable FHIR JSON" in capsys.readouterr().err


def test_skipped_record_type():
    """SkippedRecord names the resource by type and id."""
    assert SkippedRecord("Encounter", "e1", "why").resource_type == "Encounter"


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="shared US Core examples not present")
def test_us_core_examples(db_url, tmp_path, capsys):
    """The US Core PHQ-9 panel, items, total and QuestionnaireResponse give one total of 12."""
    folder = tmp_path / "us-core"
    folder.mkdir()
    for path in EXAMPLES.glob("*.json"):
        (folder / path.name).write_text(path.read_text())
    # The examples carry no Patient; add the US Core example patient (with its name).
    (folder / "Patient-example.json").write_text(json.dumps({
        "resourceType": "Patient", "id": "example", "gender": "female",
        "birthDate": "1987-02-20", "name": [{"family": "Shaw", "given": ["Amy", "V."]}],
        "identifier": [{"system": "http://hospital.smarthealthit.org", "value": "1032702"}],
        "telecom": [{"system": "phone", "value": "555-555-5555"}],
    }))  # fmt: skip
    result = read_fhir(folder)
    table = result.batch.tables["assessments"]
    assert table[["patient_id", "instrument", "total"]].values.tolist() == [
        ["example", "PHQ-9", "12"]
    ]
    assert table.loc[0, [f"item_{i}" for i in range(1, 10)]].tolist() == [
        "2", "2", "2", "2", "1", "1", "2", "0", "0"
    ]  # fmt: skip
    assert main(["import", str(folder), "--db", db_url]) == 0
    rows = query(db_url, "SELECT patient_id, instrument, total, suicide_item FROM assessments")
    assert rows == [("example", "PHQ-9", 12, 0)]
    text_dump = json.dumps(dump(db_url), default=str)
    for secret in ("Shaw", "Amy", "1032702", "555-555-5555", "1987-02-20"):
        assert secret not in text_dump


def test_device_administrations_add_up(tmp_path):
    """Two 28 mg esketamine devices make one 56 mg dose; the first start is the dose time."""
    enc = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "subject": {"reference": "Patient/p"},
        "period": {"start": "2026-03-02T09:00:00"},
    }

    def device(i, start, end):
        return {
            "resourceType": "MedicationAdministration",
            "id": f"d{i}",
            "status": "completed",
            "medicationCodeableConcept": {"text": "SPRAVATO (esketamine) 28 mg"},
            "context": {"reference": "Encounter/e1"},
            "effectivePeriod": {"start": start, "end": end},
            "dosage": {"route": {"text": "nasal"}, "dose": {"value": 28, "code": "mg"}},
        }

    hr = {
        "resourceType": "Observation",
        "id": "hr",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "encounter": {"reference": "Encounter/e1"},
        "effectiveDateTime": "2026-03-02T10:05:00",
        "valueInteger": 80,
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": r}
            for r in (
                enc,
                device(2, "2026-03-02T09:10:00", "2026-03-02T09:11:00"),
                device(1, "2026-03-02T09:05:00", "2026-03-02T09:06:00"),
                hr,
            )
        ],
    }
    (tmp_path / "b.json").write_text(json.dumps(bundle))
    batch = read_fhir(tmp_path / "b.json").batch
    session = batch.tables["sessions"].iloc[0]
    assert (
        session["phase"],
        session["drug"],
        session["route"],
        session["dose_mg"],
        session["duration_min"],
    ) == ("dosing", "esketamine", "intranasal", "56", "6")
    assert batch.tables["vitals"][
        ["session_id", "minutes_from_dose", "heart_rate"]
    ].values.tolist() == [["e1", "60", "80"]]


def _leaves(node, path=()):
    """Every (path, value) leaf of a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaves(value, (*path, i))
    else:
        yield path, node


JUNK = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(),
                 st.text(max_size=8), st.lists(st.integers(), max_size=2),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))  # fmt: skip


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(data=st.data())
def test_corrupted_bundles_never_crash(tmp_path, data):
    """Any leaf of a fixture replaced by junk: read and validation report, never crash."""
    name = data.draw(st.sampled_from(["1_collection.json", "2_searchset.json",
                                      "3_transaction.json"]))  # fmt: skip
    doc = json.loads((CLINIC / name).read_text())
    leaves = list(_leaves(doc))
    for _ in range(data.draw(st.integers(1, 3))):
        path, _old = data.draw(st.sampled_from(leaves))
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = data.draw(JUNK)
    target = tmp_path / "corrupt.json"
    target.write_text(json.dumps(doc))
    try:
        result = read_fhir(target)
    except ValueError:
        return
    validated, _ = validate_fhir(result)
    validated_skip, _ = validate_fhir(result, skip_invalid=True)
    assert validated_skip.problems == [] or all(p.row is None for p in validated_skip.problems)
    assert isinstance(validated.problems, list)
