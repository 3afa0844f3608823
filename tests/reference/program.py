"""Plain reference implementations of the Overview's counts (docs/domain.md §1 and §6).

The app counts these in SQL (kapviz.db.aggregates.program, kapviz.db.rollups); these
functions restate each rule row by row, as the domain text reads, so that the equality
tests in tests/db and the hand-computed cases in tests/metrics check the SQL against
something a reader can verify line by line. Never imported by kapviz.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

import pandas as pd

from kapviz.config import Settings
from kapviz.metrics import program


def _rows(frame: pd.DataFrame) -> list[dict]:
    return frame.to_dict("records")


def _known(value: object) -> bool:
    return value is not None and not pd.isna(value)


def completed_sessions(sessions: pd.DataFrame) -> list[dict]:
    """Only completed sessions count in any denominator (§1)."""
    return [row for row in _rows(sessions) if row["status"] == "completed"]


def active_patients(sessions: pd.DataFrame, *, now: datetime, days: int = 30) -> int:
    """Patients with a completed session started after now − `days` and at or before now."""
    since = now - timedelta(days=days)
    return len(
        {
            row["patient_id"]
            for row in completed_sessions(sessions)
            if _known(row["started_at"]) and since < row["started_at"] <= now
        }
    )


def dosing_in(sessions: pd.DataFrame, start: datetime, end: datetime) -> list[dict]:
    """Completed dosing sessions started in [start, end)."""
    return [
        row
        for row in completed_sessions(sessions)
        if row["phase"] == "dosing"
        and _known(row["started_at"])
        and start <= row["started_at"] < end
    ]


def dosing_sessions_between(sessions: pd.DataFrame, start: datetime, end: datetime) -> int:
    return len(dosing_in(sessions, start, end))


def measurement_completion(
    sessions: pd.DataFrame,
    assessments: pd.DataFrame,
    *,
    start: datetime,
    end: datetime,
    instrument: str = "PHQ-9",
    window_days: int = 7,
) -> tuple[int, int]:
    """(measured, dosing sessions): a dosing session in [start, end) is measured when its
    patient has an `instrument` score in the `window_days` before its start (start included)."""
    scores = defaultdict(list)
    for row in _rows(assessments):
        if row["instrument"] == instrument and _known(row["administered_at"]):
            scores[row["patient_id"]].append(row["administered_at"])
    doses = dosing_in(sessions, start, end)
    measured = 0
    for dose in doses:
        earliest = dose["started_at"] - timedelta(days=window_days)
        if any(earliest <= at <= dose["started_at"] for at in scores[dose["patient_id"]]):
            measured += 1
    return measured, len(doses)


def referred(patients: pd.DataFrame, sessions: pd.DataFrame, start=None, end=None) -> set:
    """Every patient record; with a date range [start, end] (dates), those referred in it:
    enrolled on a day of the range, or, with no enrolment date, with a session (any status)
    started on a day of the range."""
    if start is None and end is None:
        return {row["patient_id"] for row in _rows(patients)}

    def in_range(day) -> bool:
        return (start is None or day >= start) and (end is None or day <= end)

    seen = {
        row["patient_id"]
        for row in _rows(sessions)
        if _known(row["started_at"]) and in_range(pd.Timestamp(row["started_at"]).date())
    }
    out = set()
    for row in _rows(patients):
        enrolled = row["enrolled_on"]
        if _known(enrolled):
            if in_range(pd.Timestamp(enrolled).date()):
                out.add(row["patient_id"])
        elif row["patient_id"] in seen:
            out.add(row["patient_id"])
    return out


def treatment_funnel(
    patients: pd.DataFrame, sessions: pd.DataFrame, *, start=None, end=None
) -> pd.DataFrame:
    """Referred → intake completed → eligible → first dose → course completed (§1).

    Each step counts patients who also reached every step before it; a course is completed
    by a completed integration or follow-up session after its last completed dose. With a
    date range, "referred" are the patients referred in it (`referred`), and the later steps
    follow them through `sessions` of every date."""
    done = completed_sessions(sessions)
    last_dose: dict[str, datetime] = {}
    for row in done:
        if row["phase"] == "dosing" and _known(row["started_at"]):
            course = row["course_id"]
            last_dose[course] = max(last_dose.get(course, row["started_at"]), row["started_at"])
    reached = referred(patients, sessions, start, end)
    counts = [len(reached)]
    steps = [
        lambda row: row["phase"] == "intake",
        lambda row: row["phase"] == "intake" and _known(row["eligible"]) and bool(row["eligible"]),
        lambda row: row["phase"] == "dosing",
        lambda row: (
            row["phase"] in ("integration", "follow_up")
            and row["course_id"] in last_dose
            and _known(row["started_at"])
            and row["started_at"] > last_dose[row["course_id"]]
        ),
    ]
    for step in steps:
        reached = reached & {row["patient_id"] for row in done if step(row)}
        counts.append(len(reached))
    return program.funnel_frame(counts)


def ineligibility_reasons(sessions: pd.DataFrame) -> dict[str, int]:
    """Completed intake sessions found not eligible, per reason ("not recorded" if none)."""
    reasons = Counter()
    for row in completed_sessions(sessions):
        if row["phase"] == "intake" and _known(row["eligible"]) and not bool(row["eligible"]):
            reason = row["ineligible_reason"]
            reasons[reason if _known(reason) else "not recorded"] += 1
    return dict(reasons)


def monthly_dosing_by_route(sessions: pd.DataFrame) -> pd.DataFrame:
    """Completed dosing sessions per calendar month and route ("unknown" if none)."""
    counts = Counter()
    for row in completed_sessions(sessions):
        if row["phase"] == "dosing" and _known(row["started_at"]):
            month = pd.Timestamp(row["started_at"].year, row["started_at"].month, 1)
            route = row["route"] if _known(row["route"]) else "unknown"
            counts[(month, route)] += 1
    keys = sorted(counts)
    return pd.DataFrame(
        {
            "month": pd.Series([m for m, _ in keys], dtype="datetime64[us]"),
            "route": [r for _, r in keys],
            "sessions": pd.Series([counts[k] for k in keys], dtype="int64"),
        }
    )


def director_counts(
    sessions: pd.DataFrame, assessments: pd.DataFrame, *, now: datetime
) -> program.TileCounts:
    """The director's tiles' counts over the periods of program.tile_windows."""
    w = program.tile_windows(now)
    measured, total = measurement_completion(sessions, assessments, start=w.cur30, end=now)
    measured_before, total_before = measurement_completion(
        sessions, assessments, start=w.prev30, end=w.cur30
    )
    return program.TileCounts(
        active=active_patients(sessions, now=now),
        active_before=active_patients(sessions, now=w.cur30),
        dosing_week=dosing_sessions_between(sessions, *w.week),
        dosing_week_before=dosing_sessions_between(sessions, *w.week_before),
        dosing_month=dosing_sessions_between(sessions, *w.month),
        dosing_month_before=dosing_sessions_between(sessions, *w.month_before),
        measured=measured,
        measured_n=total,
        measured_before=measured_before,
        measured_before_n=total_before,
    )


def director_kpis(
    sessions: pd.DataFrame, assessments: pd.DataFrame, outcomes: pd.DataFrame, *, now: datetime
) -> dict[str, dict]:
    return program.director_kpis_from(
        director_counts(sessions, assessments, now=now), outcomes, now=now
    )


def adverse_counts(
    sessions: pd.DataFrame, side_effects: pd.DataFrame, *, now: datetime
) -> program.AdverseCounts:
    """Adverse events of the completed dosing sessions of the last 30 days and the 30 before,
    and those sessions: an event is one effect term in one session (several records of the
    same term in a session count once, at their highest severity)."""
    w = program.tile_windows(now)
    terms = defaultdict(set)
    for row in _rows(side_effects):
        terms[row["session_id"]].add(row["term"])
    per_session = {session: len(found) for session, found in terms.items()}
    current = dosing_in(sessions, w.cur30, now)
    before = dosing_in(sessions, w.prev30, w.cur30)
    return program.AdverseCounts(
        events=sum(per_session.get(row["session_id"], 0) for row in current),
        doses=len(current),
        events_before=sum(per_session.get(row["session_id"], 0) for row in before),
        doses_before=len(before),
    )


def safety_kpis(
    sessions: pd.DataFrame,
    side_effects: pd.DataFrame,
    vitals: pd.DataFrame,
    assessments: pd.DataFrame,
    *,
    settings: Settings,
    now: datetime,
) -> dict[str, dict]:
    """Adverse events per 100 dosing sessions and the patients on the alerts worklist (the
    Safety page's own alerts, kapviz.metrics.alerts), active ones counted."""
    open_alerts = program.open_alert_patients(
        sessions,
        side_effects,
        vitals,
        assessments,
        settings=settings,
        now=now,
        last_contact=last_contact(sessions, now),
        last_contact_before=last_contact(sessions, program.tile_windows(now).cur30),
    )
    return program.safety_kpis_from(adverse_counts(sessions, side_effects, now=now), open_alerts)


def last_contact(sessions: pd.DataFrame, moment: datetime) -> pd.Series:
    """Each patient's latest completed session started at or before `moment` (DOMAIN §4:
    a patient with none in the last 90 days is inactive)."""
    latest: dict[str, datetime] = {}
    for row in completed_sessions(sessions):
        started, patient = pd.Timestamp(row["started_at"]), row["patient_id"]
        if started <= pd.Timestamp(moment) and started > latest.get(patient, pd.Timestamp.min):
            latest[patient] = started
    return pd.Series(latest, dtype="datetime64[us]")
