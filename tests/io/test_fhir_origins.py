"""FHIR problems name their file and line; skips count resources; a dry run writes nothing."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from kapviz.cli import main
from kapviz.io.fhir import read_fhir

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"


def obs(oid: str, code: str, value, *, encounter: str | None = None, minute: int = 0) -> dict:
    res = {
        "resourceType": "Observation", "id": oid, "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": f"2026-02-02T10:{minute:02d}:00Z",
        "valueInteger": value,
    }  # fmt: skip
    if encounter:
        res["encounter"] = {"reference": f"Encounter/{encounter}"}
    return res


PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980"}


def write_ndjson(path: Path, resources: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    return path


def test_ndjson_problem_names_file_line_resource_and_reason(tmp_path, sqlite_url, capsys):
    folder = tmp_path / "export"
    folder.mkdir()
    write_ndjson(folder / "Patient.ndjson", [PATIENT])
    write_ndjson(folder / "Observation.ndjson", [
        obs("ok", "44261-6", 12, minute=1), obs("bad", "44261-6", 300, minute=2),
        obs("text", "44261-6", "twelve", minute=3),
    ])  # fmt: skip
    assert main(["import", str(folder), "--db", sqlite_url]) == 2
    err = capsys.readouterr().err
    assert ("Observation.ndjson:2 total '300': expected a PHQ-9 total from 0 to 27 "
            "(Observation/bad)") in err  # fmt: skip
    assert ("Observation.ndjson:3: expected a readable Observation: value 'twelve' is not a "
            "number (Observation/text)") in err  # fmt: skip
    report = tmp_path / "rejected.csv"
    args = ["import", str(folder), "--db", sqlite_url, "--skip-invalid", "--rejections",
            str(report)]  # fmt: skip
    assert main(args) == 0
    with report.open() as handle:
        rows = sorted((r["file"], r["id"]) for r in csv.DictReader(handle))
    assert rows == [("Observation.ndjson:2", "bad"), ("Observation.ndjson:3", "text")]


def test_skipped_vitals_are_counted_per_resource(tmp_path):
    """Three vital-sign Observations at one minute merge into one row: three are skipped."""
    encounter = {"resourceType": "Encounter", "id": "e1", "status": "finished",
                 "subject": {"reference": "Patient/p1"},
                 "type": [{"text": "wellness visit"}],
                 "period": {"start": "2026-02-02T10:00:00Z"}}  # fmt: skip
    path = write_ndjson(tmp_path / "x.ndjson", [
        PATIENT, encounter, obs("hr", "8867-4", 70, encounter="e1", minute=5),
        obs("sys", "8480-6", 120, encounter="e1", minute=5),
        obs("dia", "8462-4", 80, encounter="e1", minute=5),
    ])  # fmt: skip
    counts = read_fhir(path).skipped_counts()
    assert counts[("Observation", "its encounter was skipped")] == 3
    skipped = {s.id: str(s.origin) for s in read_fhir(path).skipped}
    assert skipped["dia"] == "x.ndjson line 5"


def test_dry_run_creates_no_database_file(tmp_path, capsys):
    target = tmp_path / "new" / "clinic.db"
    url = f"sqlite:///{target}"
    assert main(["import", str(FIXTURES / "clinic"), "--db", url, "--dry-run",
                 "--skip-invalid"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "dry run, nothing written" in out and "patients: 2 added" in out
    assert not target.exists() and not target.parent.exists()


def test_ndjson_is_streamed_line_by_line(tmp_path):
    """Resources come one line at a time (a broken line 3 is met only after two resources),
    and the converter keeps no Observation: it reads the file again for them."""
    from kapviz.io.fhir import _Converter
    from kapviz.io.fhir_elements import iter_resources

    path = tmp_path / "big.ndjson"
    path.write_text(json.dumps(PATIENT) + "\n" + json.dumps(obs("o", "44261-6", 3)) + "\n{oops\n")
    stream = iter_resources(path)
    assert next(stream)[0]["id"] == "p1" and next(stream)[0]["id"] == "o"
    with pytest.raises(ValueError, match="big.ndjson line 3: not readable FHIR JSON"):
        next(stream)
    path.write_text(json.dumps(PATIENT) + "\n" + json.dumps(obs("o", "44261-6", 3)) + "\n")
    passes = []

    def read():
        passes.append(1)
        return iter_resources(path)

    result = _Converter(default_site="X").run(read)
    assert len(passes) == 2  # all records once, then the Observations
    assert result.batch.tables["assessments"]["total"].tolist() == ["3"]
