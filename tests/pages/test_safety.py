"""Safety page on the hand-written clinic (tests/clinic.py), clock pinned to 2026-01-25.

Hand-counted from the clinic's docstring: 9 completed dosing sessions (P1 4, P2 3, P4 2;
P2's cancelled one excluded) of 3 patients; events (one term on one session): P1-D1
dissociation + nausea, P1-D2 dissociation, P2-D1 nausea → 4, i.e. 44.4 per 100 sessions.
P1 dose 1 (day 7 = 2026-01-12) has the 182 mmHg excursion (rise 52) and the severe
dissociation, inside the 14 days before the clock; P2's latest PHQ-9 has item 9 = 1.
"""

from __future__ import annotations

import base64
import json
from datetime import date, datetime

import numpy as np
import pytest

from kapviz.charts.safety import REFERENCE_NAME
from tests.clinic import ANCHOR

CLOCK = datetime(2026, 1, 25, 12, 0)


@pytest.fixture
def clinic_anchor() -> date:
    return ANCHOR


SHORT = {
    "Completed dosing sessions (all dates)": "Dosing sessions",
    "Patients dosed (all dates)": "Patients dosed",
    "Adverse events per 100 dosing sessions (all dates)": "Events per 100",
    "Dosing sessions with a BP excursion (all dates)": "BP excursions",
    "Serious adverse events (all dates)": "Serious events",
    "Patients needing attention (now)": "Need attention",
}
"""Labels with unit and window (issue 17) → the short names these tests use."""


def _tiles(at) -> dict[str, str]:
    return {SHORT.get(m.label, m.label): m.value for m in at.metric}


TABLE_COLUMN = {
    "safety_alerts": "is_new",
    "safety_rates_by": "Side effect",
    "safety_excursions": "is_excursion",
    "safety_cadss": "session_number",
}
"""A column only that table has (AppTest elements carry no key for dataframes)."""


def _frame(at, key: str):
    return next(d.value for d in at.dataframe if TABLE_COLUMN[key] in d.value.columns)


def _values(field) -> list:
    """A figure-dict array as a list: plotly 7 stores numpy data as {"dtype", "bdata"}."""
    if isinstance(field, dict) and "bdata" in field:
        return np.frombuffer(base64.b64decode(field["bdata"]), dtype=field["dtype"]).tolist()
    return list(field)


def _charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_tiles_hand_counted(run_page):
    """Headline tiles: 9 sessions, 3 patients, 44.4 events/100, 1 excursion, 2 to attend."""
    at = run_page("pages/safety.py", state={"clock": CLOCK})
    tiles = _tiles(at)
    assert tiles["Dosing sessions"] == "9"
    assert tiles["Patients dosed"] == "3"
    assert tiles["Events per 100"] == "44.4"
    assert tiles["BP excursions"] == "1"
    assert tiles["Serious events"] == "0"
    assert tiles["Need attention"] == "2"
    assert tiles["Sessions with a large rise"] == "1"  # P1 dose 1: 130 → 182
    assert tiles["Sessions needing pre-dose review"] == "1"  # P2 dose 1: 150/92
    assert tiles["Sedation flags (MOAA/S)"] == "1"  # P2 MOAA/S 3, P1 4
    assert tiles["Loss of consciousness"] == "0"
    assert tiles["Esketamine: short monitoring"] == "0"
    assert "Of 2 MOAA/S scores" in "\n".join(c.value for c in at.caption)


def test_alerts_worklist_rows_and_links(run_page):
    """P2 item 9 first, then P1's excursion and severe dissociation, each with a case link."""
    at = run_page("pages/safety.py", state={"clock": CLOCK})
    alerts = _frame(at, "safety_alerts")
    rows = list(zip(alerts["patient_id"], alerts["reason"], alerts["detail"], strict=True))
    assert rows == [
        (
            "P2",
            "PHQ-9 item 9 > 0 (latest PHQ-9 with item answers)",
            "item 9 = 1, total 4 on 2026-02-04",
        ),
        ("P1", "BP excursion", "highest 182/95 mmHg"),
        ("P1", "Severe side effect", "dissociation"),
    ]
    assert alerts["link"].tolist()[0] == "/case_explorer?patient=P2&course=P2-C1"
    assert str(alerts["date"].iloc[1].date()) == "2026-01-12"


def test_alerts_respect_the_lookback(run_page):
    """A month later only the item-9 alert is left (excursion and severe effect are old)."""
    at = run_page("pages/safety.py", state={"clock": datetime(2026, 2, 25, 12, 0)})
    assert _frame(at, "safety_alerts")["patient_id"].tolist() == ["P2"]
    assert _tiles(at)["Need attention"] == "1"


def test_frequency_chart_with_label_markers(run_page):
    """Patient rates: nausea 2/3, dissociation 1/3; label markers 28% and 41%."""
    at = run_page("pages/safety.py", state={"clock": CLOCK})
    freq = _charts(at)[0]
    bars, ref = freq["data"][0], freq["data"][1]
    assert bars["y"] == ["dissociation", "nausea"]
    assert _values(bars["x"]) == pytest.approx([100 / 3, 200 / 3])
    assert ref["name"] == REFERENCE_NAME
    assert dict(zip(ref["y"], ref["x"], strict=True)) == {"dissociation": 41, "nausea": 28}


def test_session_rates_drop_markers(run_page):
    """Session rates: both effects on 2 of 9 sessions; no trial markers against sessions."""
    at = run_page("pages/safety.py", state={"clock": CLOCK, "safety_rate_kind": "Sessions"})
    freq = _charts(at)[0]
    assert len(freq["data"]) == 1
    assert _values(freq["data"][0]["x"]) == pytest.approx([200 / 9, 200 / 9])


def test_rates_by_route_and_excursion_table(run_page):
    """By route: IV dissociation 2/4, nausea 1/4; IM nausea 1/3. Two flagged BP sessions."""
    at = run_page("pages/safety.py", state={"clock": CLOCK})
    by_route = _frame(at, "safety_rates_by").set_index("Side effect")
    assert by_route.loc["dissociation", "IV (n=4)"] == pytest.approx(50.0)
    assert by_route.loc["nausea", "IV (n=4)"] == pytest.approx(25.0)
    assert by_route.loc["nausea", "IM (n=3)"] == pytest.approx(100 / 3)
    assert by_route.loc["nausea", "Sublingual (n=2)"] == 0.0
    flagged = _frame(at, "safety_excursions")
    assert flagged["patient_id"].tolist() == ["P1", "P2"]
    assert flagged["is_excursion"].tolist() == [True, False]
    assert flagged["needs_predose_review"].tolist() == [False, True]


def test_u_chart_and_cadss(run_page):
    """January 4 events in 7 sessions (57.1 per 100), February 0 in 2; CADSS dose 1: 20."""
    at = run_page("pages/safety.py", state={"clock": CLOCK})
    u = next(c for c in _charts(at) if "u-chart" in c["layout"]["title"]["text"])
    points = next(t for t in u["data"] if t.get("mode") == "lines+markers")
    assert _values(points["y"]) == pytest.approx([400 / 7, 0.0])
    cadss = _frame(at, "safety_cadss")
    assert cadss[["session_number", "n", "mean"]].values.tolist() == [[1, 1, 20.0]]


def test_site_filter_leaves_no_dosing(run_page):
    """?site=South: only P4 (2 sublingual sessions, no effects): tiles, no side-effect chart."""
    at = run_page("pages/safety.py", state={"clock": CLOCK}, site="South")
    tiles = _tiles(at)
    assert tiles["Dosing sessions"] == "2"
    assert tiles["Events per 100"] == "0.0"
    assert any("No side effects recorded" in i.value for i in at.info)


def test_page_never_loads_raw_frames(run_page, monkeypatch):
    """Narrow reads only (kapviz.db.aggregates.safety): the whole-table loaders are not called."""
    from kapviz.db import queries

    def refuse(*args, **kwargs):
        raise AssertionError("the Safety page must not load a whole table")

    for name in ("sessions", "side_effects", "vitals", "assessments"):
        monkeypatch.setattr(queries, name, refuse)
    at = run_page("pages/safety.py", state={"clock": CLOCK})
    tiles = _tiles(at)
    assert (tiles["Dosing sessions"], tiles["BP excursions"], tiles["Need attention"]) == (
        "9",
        "1",
        "2",
    )


def test_postgresql_page_hand_counted(run_page_on_postgresql, monkeypatch):
    """PostgreSQL: the same tiles, worklist, route rates, flagged BP and u-chart."""
    from kapviz.ui import background

    started = []
    start = background.start
    monkeypatch.setattr(background, "start", lambda key, *a: started.append(key) or start(key, *a))
    at = run_page_on_postgresql("pages/safety.py", state={"clock": CLOCK})
    assert started and started[0][0] == "safety-alerts"
    tiles = _tiles(at)
    assert tiles["Dosing sessions"] == "9"
    assert tiles["Patients dosed"] == "3"
    assert tiles["Events per 100"] == "44.4"
    assert tiles["BP excursions"] == "1"
    assert tiles["Need attention"] == "2"
    assert tiles["Sessions with a large rise"] == "1"
    assert tiles["Sessions needing pre-dose review"] == "1"
    assert tiles["Sedation flags (MOAA/S)"] == "1"
    alerts = _frame(at, "safety_alerts")
    assert list(zip(alerts["patient_id"], alerts["reason"], strict=True)) == [
        ("P2", "PHQ-9 item 9 > 0 (latest PHQ-9 with item answers)"),
        ("P1", "BP excursion"),
        ("P1", "Severe side effect"),
    ]
    by_route = _frame(at, "safety_rates_by").set_index("Side effect")
    assert by_route.loc["dissociation", "IV (n=4)"] == pytest.approx(50.0)
    assert _frame(at, "safety_excursions")["patient_id"].tolist() == ["P1", "P2"]
    u = next(c for c in _charts(at) if "u-chart" in c["layout"]["title"]["text"])
    points = next(t for t in u["data"] if t.get("mode") == "lines+markers")
    assert _values(points["y"]) == pytest.approx([400 / 7, 0.0])
    assert _frame(at, "safety_cadss")[["session_number", "n", "mean"]].values.tolist() == [
        [1, 1, 20.0]
    ]
