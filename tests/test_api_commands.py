"""`python -m kapviz query ...`: the API's numbers, as JSON, CSV or suppressed."""

from __future__ import annotations

import csv
import io
import json
import math

import kapviz
from kapviz.cli import main
from kapviz.db.engine import make_engine
from tests.clinic import build_clinic


def _json(capsys, argv: list[str]) -> list[dict]:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_query_outcomes_json_equals_the_api(db_url, capsys):
    build_clinic(make_engine(db_url))
    rows = _json(capsys, ["query", "outcomes", "--instrument", "PHQ-9", "--by", "site",
                          "--db", db_url, "--json"])  # fmt: skip
    api = kapviz.connect(db_url).outcomes("PHQ-9", by="site")
    assert [r["site"] for r in rows] == ["North", "South"]
    assert list(rows[0]) == list(api.columns)
    for row, (_, expected) in zip(rows, api.iterrows(), strict=True):
        for key, value in row.items():
            want = expected[key]
            if isinstance(want, float) and math.isnan(want):
                assert value is None, key  # an empty denominator is null
            else:
                assert value == want, key
    assert rows[0]["response_rate"] == 1.0 and rows[0]["remitters"] == 1


def test_query_two_breakdowns_and_cohort_options(sqlite_url, capsys):
    build_clinic(make_engine(sqlite_url))
    argv = ["query", "outcomes", "--instrument", "PHQ-9", "--by", "site", "--by", "route"]
    rows = _json(capsys, [*argv, "--site", "North", "--db", sqlite_url, "--json"])
    assert [(r["site"], r["route"], r["evaluable"]) for r in rows] == [
        ("North", "IM", 1),
        ("North", "IV", 1),
    ]
    rows = _json(capsys, ["query", "time-to-response", "--instrument", "PHQ-9", "--route",
                          "IV", "--db", sqlite_url, "--json"])  # fmt: skip
    assert rows == [
        {"courses": 1, "responders": 1, "median_days": 39.0,
         "median_days_ci_low": 39.0, "median_days_ci_high": 39.0}
    ]  # fmt: skip


def test_query_side_effects_csv_and_suppression(sqlite_url, capsys):
    build_clinic(make_engine(sqlite_url))
    assert main(["query", "side-effects", "--by", "site", "--db", sqlite_url, "--csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["site"], r["term"], r["sessions"], r["dosing_sessions"]) for r in table] == [
        ("North", "dissociation", "2", "7"),
        ("North", "nausea", "2", "7"),
    ]
    rows = _json(capsys, ["query", "outcomes", "--instrument", "PHQ-9", "--db", sqlite_url,
                          "--json", "--suppress"])  # fmt: skip
    assert rows[0]["evaluable"] == "<11" and rows[0]["responders"] == "<11"
    assert rows[0]["response_rate"] is None  # a rate would give the hidden count away


def test_query_refuses_unknown_instrument_without_traceback(sqlite_url, capsys):
    build_clinic(make_engine(sqlite_url))
    assert main(["query", "outcomes", "--instrument", "XYZ", "--db", sqlite_url]) == 2
    err = capsys.readouterr().err
    assert "unknown instrument 'XYZ'" in err and "Traceback" not in err


def test_query_safety_and_completion_with_dose_options(sqlite_url, capsys):
    """The measures added for Explore, with the course options, equal the API's."""
    build_clinic(make_engine(sqlite_url))
    clinic = kapviz.connect(sqlite_url)
    course = ["--doses-min", "3", "--first-dose-to", "2026-01-12"]
    keywords = {"by": "site", "doses_min": 3, "first_dose_to": "2026-01-12"}
    cases = [
        ("adverse-events", clinic.adverse_events(**keywords)),
        ("bp-excursions", clinic.bp_excursions(**keywords)),
        ("sedation", clinic.sedation(**keywords)),
        ("measurement-completion", clinic.measurement_completion("PHQ-9", **keywords)),
    ]
    for command, expected in cases:
        rows = _json(capsys, ["query", command, "--by", "site", *course, "--db", sqlite_url,
                              "--json"])  # fmt: skip
        assert [r["site"] for r in rows] == ["North"]  # P1 (4 doses) and P2 (3)
        assert rows[0] == {k: v.item() if hasattr(v, "item") else v
                           for k, v in expected.iloc[0].to_dict().items()}  # fmt: skip
    rows = _json(capsys, ["query", "adverse-events", "--doses-max", "2", "--db", sqlite_url,
                          "--json"])  # fmt: skip
    assert (rows[0]["dosing_sessions"], rows[0]["events"]) == (2, 0)  # P4 only


def test_query_bad_first_dose_date_is_a_readable_error(sqlite_url, capsys):
    build_clinic(make_engine(sqlite_url))
    argv = ["query", "sedation", "--first-dose-from", "2026-14-01", "--db", sqlite_url]
    assert main(argv) == 2
    assert "'2026-14-01' is not a date (YYYY-MM-DD)" in capsys.readouterr().err
