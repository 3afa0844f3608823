"""Data-quality metrics on tiny literal frames, hand-computed."""

from __future__ import annotations

import pandas as pd
from pandas.testing import assert_frame_equal

from kapviz.metrics import quality
from tests.reference import quality as reference


def _sessions(rows):
    frame = pd.DataFrame.from_records(
        rows, columns=["session_id", "patient_id", "course_id", "site", "started_at", "phase",
                       "status"],
    )  # fmt: skip
    return frame.assign(started_at=pd.to_datetime(frame["started_at"]))


def _scores(rows):
    frame = pd.DataFrame.from_records(rows, columns=["patient_id", "instrument", "administered_at"])
    return frame.assign(administered_at=pd.to_datetime(frame["administered_at"]))


SESSIONS = _sessions(
    [
        ("A-D1", "A", "A-C1", "North", "2026-03-10 09:00", "dosing", "completed"),
        ("A-D2", "A", "A-C1", "North", "2026-03-20 09:00", "dosing", "completed"),
        ("B-D2", "B", "B-C1", "South", "2026-03-20 09:00", "dosing", "completed"),
        ("B-D1", "B", "B-C1", "South", "2026-03-12 09:00", "dosing", "completed"),
        ("B-X", "B", "B-C1", "South", "2026-03-25 09:00", "dosing", "cancelled"),
        ("C-S1", "C", "C-C1", "South", "2026-03-01 09:00", "intake", "completed"),
    ]
)


def test_dosing_without_predose_window_edges_and_order():
    """A-D1 has a PHQ-9 exactly 7 days before (counts); B-D1's is a minute too early and
    A-D2's a minute after the start (neither counts); a GAD-7 never counts. Newest first,
    equal starts by session id; cancelled and non-dosing sessions are never listed."""
    scores = _scores(
        [
            ("A", "PHQ-9", "2026-03-03 09:00"),
            ("A", "PHQ-9", "2026-03-20 09:01"),
            ("B", "PHQ-9", "2026-03-05 08:59"),
            ("B", "GAD-7", "2026-03-19 09:00"),
        ]
    )
    out = reference.dosing_without_predose(SESSIONS, scores)
    assert list(out["session_id"]) == ["A-D2", "B-D2", "B-D1"]
    assert list(out.columns) == quality.MISSING_COLUMNS


def test_dosing_without_predose_with_scores_of_another_time_unit():
    """No scores at all (an empty frame's times in seconds) and scores in nanoseconds both
    work against sessions in microseconds: every dose unmeasured, then A-D1 measured."""
    sessions = SESSIONS.astype({"started_at": "datetime64[us]"})
    none = _scores([]).astype({"administered_at": "datetime64[s]"})
    out = reference.dosing_without_predose(sessions, none)
    assert list(out["session_id"]) == ["A-D2", "B-D2", "B-D1", "A-D1"]
    one = _scores([("A", "PHQ-9", "2026-03-09 09:00")]).astype(
        {"administered_at": "datetime64[ns]"}
    )
    out = reference.dosing_without_predose(sessions, one)
    assert list(out["session_id"]) == ["A-D2", "B-D2", "B-D1"]


def test_newest_first_is_deterministic_on_ties():
    """Sessions started at the same moment come by session id, whatever the input order."""
    reversed_rows = SESSIONS.iloc[::-1]
    assert_frame_equal(quality.newest_first(reversed_rows), quality.newest_first(SESSIONS))
    assert list(quality.newest_first(SESSIONS)["session_id"][:3]) == ["B-X", "A-D2", "B-D2"]


def test_term_mapping_from_records_and_from_counts():
    """'Nausea ' and 'NAUSEA' are the term itself; synonyms counted, most frequent first,
    then by wording (code-point order: 'Woozy' before 'queasy')."""
    records = pd.DataFrame(
        {
            "verbatim": ["Nausea ", "queasy", "queasy", "NAUSEA", "Woozy", "queasy", None],
            "term": ["nausea"] * 4 + ["dizziness", "nausea", "nausea"],
        }
    )
    expected = pd.DataFrame(
        {
            "verbatim": ["queasy", "Woozy"],
            "term": ["nausea", "dizziness"],
            "records": [3, 1],
        }
    ).astype({"verbatim": object, "term": object})
    assert_frame_equal(quality.term_mapping(records), expected)
    counts = pd.DataFrame(
        {"verbatim": ["Woozy", "queasy", "NAUSEA"], "term": ["dizziness", "nausea", "nausea"],
         "records": [1, 3, 5]}
    )  # fmt: skip
    assert_frame_equal(quality.mapping_from_counts(counts), expected)
    empty = quality.mapping_from_counts(counts.iloc[0:0])
    assert empty.empty and list(empty.columns) == ["verbatim", "term", "records"]
