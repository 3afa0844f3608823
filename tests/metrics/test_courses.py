"""assign_courses: an assessment's course from its session, else by date (DOMAIN.md §3)."""

from __future__ import annotations

import random

import pandas as pd

from kapviz.metrics.courses import assign_courses


def frame(rows: list[tuple], columns: list[str], *, index=None) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=columns, index=index)
    for col in ("started_at", "administered_at"):
        if col in out:
            out[col] = pd.to_datetime(out[col]).astype("datetime64[us]")
    return out


SESSIONS = frame(
    [
        ("S1", "P1", "P1-C1", "2026-01-05 09:00"),
        ("S2", "P1", "P1-C1", "2026-01-10 09:00"),
        ("S3", "P1", "P1-C2", "2026-03-01 09:00"),
        ("S4", "P2", "P2-A", "2026-02-01 10:00"),
    ],
    ["session_id", "patient_id", "course_id", "started_at"],
)


def test_tied_and_untied_assessments():
    """Hand-worked: session's course; else latest course started by then; else the first."""
    assessments = frame(
        [
            ("P1", "S3", "2026-01-01 08:00"),  # tied: S3's course, whatever the date
            ("P1", None, "2026-01-01 08:00"),  # before every course of P1: the first
            ("P1", None, "2026-01-05 09:00"),  # the very minute C1 starts: C1
            ("P1", None, "2026-02-28 23:59"),  # after C1 started, before C2: C1
            ("P1", None, "2026-03-01 09:00"),  # C2's first session: C2
            ("P2", None, "2025-12-31 00:00"),  # P2 has one course
            ("P3", None, "2026-01-20 00:00"),  # no course at all: None
            ("P1", "S-unknown", "2026-04-01 00:00"),  # unknown session: by date, C2
        ],
        ["patient_id", "session_id", "administered_at"],
        index=[10, 11, 12, 13, 14, 15, 16, 17],
    )
    result = assign_courses(assessments, SESSIONS)
    assert list(result.index) == [10, 11, 12, 13, 14, 15, 16, 17]
    assert result.tolist() == [
        "P1-C2", "P1-C1", "P1-C1", "P1-C1", "P1-C2", "P2-A", None, "P1-C2",
    ]  # fmt: skip


def test_all_tied_and_no_sessions():
    """Only tied rows: no date matching at all; no sessions: every course is None."""
    tied = frame([("P1", "S1", "2026-05-01"), ("P2", "S4", "2026-05-01")],
                 ["patient_id", "session_id", "administered_at"])  # fmt: skip
    assert assign_courses(tied, SESSIONS).tolist() == ["P1-C1", "P2-A"]
    empty = SESSIONS.iloc[0:0]
    untied = frame([("P1", None, "2026-05-01")], ["patient_id", "session_id", "administered_at"])
    assert assign_courses(untied, empty).tolist() == [None]


def reference(assessments: pd.DataFrame, sessions: pd.DataFrame) -> list:
    """The rule written out row by row (slow, obviously right)."""
    by_session = dict(zip(sessions["session_id"], sessions["course_id"], strict=True))
    firsts: dict[str, list[tuple]] = {}
    starts = sessions.groupby(["patient_id", "course_id"])["started_at"].min()
    for (patient, course), start in starts.items():
        firsts.setdefault(patient, []).append((start, course))
    out = []
    for row in assessments.itertuples():
        if row.session_id in by_session:
            out.append(by_session[row.session_id])
            continue
        courses = sorted(firsts.get(row.patient_id, []))
        if not courses:
            out.append(None)
            continue
        started = [c for s, c in courses if s <= row.administered_at]
        out.append(started[-1] if started else courses[0][1])
    return out


def test_matches_row_by_row_rule_on_random_clinics():
    """Random small clinics (distinct course start times): same answer as the plain rule."""
    rng = random.Random(11)
    for _ in range(200):
        patients = [f"P{i}" for i in range(rng.randint(1, 4))]
        rows, used = [], set()
        for k in range(rng.randint(1, 12)):
            patient = rng.choice(patients)
            while (minute := rng.randint(0, 10_000)) in used:
                pass
            used.add(minute)
            start = pd.Timestamp("2026-01-01") + pd.Timedelta(minutes=minute)
            rows.append((f"S{k}", patient, f"{patient}-C{rng.randint(1, 3)}", start))
        sessions = frame(rows, ["session_id", "patient_id", "course_id", "started_at"])
        assessments = frame(
            [
                (
                    rng.choice([*patients, "PX"]),
                    rng.choice([None, None, "S0", "S1", "S99"]),
                    pd.Timestamp("2026-01-01") + pd.Timedelta(minutes=rng.randint(-100, 10_100)),
                )
                for _ in range(rng.randint(1, 15))
            ],
            ["patient_id", "session_id", "administered_at"],
        )
        assert assign_courses(assessments, sessions).tolist() == reference(assessments, sessions)
