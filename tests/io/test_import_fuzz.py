"""Fuzzing every importer (issue 16 item 8): no traceback, exit 0 or 2, nothing written on 2.

Each example writes a hostile input (FHIR JSON/NDJSON of random shape, deeply nested JSON,
template CSVs and workbooks of random text or bytes, REDCap exports and mappings of random
text) and imports it with the CLI into a database already holding a clinic.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kapviz.cli import main
from kapviz.io.redcap import SHIPPED_MAPPING
from tests.io.test_template import VALID, dump

TYPES = ["Patient", "Encounter", "Observation", "MedicationAdministration", "Procedure",
         "QuestionnaireResponse", "AdverseEvent", "Bundle", "Practitioner", ""]  # fmt: skip
KEYS = ["id", "status", "subject", "patient", "encounter", "context", "code", "coding",
        "system", "reference", "valueInteger", "valueQuantity", "valueString", "value",
        "effectiveDateTime", "effectivePeriod", "start", "end", "period", "type", "class",
        "serviceType", "dosage", "dose", "route", "component", "item", "answer", "linkId",
        "entry", "resource", "fullUrl", "gender", "birthDate", "event", "severity", "date",
        "medicationCodeableConcept", "performedPeriod", "authored", "extension", "url"]  # fmt: skip
SCALARS = (
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False)
    | st.sampled_from(["", "final", "finished", "completed", "44261-6", "8480-6", "6130",
                       "2026-03-08T02:30", "2026-13-45", "Patient/p1", "urn:uuid:x", "mg",
                       "twelve", "ketamine", "dosing", "1e400"])
    | st.text(max_size=8)
)  # fmt: skip
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),  # fmt: skip
    max_leaves=25,
)
RESOURCE = st.builds(lambda t, rest: {"resourceType": t, **rest}, st.sampled_from(TYPES),
                     st.dictionaries(st.sampled_from(KEYS), JSON, max_size=6))  # fmt: skip
DEEP = st.integers(1_000, 100_000).map(lambda n: "[" * n + "]" * n)


def import_into_clinic(make_input) -> None:
    """Import what `make_input(folder)` writes into a database holding the valid clinic."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/db.sqlite"
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["import", str(VALID), "--db", url]) == 0
        before = dump(url)
        args = make_input(Path(tmp))
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["import", *args, "--db", url])
        assert code in (0, 2), err.getvalue()
        assert "Traceback" not in err.getvalue() and "failed:" not in err.getvalue()
        if code == 2:
            assert err.getvalue().strip(), "exit 2 without saying why"
            assert dump(url) == before


FUZZ = settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(resources=st.lists(RESOURCE, max_size=6), bundle=st.booleans(), deep=st.booleans())
def test_fhir_json(resources, bundle, deep):
    def write(tmp: Path) -> list[str]:
        path = tmp / "in.json"
        data = {"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]}
        text = json.dumps(data if bundle else (resources[0] if resources else {}))
        path.write_text(text[:-1] + ', "extension": ' + "[" * 5000 + "]" * 5000 + "}"
                        if deep and text.endswith("}") else text)  # fmt: skip
        return [str(path)]

    import_into_clinic(write)


@FUZZ
@given(lines=st.lists(RESOURCE.map(json.dumps) | st.text(max_size=20) | DEEP, max_size=6))
def test_fhir_ndjson(lines):
    def write(tmp: Path) -> list[str]:
        path = tmp / "in.ndjson"
        path.write_text("\n".join(line.replace("\n", " ") for line in lines) + "\n")
        return [str(path)]

    import_into_clinic(write)


TEMPLATE_FILES = ["patients.csv", "sessions.csv", "assessments.csv", "side_effects.csv",
                  "vitals.csv"]  # fmt: skip
CELL = st.sampled_from(["", "P1", "S1", "x", "-1", "2026-03-08T02:30", "true", "dosing", "iv",
                        "1e9", "\"", ",", "PHQ-9", "\x00"]) | st.text(max_size=6)  # fmt: skip


@FUZZ
@given(
    name=st.sampled_from(TEMPLATE_FILES),
    header=st.lists(
        st.sampled_from(
            [
                "patient_id",
                "site",
                "session_id",
                "started_at",
                "phase",
                "route",
                "dose_mg",
                "total",
                "x",
            ]
        )
        | st.text(max_size=5),
        min_size=1,
        max_size=6,
    ),  # fmt: skip
    rows=st.lists(st.lists(CELL, max_size=7), max_size=5),
    raw=st.binary(max_size=64),
    binary=st.booleans(),
)
def test_template_csv(name, header, rows, raw, binary):
    def write(tmp: Path) -> list[str]:
        folder = tmp / "in"
        folder.mkdir()
        target = folder / name
        if binary:
            target.write_bytes(raw)
        else:
            target.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
        return [str(folder)]

    import_into_clinic(write)


@FUZZ
@given(raw=st.binary(max_size=200), zipped=st.booleans())
def test_template_xlsx(raw, zipped):
    def write(tmp: Path) -> list[str]:
        path = tmp / "in.xlsx"
        if zipped:  # a ZIP that is not a workbook
            import zipfile

            with zipfile.ZipFile(path, "w") as zf:
                zf.writestr("[Content_Types].xml", raw)
        else:
            path.write_bytes(raw)
        return [str(path)]

    import_into_clinic(write)


@FUZZ
@given(
    header=st.lists(
        st.sampled_from(
            ["record_id", "redcap_event_name", "visit_date", "phq9_total", "dose_mg", "site"]
        ),
        min_size=1,
        max_size=5,
    ),  # fmt: skip
    rows=st.lists(st.lists(CELL, max_size=6), max_size=4),
    mapping=st.sampled_from(["shipped", "junk", "deep"]),
    junk=st.text(max_size=40),
)
def test_redcap(header, rows, mapping, junk):
    def write(tmp: Path) -> list[str]:
        data = tmp / "export.csv"
        data.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
        toml = tmp / "map.toml"
        if mapping == "shipped":
            toml.write_text(SHIPPED_MAPPING.read_text())
        elif mapping == "junk":
            toml.write_text(junk)
        else:
            toml.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
        return [str(data), "--redcap-mapping", str(toml)]

    import_into_clinic(write)


@pytest.mark.parametrize("kind", ["json", "ndjson", "resource", "redcap-mapping", "fhir-mapping"])
def test_deeply_nested_input_is_a_clear_exit_2(kind, tmp_path, sqlite_url, capsys):
    """Nesting deeper than any parser's recursion limit: exit 2, a clear message, no write."""
    deep = "[" * 100_000 + "]" * 100_000
    path = tmp_path / ("in.ndjson" if kind == "ndjson" else "in.json")
    extra: list[str] = []
    if kind == "resource":
        path.write_text('{"resourceType": "Patient", "id": "p", "extension": ' + deep + "}")
    elif kind.endswith("mapping"):
        toml = tmp_path / "map.toml"
        toml.write_text("a = " + deep + "\n")
        if kind == "redcap-mapping":
            path = tmp_path / "export.csv"
            path.write_text("record_id\n1\n")
        else:
            path.write_text('{"resourceType": "Patient", "id": "p"}')
        extra = [f"--{kind}", str(toml)]
    else:
        path.write_text(deep + "\n")
    assert main(["import", str(path), "--db", sqlite_url, *extra]) == 2
    err = capsys.readouterr().err
    assert "nested too deeply" in err and "Traceback" not in err
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()
