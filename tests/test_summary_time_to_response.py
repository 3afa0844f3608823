"""summary --json "time_to_response" on the hand clinic (tests/clinic.py), both backends.

First doses are day 7 09:00 for P1 and P2 (P2's day-6 dose was cancelled).
- PHQ-9: P1 18 → 12 (day 14, −33%) → 8 (day 46, −56%: first response, 39 days);
  P2 10 → 4 (day 30, −60%: 23 days); P4 not evaluable. KM: at 23 days 2 at risk, 1
  responds → S = 0.5 ≤ 0.5: median 23.0.
- GAD-7: P1 12 → 6 on day 46 (−50%): responds at 39 days; median 39.0.
- PCL-5: P2 50 → 41 (−9 < 10 points): censored at 23 days; no median.
"""

import json

from kapviz.cli import main
from kapviz.db.engine import make_engine
from tests.clinic import build_clinic


def test_summary_time_to_response(db_url, capsys):
    build_clinic(make_engine(db_url))
    assert main(["summary", "--db", db_url, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["time_to_response"] == {
        "PHQ-9": {"courses": 2, "responders": 2, "median_days": 23.0},
        "GAD-7": {"courses": 1, "responders": 1, "median_days": 39.0},
        "PCL-5": {"courses": 1, "responders": 0, "median_days": None},
    }
    assert isinstance(summary["time_to_response"]["PHQ-9"]["median_days"], float)


def test_summary_time_to_response_empty(sqlite_url, capsys):
    """An empty database has no evaluable courses: an empty object, not an error."""
    assert main(["upgrade", "--db", sqlite_url]) == 0
    capsys.readouterr()
    assert main(["summary", "--db", sqlite_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["time_to_response"] == {}
