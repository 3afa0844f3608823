"""Time to first response on the Trajectories page and the Case explorer (hand clinic).

tests/clinic.py, first doses day 7 09:00: PHQ-9 P1 18 → 12 (day 14) → 8 (day 46: first
response, 39 days, after dose 4); P2 10 → 4 (day 30: 23 days, after dose 3 of days 7, 10,
14). KM days: S(23) = 1/2 → median 23; S(39) = 0. 95% CI: lower limit where the lower
band first reaches 0.5 (day 23), upper where the upper band does (S = 0 at day 39).
Dose numbers: S(3) = 1/2 → median 3, CI 3–4. PCL-5: P2 50 → 41 never responds (−9 < 10).
"""

from __future__ import annotations

import base64
import json
from datetime import date

import numpy as np
import pytest

from tests.clinic import ANCHOR


@pytest.fixture
def clinic_anchor() -> date:
    return ANCHOR


@pytest.fixture(params=["sqlite", "postgresql"])
def run_either(request):
    """The section's main test on both backends."""
    return request.getfixturevalue(
        "run_page" if request.param == "sqlite" else "run_page_on_postgresql"
    )


def _values(array) -> list:
    """A trace's data array, decoding plotly's typed-array form ({dtype, bdata})."""
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def _figures(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def _km_figure(at, instrument: str) -> dict:
    titles = [f for f in _figures(at) if "time to first response" in json.dumps(f["layout"])]
    (fig,) = [f for f in titles if instrument in f["layout"]["title"]["text"]]
    return fig


def test_trajectories_time_to_response_section(run_either):
    at = run_either("pages/trajectories.py")
    text = "\n".join(m.value for m in at.markdown)
    assert (
        "Half of the courses responded by day **23** (95% CI 23–39) and by dosing session "
        "**3** (95% CI 3–4); 2 of 2 courses responded." in text
    )
    fig = _km_figure(at, "PHQ-9")
    curves = [t for t in fig["data"] if t.get("mode") == "lines"]
    overall = curves[0]
    assert overall["name"] == "All courses (n=2; median 23 days)"
    assert _values(overall["x"]) == [0.0, 23.0, 39.0]
    assert _values(overall["y"]) == [0.0, 50.0, 100.0]
    # Grouped by route (default): IV (P1) and IM (P2), one course each.
    assert sorted(t["name"].split(" (")[0] for t in curves[1:]) == ["IM", "IV"]
    at_risk = [t for t in fig["data"] if t.get("mode") == "text"]
    overall_risk = at_risk[0]
    assert overall_risk["y"][0] == "All courses"
    # Ticks every 7 days from 0; both at risk until day 23, one until 39.
    assert overall_risk["text"][:5] == ["2", "2", "2", "2", "1"]
    (frame,) = [d for d in at.dataframe if "days_ci" in d.value.columns]
    table = frame.value
    # Counts with thousands separated (the 20,000-patient demo read "2277").
    config = json.loads(frame.proto.columns)
    assert config["courses"]["type_config"]["format"] == "localized"
    assert config["responders"]["type_config"]["format"] == "localized"
    row = table[table["group"] == "All courses"].iloc[0]
    assert (row["courses"], row["responders"], row["median_days"], row["days_ci"]) == (
        2,
        2,
        "23",
        "23–39",
    )


def test_points_rule_never_reached(run_page):
    at = run_page("pages/trajectories.py", traj_instrument="PCL-5")
    text = "\n".join(m.value for m in at.markdown)
    assert "Fewer than half of 1 courses have responded by their last score" in text


def test_doses_scale(run_page):
    at = run_page("pages/trajectories.py", state={"ttr_scale_PHQ-9": "Dosing sessions"})
    fig = _km_figure(at, "PHQ-9")
    overall = [t for t in fig["data"] if t.get("mode") == "lines"][0]
    assert _values(overall["x"]) == [0.0, 3.0, 4.0]
    assert "Dosing sessions completed" in json.dumps(fig["layout"])


def test_case_explorer_first_response_line(run_page):
    at = run_page("pages/case_explorer.py", patient="P1")
    text = "\n".join(m.value for m in at.markdown)
    assert (
        "**First response:** PHQ-9 responded at day 39, after dose 4; "
        "GAD-7 responded at day 39, after dose 4" in text
    )
    at = run_page("pages/case_explorer.py", patient="P2")
    text = "\n".join(m.value for m in at.markdown)
    assert "PHQ-9 responded at day 23, after dose 3" in text
    assert "PCL-5 no response yet (last score day 23, after dose 3)" in text


def test_trajectories_show_one_time_to_response_figure(run_page):
    """One time-to-response figure per instrument: the Kaplan–Meier median with its n and
    rule. The older "median among responders" line (31 days here: P1 39, P2 23, which leaves
    out the courses still waiting) is gone."""
    at = run_page("pages/trajectories.py")
    text = "\n".join(c.value for c in at.caption) + "\n".join(m.value for m in at.markdown)
    assert "First response (any post-dose score" not in text
    assert "median 31 days" not in text
    assert text.count("Half of the courses responded by day") == 1  # PHQ-9 only responds
    assert "2 of 2 courses responded" in text
    assert "Kaplan–Meier estimate from the first dose" in text
    assert "response rule (≥50% reduction)" in text
