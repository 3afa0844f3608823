"""Trajectory axes, tables and attrition, against hand-computed DOMAIN.md §3 cases."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from kapviz.metrics import course_attributes, trajectory_axes, trajectory_tables
from tests.metrics.test_outcomes import scores_frame, sessions_frame


def course_sessions() -> pd.DataFrame:
    """P1-C1: intake 03-01, prep 03-05, doses 03-10/03-13 (03-12 cancelled) with an
    integration session between them (03-11), a last integration session 03-20, and a
    follow-up session 03-18 before it."""
    return sessions_frame(
        [
            ("S1", "P1", "P1-C1", "2026-03-01 09:00", "intake", "completed"),
            ("S2", "P1", "P1-C1", "2026-03-05 09:00", "preparation", "completed"),
            ("D1", "P1", "P1-C1", "2026-03-10 09:00", "dosing", "completed"),
            ("I1", "P1", "P1-C1", "2026-03-11 09:00", "integration", "completed"),
            ("DX", "P1", "P1-C1", "2026-03-12 09:00", "dosing", "cancelled"),
            ("D2", "P1", "P1-C1", "2026-03-13 09:00", "dosing", "completed"),
            ("F0", "P1", "P1-C1", "2026-03-18 09:00", "follow_up", "completed"),
            ("S3", "P1", "P1-C1", "2026-03-20 09:00", "integration", "completed"),
        ]
    )


@pytest.mark.parametrize(
    ("session_id", "at", "phase", "point", "days", "day_bin"),
    [
        ("S1", "2026-03-01 09:00", "intake", "Intake", -9.0, "Baseline (−30–0 d)"),
        (None, "2026-03-03 09:00", "preparation", "Preparation", -7.0, "Baseline (−30–0 d)"),
        (None, "2026-03-10 09:00", "preparation", "Preparation", 0.0, "Baseline (−30–0 d)"),
        # A score of the first dosing session taken at its start is the baseline: pre-dose.
        ("D1", "2026-03-10 09:00", "preparation", "Preparation", 0.0, "Baseline (−30–0 d)"),
        # An intake score before the first dose stays at intake even when late.
        ("S1", "2026-03-09 09:00", "intake", "Intake", -1.0, "Baseline (−30–0 d)"),
        ("D1", "2026-03-10 10:00", "dosing", "Dose 1", 1 / 24, "Week 1"),
        # The integration session after dose 1 is at dose 1, not after all doses.
        ("I1", "2026-03-11 09:00", "dosing", "Dose 1", 1.0, "Week 1"),
        (None, "2026-03-12 09:00", "dosing", "Dose 1", 2.0, "Week 1"),
        # Taken before dose 2 began, in dose 2's session: still after dose 1.
        ("D2", "2026-03-13 08:00", "dosing", "Dose 1", 3 - 1 / 24, "Week 1"),
        ("D2", "2026-03-13 10:00", "dosing", "Dose 2", 3 + 1 / 24, "Week 1"),
        (None, "2026-03-13 23:00", "dosing", "Dose 2", 3 + 14 / 24, "Week 1"),
        (None, "2026-03-14 00:00", "integration", "Integration", 3.625, "Week 1"),
        (None, "2026-03-17 09:00", "integration", "Integration", 7.0, "Week 1"),
        # A follow-up session's score is at follow-up even before the last integration.
        ("F0", "2026-03-18 09:00", "follow_up", "Follow-up", 8.0, "Week 2"),
        ("S3", "2026-03-20 18:00", "integration", "Integration", 10.375, "Week 2"),
        (None, "2026-03-21 00:00", "follow_up", "Follow-up", 10.625, "Week 2"),
        (None, "2026-06-01 09:00", "follow_up", "Follow-up", 83.0, "Weeks 9–12"),
        (None, "2027-06-01 09:00", "follow_up", "Follow-up", 448.0, "After week 52"),
        (None, "2026-02-07 09:00", "preparation", "Preparation", -31.0, None),
    ],
)
def test_axis_assignment(
    session_id: str | None, at: str, phase: str, point: str, days: float, day_bin: str | None
) -> None:
    """Scores are placed by when they were taken relative to the doses (DOMAIN.md §3,
    revised); the session's own phase is kept beside the point for hovers."""
    scores = scores_frame([("P1", "P1-C1", session_id, "PHQ-9", at, 10)])
    row = trajectory_axes.trajectory_points(course_sessions(), scores).iloc[0]
    assert row["phase"] == phase
    assert row["point"] == point
    own = dict(course_sessions()[["session_id", "phase"]].to_numpy())
    if session_id is None:
        assert pd.isna(row["session_phase"])
    else:
        assert row["session_phase"] == own[session_id]
    assert row["days"] == pytest.approx(days)
    if day_bin is None:
        assert pd.isna(row["day_bin"])
    else:
        assert row["day_bin"] == day_bin


def test_course_without_a_completed_dose() -> None:
    """No completed dose: every score is before treatment (intake or preparation), even
    one tied to a cancelled dosing session."""
    sessions = sessions_frame(
        [
            ("S1", "P9", "P9-C1", "2026-03-01 09:00", "intake", "completed"),
            ("DX", "P9", "P9-C1", "2026-03-12 09:00", "dosing", "cancelled"),
        ]
    )
    scores = scores_frame(
        [
            ("P9", "P9-C1", "S1", "PHQ-9", "2026-03-01 09:00", 20),
            ("P9", "P9-C1", "DX", "PHQ-9", "2026-03-12 09:00", 19),
            ("P9", "P9-C1", None, "PHQ-9", "2026-04-12 09:00", 18),
        ]
    )
    points = trajectory_axes.trajectory_points(sessions, scores)
    assert list(points["point"]) == ["Intake", "Preparation", "Preparation"]
    assert list(points["session_phase"].fillna("-")) == ["intake", "dosing", "-"]


def test_pooled_maintenance_doses() -> None:
    """Doses beyond max_doses pool into one "Dose n+" point."""
    sessions = sessions_frame(
        [
            (f"D{k}", "P1", "P1-C1", f"2026-03-{k:02d} 09:00", "dosing", "completed")
            for k in range(1, 6)
        ]
    )
    scores = scores_frame(
        [("P1", "P1-C1", f"D{k}", "PHQ-9", f"2026-03-{k:02d} 10:00", 20 - k) for k in (2, 3, 5)]
    )
    points = trajectory_axes.trajectory_points(sessions, scores, max_doses=2)
    assert list(points["point"]) == ["Dose 2", "Dose 3+", "Dose 3+"]
    assert list(points["dose_number"]) == [2, 3, 5]


def cohort_points() -> pd.DataFrame:
    """Three one-course patients, PHQ-9 at preparation and dose 1, two later (integration)."""
    sess, rows = [], []
    data = {"A": (20, 14, 8), "B": (16, 12, None), "C": (12, 10, 4)}
    for pid, (prep, dose, follow) in data.items():
        course = f"{pid}-C1"
        sess.append((f"{pid}-D1", pid, course, "2026-03-10 09:00", "dosing", "completed"))
        rows.append((pid, course, None, "PHQ-9", "2026-03-05 09:00", prep))
        rows.append((pid, course, f"{pid}-D1", "PHQ-9", "2026-03-10 11:00", dose))
        if follow is not None:
            rows.append((pid, course, None, "PHQ-9", "2026-04-20 09:00", follow))
    # A second preparation score of A: the course contributes its mean (20 + 18) / 2 = 19.
    rows.append(("A", "A-C1", None, "PHQ-9", "2026-03-07 09:00", 18))
    return trajectory_axes.trajectory_points(sessions_frame(sess), scores_frame(rows))


def test_trajectory_table_session_axis() -> None:
    """n, mean ± 1.96·SD/√n, median and IQR per point; one value per course."""
    table = trajectory_tables.trajectory_table(cohort_points(), axis="session")
    half_prep = 1.959963984540054 * pd.Series([19, 16, 12]).std() / math.sqrt(3)
    half_dose = 1.959963984540054 * pd.Series([14, 12, 10]).std() / math.sqrt(3)
    half_follow = 1.959963984540054 * pd.Series([8, 4]).std() / math.sqrt(2)
    expected = pd.DataFrame(
        {
            "instrument": ["PHQ-9"] * 3,
            "point": ["Preparation", "Dose 1", "Integration"],
            "order": [1, 2, 13],
            "x": [1.0, 2.0, 13.0],
            "phase": ["preparation", "dosing", "integration"],
            "courses": [3, 3, 2],
            "mean": [47 / 3, 12.0, 6.0],
            "ci_low": [47 / 3 - half_prep, 12 - half_dose, 6 - half_follow],
            "ci_high": [47 / 3 + half_prep, 12 + half_dose, 6 + half_follow],
            "median": [16.0, 12.0, 6.0],
            "q1": [14.0, 11.0, 5.0],
            "q3": [17.5, 13.0, 7.0],
        }
    ).astype({"instrument": object, "point": object, "phase": object})
    assert_frame_equal(table, expected, check_dtype=False)


def test_trajectory_table_days_axis() -> None:
    """Baseline window bin and weekly bins, x at the bin's middle day."""
    table = trajectory_tables.trajectory_table(cohort_points(), axis="days")
    # 04-20 09:00 is 41 days after the 03-10 dose: week 6, (35, 42].
    assert list(table["point"]) == ["Baseline (−30–0 d)", "Week 1", "Week 6"]
    assert list(table["courses"]) == [3, 3, 2]
    assert list(table["x"]) == [-15.0, 3.5, 38.5]
    assert table["phase"].isna().all()


def test_attrition() -> None:
    """Courses contributing at each point and their share of the instrument's courses."""
    got = trajectory_tables.attrition(cohort_points(), axis="session")
    expected = pd.DataFrame(
        {
            "instrument": ["PHQ-9"] * 3,
            "point": ["Preparation", "Dose 1", "Integration"],
            "order": [1, 2, 13],
            "courses": [3, 3, 2],
            "share": [1.0, 1.0, 2 / 3],
        }
    ).astype({"instrument": object, "point": object})
    assert_frame_equal(got, expected, check_dtype=False)


def test_unknown_axis_is_an_error() -> None:
    """Only the two DOMAIN.md axes exist."""
    with pytest.raises(ValueError, match="axis must be one of"):
        trajectory_tables.trajectory_table(cohort_points(), axis="weeks")


@pytest.mark.parametrize(("max_courses", "expected_courses"), [(10, 3), (3, 3), (2, 2)])
def test_course_lines_downsample(max_courses: int, expected_courses: int) -> None:
    """More courses than max_courses: a seeded sample; the total is always reported."""
    lines, total = trajectory_tables.course_lines(
        cohort_points(), instrument="PHQ-9", max_courses=max_courses
    )
    assert total == 3
    assert lines["course_id"].nunique() == expected_courses
    again, _ = trajectory_tables.course_lines(
        cohort_points(), instrument="PHQ-9", max_courses=max_courses
    )
    assert_frame_equal(lines, again)
    assert len(lines) == lines.groupby("course_id").size().sum()


@pytest.mark.parametrize(
    ("route", "mg", "mgkg", "band"),
    [
        ("iv", 35.0, 0.5, "0.5–<0.75 mg/kg"),
        ("iv", 28.0, 0.4, "< 0.5 mg/kg"),
        ("im", 60.0, 0.75, "≥ 0.75 mg/kg"),
        ("intranasal", 56.0, None, "56–<84 mg"),
        ("intranasal", 84.0, None, "84–<200 mg"),
        ("sublingual", 300.0, None, "≥ 200 mg"),
        ("oral", 25.0, None, "< 56 mg"),
        ("iv", 40.0, None, "< 56 mg"),
    ],
)
def test_course_attributes_dose_band(route: str, mg: float, mgkg: float | None, band: str) -> None:
    """Weight-based routes band by mg/kg when known, others by mg."""
    sessions = sessions_frame([("D1", "P1", "P1-C1", "2026-03-10 09:00", "dosing", "completed")])
    sessions = sessions.assign(
        site="North", indication="TRD", route=route, dose_mg=mg, dose_mg_per_kg=mgkg
    )
    got = course_attributes.course_attributes(sessions).iloc[0]
    assert got["dose_band"] == band
    assert got["site"] == "North"


def test_grouped_table_one_table_per_group() -> None:
    """Each group's table is the trajectory table of its courses alone, labelled with n."""
    points = cohort_points()
    values = trajectory_tables.course_values(points)
    site = pd.Series({"A-C1": "North", "B-C1": "North", "C-C1": "South"})
    got = trajectory_tables.grouped_table(values, site)
    assert got["group"].drop_duplicates().tolist() == ["North (2 courses)", "South (1 course)"]
    north = points[points["course_id"].isin(["A-C1", "B-C1"])]
    assert_frame_equal(
        got[got["group"] == "North (2 courses)"].drop(columns="group").reset_index(drop=True),
        trajectory_tables.trajectory_table(north),
    )


def test_grouped_table_pools_small_groups() -> None:
    """More groups than max_groups: the largest kept (ties by name), the rest pooled, last."""
    values = trajectory_tables.course_values(cohort_points())
    site = pd.Series({"A-C1": "North", "B-C1": "South"})  # C-C1 has no site: "unknown"
    got = trajectory_tables.grouped_table(values, site, max_groups=2, others="other sites")
    # Three groups of one course each: "North" kept (first by name), two pooled.
    assert got["group"].drop_duplicates().tolist() == [
        "North (1 course)",
        "2 other sites (2 courses)",
    ]
    pooled = got[got["group"].str.startswith("2 other")]
    assert pooled.set_index("point").loc["Preparation", "courses"] == 2


def cohort_inputs() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sessions and scores of `cohort_points`."""
    sess, rows = [], []
    data = {"A": (20, 14, 8), "B": (16, 12, None), "C": (12, 10, 4)}
    for pid, (prep, dose, follow) in data.items():
        course = f"{pid}-C1"
        sess.append((f"{pid}-D1", pid, course, "2026-03-10 09:00", "dosing", "completed"))
        rows.append((pid, course, None, "PHQ-9", "2026-03-05 09:00", prep))
        rows.append((pid, course, f"{pid}-D1", "PHQ-9", "2026-03-10 11:00", dose))
        if follow is not None:
            rows.append((pid, course, None, "PHQ-9", "2026-04-20 09:00", follow))
    rows.append(("A", "A-C1", None, "PHQ-9", "2026-03-07 09:00", 18))
    return sessions_frame(sess), scores_frame(rows)


def test_paired_change_from_baseline() -> None:
    """Mean change among the courses with a baseline and a value at the point (hand):
    baselines A 18 (latest pre-dose), B 16, C 12; preparation A (20+18)/2−18 = 1, B 0, C 0;
    dose 1 −4, −4, −2; integration (after the last dose) A −10, C −8 (B has none)."""
    from kapviz.metrics.outcomes import course_outcomes

    sessions, scores = cohort_inputs()
    points = trajectory_axes.trajectory_points(sessions, scores)
    outcomes = course_outcomes(sessions, scores)
    change = trajectory_tables.paired_change_values(
        trajectory_tables.course_values(points), outcomes
    )
    table = trajectory_tables.table_from_values(change)
    assert list(table["point"]) == ["Preparation", "Dose 1", "Integration"]
    assert list(table["courses"]) == [3, 3, 2]
    assert table["mean"].tolist() == pytest.approx([1 / 3, -10 / 3, -9.0])
    assert table["median"].tolist() == [0.0, -4.0, -9.0]


def test_paired_change_leaves_out_courses_without_a_baseline() -> None:
    """A course whose only pre-dose score is outside the window has no baseline: its later
    scores count in the raw means but not in the paired change."""
    from kapviz.metrics.outcomes import course_outcomes

    sessions, scores = cohort_inputs()
    extra_sessions = sessions_frame(
        [("D-D1", "D", "D-C1", "2026-03-10 09:00", "dosing", "completed")]
    )
    extra = scores_frame(
        [
            ("D", "D-C1", None, "PHQ-9", "2026-01-01 09:00", 25),  # 68 days before
            ("D", "D-C1", "D-D1", "PHQ-9", "2026-03-10 11:00", 5),
        ]
    )
    sessions = pd.concat([sessions, extra_sessions], ignore_index=True)
    scores = pd.concat([scores, extra], ignore_index=True).assign(id=lambda f: range(len(f)))
    points = trajectory_axes.trajectory_points(sessions, scores)
    values = trajectory_tables.course_values(points)
    raw = trajectory_tables.table_from_values(values)
    change = trajectory_tables.table_from_values(
        trajectory_tables.paired_change_values(values, course_outcomes(sessions, scores))
    )
    assert raw.set_index("point").loc["Dose 1", "courses"] == 4
    assert raw.set_index("point").loc["Dose 1", "mean"] == pytest.approx(41 / 4)
    assert change.set_index("point").loc["Dose 1", "courses"] == 3
