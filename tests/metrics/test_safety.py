"""Safety metrics: sedation, CADSS, monitoring, u-chart, alerts and the summary, by hand."""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from kapviz.config import Settings
from kapviz.metrics.alerts import (
    REASON_COGNITIVE,
    REASON_EXCURSION,
    REASON_SERIOUS,
    REASON_SEVERE,
    REASON_SUICIDALITY,
    REASON_URINARY,
    alerts,
    split_inactive,
    suicidality_flag_patients,
    thresholds_in_force,
)
from kapviz.metrics.monitoring import (
    adverse_event_rate,
    cadss_by_session_number,
    monitoring_flags,
    sedation_flags,
    u_chart,
)
from kapviz.metrics.safety import safety_summary
from tests.metrics.safety_data import (
    EFFECTS,
    SESSIONS,
    N,
    effects_frame,
    scores_frame,
    sessions_frame,
    vitals_frame,
)

DEFAULTS = Settings()
T = pd.Timestamp


@pytest.mark.parametrize(
    ("moaas", "threshold", "sedation", "unconscious"),
    [(5, 3, False, False), (4, 3, False, False), (3, 3, True, False), (0, 3, True, True),
     (3, 2, False, False), (2, 2, True, False)],
)  # fmt: skip
def test_sedation_flags(moaas, threshold, sedation, unconscious):
    """MOAA/S ≤ threshold (default 3) is sedation; 0 is loss of consciousness."""
    scores = scores_frame([(1, "A", "A-C1", "A-D1", "MOAAS", "2026-03-02 10:00", moaas, N)])
    got = sedation_flags(scores, settings=Settings(sedation_moaas_max=threshold))
    assert got[["moaas", "is_sedation", "is_loss_of_consciousness"]].iloc[0].tolist() == [
        moaas,
        sedation,
        unconscious,
    ]


def test_cadss_by_session_number():
    """Dose 1: 20 and 30 → mean 25 ± 9.80; dose 2: one score; cancelled and untied dropped."""
    scores = scores_frame(
        [
            (1, "A", "A-C1", "A-D1", "CADSS", "2026-03-02 10:00", 20, N),
            (2, "B", "B-C1", "B-D1", "CADSS", "2026-03-04 10:00", 30, N),
            (3, "A", "A-C1", "A-D2", "CADSS", "2026-03-05 10:00", 10, N),
            (4, "A", "A-C1", "A-X", "CADSS", "2026-03-03 10:00", 50, N),
            (5, "A", "A-C1", None, "CADSS", "2026-03-03 10:00", 60, N),
            (6, "A", "A-C1", "A-D1", "PHQ-9", "2026-03-02 10:00", 15, N),
        ]
    )
    got = cadss_by_session_number(SESSIONS, scores)
    assert got["session_number"].tolist() == [1, 2]
    assert got["n"].tolist() == [2, 1]
    assert got["mean"].tolist() == [25.0, 10.0]
    assert got["median"].tolist() == [25.0, 10.0]
    half = 1.959963984540054 * math.sqrt(50) / math.sqrt(2)
    assert got.loc[0, "ci_low"] == pytest.approx(25 - half)
    assert got.loc[0, "ci_high"] == pytest.approx(25 + half)
    assert math.isnan(got.loc[1, "ci_low"])


def test_monitoring_flags():
    """Esketamine observation 119 min is short, 120 is not, missing is unrecorded."""
    rows = [
        (sid, "E", "E-C1", "North", f"2026-03-0{i} 09:00", "dosing", status,
         "intranasal", drug, 56.0, None, minutes)
        for i, (sid, status, drug, minutes) in enumerate(
            [("E1", "completed", "esketamine", 119), ("E2", "completed", "esketamine", 120),
             ("E3", "completed", "esketamine", None), ("E4", "cancelled", "esketamine", 30),
             ("E5", "completed", "ketamine", 30)],
            start=1,
        )
    ]  # fmt: skip
    got = monitoring_flags(sessions_frame(rows), settings=DEFAULTS)
    assert got["session_id"].tolist() == ["E1", "E2", "E3"]
    assert got["is_short"].tolist() == [True, False, False]
    assert got["is_unrecorded"].tolist() == [False, False, True]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2026-03-01", "2026-03-05", (4, 2)),  # A-D1 and B-D1, 2 terms each; A-X cancelled
        ("2026-03-05", "2026-03-06", (1, 1)),  # A-D2 nausea
        ("2026-03-06", "2026-04-01", (0, 0)),
        ("2026-03-02 09:00", "2026-03-04 09:00", (2, 1)),  # start inclusive, end exclusive
    ],
)
def test_adverse_event_rate(start, end, expected):
    """Events = distinct (session, term) on completed dosing sessions started in [start, end)."""
    assert adverse_event_rate(SESSIONS, EFFECTS, start=T(start), end=T(end)) == expected


def _month_sessions(month: int, n: int) -> list[tuple]:
    return [
        (f"M{month}-{i}", f"P{i}", f"P{i}-C1", "North", f"2026-0{month}-10 09:00", "dosing",
         "completed", "iv", "ketamine", 35.0, 0.5, 120)
        for i in range(n)
    ]  # fmt: skip


def test_u_chart_worked_example():
    """ū = 60/150 = 0.4; n = 50: limits 0.4 ± 3√(0.4/50) = 0.1317…0.6683; month 3 (0.8) out."""
    sessions = sessions_frame(
        _month_sessions(1, 50) + _month_sessions(2, 50) + _month_sessions(3, 50)
    )
    records = [(f"M1-{i}", 1, "nausea", "mild", N, False) for i in range(10)]
    records += [(f"M2-{i}", 1, "headache", "mild", N, False) for i in range(10)]
    records += [(f"M3-{i}", 1, "nausea", "mild", N, False) for i in range(20)]
    records += [(f"M3-{i}", 2, "dizziness", "mild", N, False) for i in range(20)]
    records += [("M3-0", 3, "nausea", "severe", N, False)]  # repeat: same event
    got = u_chart(sessions, effects_frame(records))
    half = 3 * math.sqrt(0.4 / 50)
    expected = pd.DataFrame(
        {
            "month": [T("2026-01-01"), T("2026-02-01"), T("2026-03-01")],
            "events": [10, 10, 40],
            "dosing_sessions": [50, 50, 50],
            "rate": [20.0, 20.0, 80.0],
            "centre": [40.0] * 3,
            "ucl": [(0.4 + half) * 100] * 3,
            "lcl": [(0.4 - half) * 100] * 3,
            "is_out": [False, False, True],
        }
    )
    assert_frame_equal(got, expected, check_dtype=False, check_index_type=False)
    assert got.loc[0, "ucl"] == pytest.approx(66.8328, abs=1e-4)
    assert got.loc[0, "lcl"] == pytest.approx(13.1672, abs=1e-4)


def test_u_chart_lower_limit_floored_and_empty_months():
    """ū = 0.5, n = 4: 0.5 − 3√(0.5/4) < 0 → LCL 0; a month without events has rate 0."""
    sessions = sessions_frame(_month_sessions(1, 4) + _month_sessions(2, 4))
    records = [(f"M1-{i}", 1, "nausea", "mild", N, False) for i in range(4)]
    got = u_chart(sessions, effects_frame(records))
    assert got["events"].tolist() == [4, 0]
    assert got["rate"].tolist() == [100.0, 0.0]
    assert got["centre"].tolist() == [50.0, 50.0]
    assert got["lcl"].tolist() == [0.0, 0.0]
    assert got["ucl"].iloc[0] == pytest.approx((0.5 + 3 * math.sqrt(0.5 / 4)) * 100)
    assert got["is_out"].tolist() == [False, False]


# Alerts: now 2026-03-20 09:00, lookback 14 days → window from 2026-03-06 09:00.
NOW = datetime(2026, 3, 20, 9, 0)
ALERT_SESSIONS = sessions_frame(
    [
        ("A-D1", "A", "A-C1", "North", "2026-03-02 09:00", "dosing", "completed",
         "iv", "ketamine", 35.0, 0.5, 120),
        ("A-D2", "A", "A-C1", "North", "2026-03-10 09:00", "dosing", "completed",
         "iv", "ketamine", 35.0, 0.5, 120),
        ("A-F", "A", "A-C1", "North", "2026-03-18 09:00", "follow_up", "completed",
         N, N, N, N, N),
        ("B-D1", "B", "B-C1", "North", "2026-03-15 09:00", "dosing", "completed",
         "iv", "ketamine", 35.0, 0.5, 120),
        ("B-X", "B", "B-C1", "North", "2026-03-16 09:00", "dosing", "cancelled",
         "iv", "ketamine", 35.0, 0.5, 120),
        ("C-D1", "C", "C-C1", "South", "2026-03-05 09:00", "dosing", "completed",
         "iv", "ketamine", 35.0, 0.5, 120),
        ("D-D1", "D", "D-C1", "South", "2026-03-19 09:00", "dosing", "completed",
         "iv", "ketamine", 35.0, 0.5, 120),
    ]
)  # fmt: skip
ALERT_EFFECTS = effects_frame(
    [
        ("A-D1", 1, "dissociation", "severe", N, True),  # before the window
        ("A-D2", 1, "dissociation", "severe", N, False),
        ("A-F", 1, "urinary symptoms", "mild", N, False),  # follow-up session counts
        ("B-D1", 1, "nausea", "mild", N, True),
        ("B-D1", 2, "cognitive impairment", "moderate", N, False),
        ("B-X", 1, "vomiting", "severe", N, True),  # cancelled: never
        ("C-D1", 1, "headache", "moderate", 3, False),  # before the window
        ("D-D1", 1, "headache", "moderate", 4, False),  # CTCAE 4 → severe
    ]
)
ALERT_VITALS = vitals_frame(
    [
        ("A-D2", -5, 130, 80),
        ("A-D2", 40, 180, 100),
        ("B-D1", 40, 179, 109),
        ("C-D1", 40, 190, 100),
    ]
)
ALERT_SCORES = scores_frame(
    [
        (1, "A", "A-C1", None, "PHQ-9", "2026-03-01 09:00", 14, 2),
        (2, "A", "A-C1", None, "PHQ-9", "2026-03-12 09:00", 9, 0),  # latest: 0 → no alert
        (3, "B", "B-C1", None, "PHQ-9", "2026-03-01 09:00", 16, 0),
        (4, "B", "B-C1", None, "PHQ-9", "2026-03-14 09:00", 12, 1),
        (5, "C", "C-C1", None, "PHQ9", "2026-01-01 09:00", 11, 1),
        (6, "C", "C-C1", None, "PHQ-9", "2026-03-10 09:00", 10, N),  # total only
        (7, "D", "D-C1", "D-D1", "MOAA/S", "2026-03-19 10:00", 0, N),
    ]
)


def test_alerts_worklist_hand_computed():
    """One row per patient × reason in DOMAIN §4 order (serious first, then item 9 on the
    latest PHQ-9 with item answers, ...), newest first within each; old, cancelled and
    179/109 ignored. C's latest PHQ-9 (03-10) has a total only: the item-9 alert of 01-01
    stays and says so."""
    got = alerts(
        ALERT_SESSIONS, ALERT_EFFECTS, ALERT_VITALS, ALERT_SCORES, settings=DEFAULTS, now=NOW
    )
    c_detail = (
        "item 9 = 1, total 11 on 2026-01-01; a later PHQ-9 (2026-03-10, total 10) has no "
        "item answers"
    )
    expected = pd.DataFrame(
        [
            ("B", "B-C1", REASON_SERIOUS, "nausea", T("2026-03-15 09:00"), 1),
            (
                "B",
                "B-C1",
                REASON_SUICIDALITY,
                "item 9 = 1, total 12 on 2026-03-14",
                T("2026-03-14 09:00"),
                2,
            ),
            ("C", "C-C1", REASON_SUICIDALITY, c_detail, T("2026-01-01 09:00"), 2),
            ("A", "A-C1", REASON_EXCURSION, "highest 180/100 mmHg", T("2026-03-10 09:00"), 3),
            ("D", "D-C1", REASON_SEVERE, "headache", T("2026-03-19 09:00"), 4),
            ("A", "A-C1", REASON_SEVERE, "dissociation", T("2026-03-10 09:00"), 4),
            ("A", "A-C1", REASON_URINARY, "urinary symptoms", T("2026-03-18 09:00"), 5),
            ("B", "B-C1", REASON_COGNITIVE, "cognitive impairment", T("2026-03-15 09:00"), 6),
        ],
        columns=["patient_id", "course_id", "reason", "detail", "date", "severity_rank"],
    )
    assert_frame_equal(got, expected, check_dtype=False)


def test_inactive_patients_are_listed_apart():
    """Last contact: A 03-18, B 03-15, C 03-05, D 03-19. With 10 days, C (15 days ago) is
    inactive: its item-9 alert moves to the inactive list with its last contact date."""
    got = alerts(
        ALERT_SESSIONS, ALERT_EFFECTS, ALERT_VITALS, ALERT_SCORES, settings=DEFAULTS, now=NOW
    )
    done = ALERT_SESSIONS[ALERT_SESSIONS["status"] == "completed"]
    last = done.groupby("patient_id")["started_at"].max()
    active, inactive = split_inactive(got, last, now=NOW, inactive_days=10)
    assert inactive[["patient_id", "reason"]].values.tolist() == [["C", REASON_SUICIDALITY]]
    assert inactive["last_contact"].tolist() == [T("2026-03-05 09:00")]
    assert "C" not in set(active["patient_id"]) and len(active) == len(got) - 1
    # A patient with no completed session at all is inactive too.
    active, inactive = split_inactive(got, last.drop("B"), now=NOW, inactive_days=90)
    assert set(inactive["patient_id"]) == {"B"} and inactive["last_contact"].isna().all()


def test_alerts_lookback_is_configurable():
    """With 30 days, A's older serious event and C's excursion and CTCAE-3 headache appear."""
    got = alerts(
        ALERT_SESSIONS,
        ALERT_EFFECTS,
        ALERT_VITALS,
        ALERT_SCORES,
        settings=Settings(alert_lookback_days=30),
        now=NOW,
    )
    pairs = set(zip(got["patient_id"], got["reason"], strict=True))
    assert {("A", REASON_SERIOUS), ("C", REASON_EXCURSION), ("C", REASON_SEVERE)} <= pairs
    severe_a = got[(got["patient_id"] == "A") & (got["reason"] == REASON_SEVERE)]
    assert severe_a["detail"].tolist() == ["dissociation (2 sessions)"]


def test_alerts_empty():
    """No reason anywhere: an empty worklist with the documented columns."""
    got = alerts(
        SESSIONS, EFFECTS.iloc[0:0], vitals_frame([]), scores_frame([]), settings=DEFAULTS, now=NOW
    )
    assert got.empty
    assert list(got.columns) == [
        "patient_id", "course_id", "reason", "detail", "date", "severity_rank"
    ]  # fmt: skip


def test_suicidality_counts_any_phq9():
    """A (item 9 = 2 earlier, 0 latest), B and C count: 3 patients; no alert for A."""
    assert suicidality_flag_patients(ALERT_SCORES) == 3


def test_item9_from_item_list_when_column_missing():
    """Without suicide_item, the 9th answer of the item list is used."""
    scores = scores_frame([(1, "A", "A-C1", None, "PHQ-9", "2026-03-12 09:00", 9, N)])
    scores["items"] = [[1, 1, 1, 1, 1, 1, 1, 1, 1]]
    assert suicidality_flag_patients(scores) == 1


def test_safety_summary_hand_computed():
    """Excursions A-D2 and C-D1; 3 flagged patients; serious A-D1 and B-D1 (B-X cancelled)."""
    got = safety_summary(
        ALERT_SESSIONS, ALERT_EFFECTS, ALERT_VITALS, ALERT_SCORES, settings=DEFAULTS
    )
    assert got == {"bp_excursion_sessions": 2, "suicidality_flag_patients": 3, "serious_events": 2}


def test_thresholds_in_force_show_settings():
    """The thresholds table shows the values in force, including a changed one."""
    got = thresholds_in_force(Settings(bp_excursion_systolic=170)).set_index("setting")
    assert got.loc["bp_excursion_systolic", "value"] == "170"
    assert got.loc["bp_excursion_diastolic", "value"] == "110"
    assert got.loc["alert_lookback_days", "value"] == "14"
    assert got.loc["phq9_item9_flag", "value"] == "> 0"
    assert got["meaning"].str.len().min() > 10


def test_clinic_safety_from_database(db_url):
    """tests/clinic.py: one excursion (P1 dose 1, 182), P2's item 9 = 1, no serious records."""
    from kapviz.db import queries
    from kapviz.db.engine import make_engine
    from tests.clinic import build_clinic

    engine = make_engine(db_url)
    build_clinic(engine)
    with engine.connect() as conn:
        frames = (
            queries.sessions(conn),
            queries.side_effects(conn),
            queries.vitals(conn),
            queries.assessments(conn),
        )
    got = safety_summary(*frames, settings=DEFAULTS)
    assert got == {"bp_excursion_sessions": 1, "suicidality_flag_patients": 1, "serious_events": 0}
