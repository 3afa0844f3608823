"""Program figures on the hand-written clinic: activity, volume, funnel, reasons."""

from datetime import datetime

import pandas as pd
import pytest

from kapviz.db import queries
from kapviz.db.engine import make_engine
from kapviz.metrics import program
from kapviz.metrics.outcomes import course_outcomes
from tests.clinic import ANCHOR, build_clinic
from tests.reference import program as reference


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('clinic')}/c.db"
    engine = make_engine(url)
    build_clinic(engine)
    with engine.connect() as conn:
        return queries.patients(conn), queries.sessions(conn)


def test_funnel_counts_and_losses(frames):
    """5 referred → 4 intakes → 3 eligible → 3 dosed → 2 completed (P1 and P2)."""
    patients, sessions = frames
    funnel = reference.treatment_funnel(patients, sessions)
    assert funnel["patients"].tolist() == [5, 4, 3, 3, 2]
    expected_lost = [None, 1 / 5, 1 / 4, 0.0, 1 / 3]
    for got, want in zip(funnel["lost"], expected_lost, strict=True):
        assert (pd.isna(got) and want is None) or got == pytest.approx(want)


def test_ineligibility_reasons(frames):
    """P3's reason is the only one."""
    _, sessions = frames
    assert reference.ineligibility_reasons(sessions) == {"uncontrolled hypertension": 1}


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Day 46 at 09:00 is P1's follow-up; P4's last dose is day 44.
        (datetime(2026, 2, 20, 9, 0), 2),
        # 30 days after P1's follow-up (day 76 09:00): that session is exactly 30 days old.
        (datetime(2026, 3, 22, 9, 0), 0),
        (datetime(2026, 3, 22, 8, 59), 1),
    ],
)
def test_active_patients_window(frames, now, expected):
    """Active = a completed session in the 30 days before now (strictly after now − 30 d)."""
    _, sessions = frames
    assert datetime(2026, 1, 5).date() == ANCHOR
    assert reference.active_patients(sessions, now=now) == expected


def test_dosing_volume(frames):
    """9 completed dosing sessions overall; the cancelled one is not counted."""
    _, sessions = frames
    total = reference.dosing_sessions_between(sessions, datetime(2025, 1, 1), datetime(2027, 1, 1))
    assert total == 9
    monthly = reference.monthly_dosing_by_route(sessions)
    assert monthly.groupby("route")["sessions"].sum().to_dict() == {
        "im": 3,
        "iv": 4,
        "sublingual": 2,
    }


def test_measurement_completion(frames):
    """6 of 9 completed dosing sessions have a PHQ-9 in the 7 days before (hand-checked).

    P1 doses 1–4 yes (day 7 08:00 before 09:00; day 14 at the same minute counts);
    P2 doses 1–2 yes (day 5), dose 3 no (9 days); P4 dose 1 no (40 days), dose 2 no
    (score at 11:00 after the 09:00 dose).
    """
    _, sessions = frames
    assessments = frames_assessments()
    assert reference.measurement_completion(
        sessions, assessments, start=datetime(2025, 1, 1), end=datetime(2027, 1, 1)
    ) == (6, 9)


def frames_assessments():
    from tests.clinic import clinic_rows

    rows = pd.DataFrame(clinic_rows()["assessments"])
    return rows.assign(
        id=range(1, len(rows) + 1), administered_at=pd.to_datetime(rows["administered_at"])
    )


@pytest.mark.parametrize(
    ("rate", "n", "lower", "upper"),
    [(0.5, 100, 0.397, 0.593), (0.1, 4, 0.0, 0.390), (0.9, 9, 0.597, 0.993)],
)
def test_funnel_plot_limits(rate, n, lower, upper):
    """Exact binomial limits, interpolated (DOMAIN §4c, not p ± 1.96·√(p(1−p)/n)).

    0.5 at n=100, upper: F(59) = 0.97156, F(60) = 0.98240 → r = 60,
    α = (0.98240 − 0.975) / (0.98240 − 0.97156) = 0.683 → (60 − 0.683)/100 = 0.593.
    0.1 at n=4, upper: F(1) = 0.9477, F(2) = 0.9963 → α = 0.0213/0.0486 = 0.438 → 0.390
    (the normal approximation gave 0.394); lower: r = 0 → below 0, clipped.
    0.9 at n=9: the normal approximation's 0.704–1.0 becomes 0.597–0.993.
    """
    limits = program.funnel_plot_limits(rate, [n]).iloc[0]
    assert limits["lower"] == pytest.approx(lower, abs=1e-3)
    assert limits["upper"] == pytest.approx(upper, abs=1e-3)


def test_funnel_limits_widen_with_coverage_and_stay_in_0_1():
    """99.8% limits lie outside the 95% ones; both stay in [0, 1] at every volume."""
    inner = program.funnel_plot_limits(0.3, list(range(1, 60)))
    outer = program.funnel_plot_limits(0.3, list(range(1, 60)), coverage=0.998)
    assert (outer["lower"] <= inner["lower"] + 1e-12).all()
    assert (outer["upper"] >= inner["upper"] - 1e-12).all()
    assert inner[["lower", "upper"]].stack().between(0, 1).all()


def _outcomes():
    """Five PHQ-9 courses and one GAD-7: endpoints in Jan and Feb 2026."""
    return pd.DataFrame(
        {
            "course_id": ["A", "B", "C", "D", "E", "F"],
            "instrument": ["PHQ-9"] * 5 + ["GAD-7"],
            "evaluable": [True, True, True, True, False, True],
            "endpoint_at": pd.to_datetime(
                ["2026-01-10", "2026-01-20", "2026-02-05", "2026-02-25", None, "2026-01-15"]
            ),
            # C had baseline 0: response undefined; D's baseline was already in remission.
            "is_response": pd.array([True, False, None, True, None, True], dtype="boolean"),
            "is_remission": [True, False, True, True, False, True],
            "baseline_in_remission": [False, False, False, True, False, False],
        }
    )


def test_outcome_window_denominators():
    """Jan–Feb: response 2/3 (C undefined), remission 2/3 (D already in remission)."""
    got = program.outcome_window(_outcomes(), start=datetime(2026, 1, 1), end=datetime(2026, 3, 1))
    assert got == {"responders": 2, "response_n": 3, "remitters": 2, "remission_n": 3}
    feb = program.outcome_window(_outcomes(), start=datetime(2026, 2, 1), end=datetime(2026, 3, 1))
    assert feb == {"responders": 1, "response_n": 1, "remitters": 1, "remission_n": 1}


def test_monthly_response_with_wilson():
    """January 1/2 (Wilson 0.095–0.905), February 1/1."""
    monthly = program.monthly_response(_outcomes())
    assert monthly["month"].dt.strftime("%Y-%m").tolist() == ["2026-01", "2026-02"]
    assert monthly["responders"].tolist() == [1, 1] and monthly["n"].tolist() == [2, 1]
    assert monthly["ci_low"].iloc[0] == pytest.approx(0.0945, abs=1e-4)
    assert monthly["ci_high"].iloc[0] == pytest.approx(0.9055, abs=1e-4)


def test_site_response():
    """Sites from the sessions frame; program rate 2/3 over both sites (C undefined)."""
    sessions = pd.DataFrame({"course_id": ["A", "B", "C", "D"], "site": ["N", "N", "S", "S"]})
    sites, overall = program.site_response(_outcomes(), sessions)
    assert overall == pytest.approx(2 / 3)
    assert sites[["site", "responders", "n"]].to_dict("records") == [
        {"site": "N", "responders": 1, "n": 2},
        {"site": "S", "responders": 1, "n": 1},
    ]


def test_director_kpis_on_clinic(frames):
    """Tiles at Saturday 2026-02-21 12:00, every value counted by hand from tests/clinic.py.

    Active: P1 (follow-up 02-20) and P4 (doses 02-14, 02-18); before: all four with courses.
    Week: P4 dose 2 (Wed) vs P4 dose 1 (Sat 09:00 of last week, within the same span).
    Month: P4's two doses vs 1–21 Jan 12:00: P1 doses 1–3 and P2 doses 1–3 (cancelled not).
    Response/remission (endpoints in last 90 days): P1 and P2 respond, P2 remits.
    Measurement: P4's two doses unmeasured (0/2); before: P1 4/4 + P2 2/3 = 6/7.
    """
    patients, sessions = frames
    outcomes = course_outcomes(sessions, frames_assessments())
    kpis = reference.director_kpis(
        sessions, frames_assessments(), outcomes, now=datetime(2026, 2, 21, 12, 0)
    )
    assert kpis["active_patients"] == {"value": 2, "previous": 4}
    assert kpis["dosing_week"] == {"value": 1, "previous": 1}
    assert kpis["dosing_month"] == {"value": 2, "previous": 6}
    assert kpis["response"] == {
        "value": 1.0,
        "previous": None,
        "numerator": 2,
        "denominator": 2,
        "previous_denominator": 0,
    }
    assert kpis["remission"] == {
        "value": 0.5,
        "previous": None,
        "numerator": 1,
        "denominator": 2,
        "previous_denominator": 0,
    }
    assert kpis["measurement_completion"] == {
        "value": 0.0,
        "previous": 6 / 7,
        "numerator": 0,
        "denominator": 2,
    }


def test_safety_kpis_on_clinic(tmp_path):
    """At 2026-02-21 12:00: no events on P4's two recent doses; 4 events on the 7 doses of
    the 30 days before (P1 dose 1 dissociation + nausea, dose 2 dissociation, P2 dose 1
    nausea) = 57.1 per 100. Open alerts: P2 (item 9 = 1 on the latest PHQ-9); 30 days
    earlier only P1 (BP excursion and severe dissociation on 12 Jan) — P2's positive
    PHQ-9 had not happened yet.
    """
    from kapviz.config import Settings
    from kapviz.db import queries
    from tests.clinic import build_clinic

    engine = make_engine(f"sqlite:///{tmp_path}/c.db")
    build_clinic(engine)
    with engine.connect() as conn:
        kpis = reference.safety_kpis(
            queries.sessions(conn),
            queries.side_effects(conn),
            queries.vitals(conn),
            queries.assessments(conn, with_items=True),
            settings=Settings(),
            now=datetime(2026, 2, 21, 12, 0),
        )
    assert kpis["adverse_events"]["value"] == 0.0
    assert kpis["adverse_events"]["previous"] == pytest.approx(400 / 7)
    assert kpis["open_alerts"] == {"value": 1, "previous": 1, "inactive": 0}
