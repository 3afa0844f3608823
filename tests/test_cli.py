"""The command line: summary --json keys and numbers, upgrade, help texts."""

import json
import subprocess
import sys

import pytest

from kapviz.cli import main
from kapviz.db.engine import make_engine
from tests.clinic import build_clinic


def test_summary_json_on_clinic(db_url, capsys):
    """summary --json reports the hand-counted clinic (completed sessions only)."""
    build_clinic(make_engine(db_url))
    assert main(["summary", "--db", db_url, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["patients"] == 5
    assert summary["courses"] == 4
    assert summary["sessions"] == {
        "intake": 4,
        "preparation": 1,
        "dosing": 9,
        "integration": 2,
        "follow_up": 1,
    }
    phq = summary["outcomes"]["PHQ-9"]
    # P1 18 → 8 and P2 10 → 4 are evaluable; P4 has no baseline within 30 days.
    assert (phq["evaluable"], phq["not_evaluable"]) == (2, 1)
    assert (phq["baseline_mean"], phq["endpoint_mean"], phq["mean_change"]) == (14.0, 6.0, -8.0)
    assert (phq["response_rate"], phq["remission_rate"]) == (1.0, 0.5)
    pcl = summary["outcomes"]["PCL-5"]
    assert (pcl["response_rate"], pcl["reliable_improvement_rate"]) == (0.0, 1.0)
    assert "MADRS" not in summary["outcomes"]
    # Side effects on the 9 completed dosing sessions of 3 dosed patients (P2's dizziness
    # on a cancelled session does not count); P1 dose 1's two dissociation records count
    # once, at severe.
    effects = summary["side_effects"]
    assert (effects["dosing_sessions"], effects["patients_dosed"]) == (9, 3)
    assert effects["effects"]["dissociation"] == {
        "sessions": 2,
        "session_rate": 2 / 9,
        "patients": 1,
        "patient_rate": 1 / 3,
        "severe_sessions": 1,
    }
    assert set(effects["effects"]) == {"dissociation", "nausea"}
    # 182 mmHg on P1 dose 1 (P2's 170/109 is not an excursion); P2 had item 9 = 1.
    assert summary["safety"] == {
        "bp_excursion_sessions": 1,
        "suicidality_flag_patients": 1,
        "serious_events": 0,
    }


def test_summary_text(db_url, capsys):
    """Without --json the summary is a short human-readable text."""
    build_clinic(make_engine(db_url))
    assert main(["summary", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "patients: 5" in out and "PHQ-9: 2 evaluable courses, response 100.0%" in out


def test_upgrade_creates_schema(db_url, capsys):
    """upgrade on an empty database reports the head revision; summary then shows zeros."""
    assert main(["upgrade", "--db", db_url]) == 0
    assert "schema at revision" in capsys.readouterr().out
    assert main(["summary", "--db", db_url, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["patients"] == 0 and summary["outcomes"] == {}


def test_rollup_rebuilds_the_overview_counts(db_url, capsys):
    """`rollup` after another program wrote the clinic: current counts, the hand funnel."""
    from kapviz.db import rollups
    from kapviz.filters import Filters

    engine = make_engine(db_url)
    build_clinic(engine)
    with engine.connect() as conn:
        assert not rollups.is_current(conn)
    assert main(["rollup", "--db", db_url]) == 0
    assert "rollups rebuilt" in capsys.readouterr().out
    with engine.connect() as conn:
        assert rollups.is_current(conn)
        assert rollups.funnel_counts(conn, Filters()) == [5, 4, 3, 3, 2]


@pytest.mark.parametrize("command", [[], ["demo"], ["upgrade"], ["summary"], ["rollup"]])
def test_help_everywhere(command):
    """`python -m kapviz [command] --help` works as a subprocess and exits 0."""
    out = subprocess.run(
        [sys.executable, "-m", "kapviz", *command, "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "usage:" in out.stdout
