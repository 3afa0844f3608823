"""The Overview's SQL aggregates and recent windows give exactly the pandas metrics' numbers."""

from dataclasses import astuple, replace
from datetime import date, datetime, timedelta

import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import insert

from kapviz.config import load_settings
from kapviz.db import queries
from kapviz.db.aggregates import program as program_sql
from kapviz.db.aggregates import safety as safety_sql
from kapviz.db.aggregates.tiles import excursion_thresholds, open_alerts, recent_since
from kapviz.db.engine import make_engine
from kapviz.filters import Filters
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics import monitoring, program
from kapviz.metrics.outcomes import course_outcomes
from kapviz.ui.overview import tiles_as_of
from tests.clinic import ANCHOR
from tests.reference import program as reference

DEMO_SEED = 11
"""Seed of this module's 300-patient demo clinic (tests/db/conftest.py)."""

FILTERS = [
    Filters(),
    Filters(sites=("North",)),
    Filters(routes=("im",)),
    Filters(start=date(2026, 2, 14), end=date(2026, 2, 20)),
    Filters(sites=("Nowhere",)),
]


def _check_charts(conn, filters):
    sessions = queries.sessions(conn, filters)
    patients = queries.patients(conn, filters)
    counts = program_sql.funnel_counts(conn, filters)
    every_date = queries.sessions(conn, replace(filters, start=None, end=None))
    assert_frame_equal(
        program.funnel_frame(counts),
        reference.treatment_funnel(patients, every_date, start=filters.start, end=filters.end),
        check_exact=True,
    )
    daily = program_sql.daily_dosing(conn, filters)
    assert_frame_equal(
        program.monthly_from_daily(daily),
        reference.monthly_dosing_by_route(sessions),
        check_dtype=False,
    )
    got_reasons = program_sql.ineligibility_reasons(conn, filters)
    assert dict(
        zip(got_reasons["reason"], got_reasons["patients"], strict=True)
    ) == reference.ineligibility_reasons(sessions)
    monthly = program.monthly_from_daily(daily.assign(route=""))
    events = program.monthly_from_daily(daily.assign(route=""), value="events")
    counts = monthly.merge(events, on=["month", "route"]).rename(
        columns={"sessions": "dosing_sessions"}
    )
    expected_u = monitoring.u_chart(sessions, queries.side_effects(conn, filters))
    got_u = monitoring.u_chart_from_counts(counts)
    if expected_u.empty:
        assert got_u.empty
    else:
        assert_frame_equal(got_u, expected_u, check_dtype=False)
    outcomes = course_outcomes(
        sessions, queries.assessments(conn, filters, instruments=OUTCOME_INSTRUMENTS)
    )
    got_sites, got_overall = program.site_response(
        outcomes, program_sql.course_sites(conn, filters)
    )
    expected_sites, expected_overall = program.site_response(outcomes, sessions)
    assert_frame_equal(got_sites, expected_sites)
    assert got_overall == pytest.approx(expected_overall, nan_ok=True)


@pytest.mark.parametrize("filters", FILTERS, ids=str)
def test_chart_aggregates_equal_pandas_on_clinic(clinic, filters):
    _check_charts(clinic, filters)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # All five enrolled on the anchor day (2026-01-05): the range that holds it follows
        # them to wherever they got (P2's intake is on day 1, P1's integration on day 21).
        (date(2026, 1, 5), date(2026, 1, 5), [5, 4, 3, 3, 2]),
        # Nobody referred in February: the funnel is empty, not "P4's dose over 5 referred".
        (date(2026, 2, 1), date(2026, 2, 28), [0, 0, 0, 0, 0]),
    ],
)
def test_funnel_follows_the_date_range(clinic, start, end, expected):
    """The date range selects who is referred (enrolment date), so "Referred" and the steps
    after it describe the same patients (issue 17: July–September had "Referred" unfiltered)."""
    filters = Filters(start=start, end=end)
    assert program_sql.funnel_counts(clinic, filters) == expected


def test_clinic_funnel_hand_counts(clinic):
    """P1–P5 referred; P1, P2, P4 eligible at intake (P3 not); all three dosed; P1, P2
    have an integration session after their last dose (P4 has none) — tests/clinic.py."""
    table = program.funnel_frame(program_sql.funnel_counts(clinic, Filters()))
    assert table["patients"].tolist() == [5, 4, 3, 3, 2]
    reasons = program_sql.ineligibility_reasons(clinic, Filters())
    assert reasons.to_dict("records") == [{"reason": "uncontrolled hypertension", "patients": 1}]


@pytest.mark.parametrize(
    "filters", [Filters(), Filters(sites=("Demo Clinic North",)), Filters(routes=("iv",))], ids=str
)
def test_chart_aggregates_equal_pandas_on_demo(demo, filters):
    _check_charts(demo, filters)


def _kpis(sessions, side_effects, vitals, phq9, outcomes, now):
    settings = load_settings({})
    out = reference.director_kpis(sessions, phq9, outcomes, now=now)
    return out | reference.safety_kpis(
        sessions, side_effects, vitals, phq9, settings=settings, now=now
    )


def _tiles_as_the_overview_computes_them(conn, filters, outcomes, as_of):
    """SQL counts (tile_counts) and the alerts on the look-back's rows (kapviz.ui.overview),
    the last contacts read for the patients with an alert only."""
    counts, adverse = program_sql.tile_counts(conn, filters, now=as_of)
    attention = open_alerts(conn, filters, now=as_of, settings=load_settings({}))
    kpis = program.director_kpis_from(counts, outcomes, now=as_of)
    return kpis | program.safety_kpis_from(adverse, attention)


def _recent(conn, filters, as_of):
    return program_sql.recent_activity(
        conn,
        filters,
        since=recent_since(as_of),
        vitals_reaching=excursion_thresholds(load_settings({})),
    )


@pytest.mark.parametrize(
    "filters",
    [Filters(), Filters(sites=("Demo Clinic North",)), Filters(routes=("iv",))],
    ids=["all", "site", "route"],
)
def test_overview_tiles_equal_the_whole_tables_kpis(demo, filters):
    """Tiles as the Overview computes them (counts in SQL, alerts from the look-back's rows)
    equal the pandas metrics on whole tables, at several moments, in and out of scope."""
    sessions = queries.sessions(demo, filters)
    scores = queries.assessments(demo, filters, instruments=OUTCOME_INSTRUMENTS)
    phq9 = scores[scores["instrument"] == "PHQ-9"].reset_index(drop=True)
    side_effects = queries.side_effects(demo, filters)
    vitals = queries.vitals(demo, filters)
    outcomes = course_outcomes(sessions, scores)
    last = sessions["started_at"].max().to_pydatetime()
    # The last minute of last month: its spans (all of it, all of the month before) reach
    # furthest.
    month_end = datetime.combine(last.date().replace(day=1), datetime.min.time()) - timedelta(
        minutes=1
    )
    moments = (last, last - timedelta(days=45, hours=3), last + timedelta(days=20), month_end)
    for now in moments:
        as_of = tiles_as_of(now)
        full = _kpis(sessions, side_effects, vitals, phq9, outcomes, as_of)
        tiles = _tiles_as_the_overview_computes_them(demo, filters, outcomes, as_of)
        assert tiles == full, now
        assert len(_recent(demo, filters, as_of).sessions) < len(sessions)
        assert full["dosing_month"]["value"] + full["dosing_month"]["previous"] > 0 or now > last
        if filters.is_empty:
            assert full["open_alerts"]["value"] > 0 or now > last


def test_recent_window_reads_few_vitals(demo):
    """The look-back reads only the vital signs of sessions reaching the excursion limits."""
    as_of = tiles_as_of(queries.sessions(demo)["started_at"].max().to_pydatetime())
    every = program_sql.recent_activity(demo, Filters(), since=recent_since(as_of))
    flagged = program_sql.recent_activity(
        demo,
        Filters(),
        since=recent_since(as_of),
        vitals_reaching=excursion_thresholds(load_settings({})),
    )
    assert 0 < len(flagged.vitals) < len(every.vitals)


@pytest.mark.parametrize("day", [20, 31, 47, 100])
def test_recent_phq9_keeps_positive_latest_item9_before_the_window(clinic, day):
    """Before the window only each patient's latest PHQ-9 with a known item 9 remains, and
    only when that item is above 0: in tests/clinic.py P2's day-30 PHQ-9 (item 9 = 1) stays
    once the window starts after it; P1's day-46 one (item 9 = 0) never does."""
    since = datetime.combine(ANCHOR + timedelta(days=day), datetime.min.time())
    recent = program_sql.recent_phq9(clinic, Filters(), since=since)
    every = queries.assessments(clinic, instruments=["PHQ-9"])
    before = every[(every["administered_at"] < since) & every["suicide_item"].notna()]
    latest = before.sort_values("administered_at").drop_duplicates("patient_id", keep="last")
    positive = latest[latest["suicide_item"] > 0]
    kept_before = recent[recent["administered_at"] < since]
    assert sorted(kept_before["id"]) == sorted(positive["id"])
    assert sorted(kept_before["patient_id"]) == (["P2"] if day > 30 else [])
    after = every[every["administered_at"] >= since]
    assert sorted(recent.loc[recent["administered_at"] >= since, "id"]) == sorted(after["id"])
    assert list(recent.columns) == queries.ASSESSMENT_COLUMNS


# --- Tile counts on hand-placed edges ------------------------------------------------------

AS_OF = datetime(2026, 3, 5)  # tiles as of the end of Wednesday 4 March 2026
D1, D2, D3, D4 = (
    datetime(2026, 2, 7, 10),  # PHQ-9 exactly 7 days before: measured
    datetime(2026, 2, 16, 10),  # PHQ-9 7 days and 1 second before: not measured
    datetime(2026, 2, 25, 10),  # PHQ-9 at the very start: measured
    datetime(2026, 3, 4, 12),  # course C2 (IM); PHQ-9 of course C1 an hour before
)


def _edge_clinic(url: str) -> None:
    from kapviz.db.migrate import upgrade
    from kapviz.db.models import Assessment, Course, Dosing, Patient, Session, SideEffect, Site

    engine = make_engine(url)
    upgrade(engine)
    second = timedelta(seconds=1)
    sessions = [
        ("S1", "C1", "dosing", "completed", D1, "iv"),
        ("S2", "C1", "dosing", "completed", D2, "iv"),
        ("S3", "C1", "dosing", "completed", D3, "iv"),
        ("S4", "C2", "dosing", "completed", D4, "im"),
        ("S5", "C1", "dosing", "cancelled", datetime(2026, 3, 3, 9), "iv"),
    ]
    phq9 = [
        ("C1", D1 - timedelta(days=7)),
        ("C1", D2 - timedelta(days=7) - second),
        ("C1", D3),
        ("C1", D4 - timedelta(hours=1)),
    ]
    effects = [
        ("S1", 1, "nausea"),
        ("S1", 2, "nausea"),
        ("S1", 3, "dizziness"),
        ("S4", 1, "nausea"),
    ]
    with engine.begin() as conn:
        conn.execute(insert(Site), [{"name": "Edge"}])
        conn.execute(insert(Patient), [{"patient_id": "X", "site": "Edge"}])
        conn.execute(insert(Course), [{"course_id": c, "patient_id": "X"} for c in ("C1", "C2")])
        conn.execute(
            insert(Session),
            [
                {"session_id": s, "patient_id": "X", "course_id": c, "phase": p, "status": st,
                 "started_at": at}
                for s, c, p, st, at, _ in sessions
            ],
        )  # fmt: skip
        conn.execute(
            insert(Dosing),
            [{"session_id": s, "route": r, "dose_mg": 50.0} for s, *_, r in sessions],
        )
        conn.execute(
            insert(Assessment),
            [
                {"patient_id": "X", "course_id": c, "instrument": "PHQ-9", "administered_at": at,
                 "total": 10}
                for c, at in phq9
            ],
        )  # fmt: skip
        conn.execute(
            insert(SideEffect),
            [{"session_id": s, "seq": q, "term": t, "severity": "mild"} for s, q, t in effects],
        )


@pytest.mark.parametrize(
    ("filters", "expected", "events"),
    [
        # Week from Monday 2 March: D4; the same span of the week before (23–26 Feb): D3.
        (Filters(), (1, 0, 1, 1, 1, 0, 3, 4, 0, 0), 3),
        (Filters(routes=("iv",)), (1, 0, 0, 1, 0, 0, 2, 3, 0, 0), 2),
        # C2 alone: the hour-old PHQ-9 belongs to C1, out of scope, so D4 is not measured.
        (Filters(routes=("im",)), (1, 0, 1, 0, 1, 0, 0, 1, 0, 0), 1),
    ],
    ids=["all", "iv", "im"],
)
def test_tile_counts_hand_placed_edges(db_url, filters, expected, events):
    """Pre-dose window edges (7 days exactly in, 1 s more out, a score at the start in), a
    cancelled dose left out, a score of another course out of a route's scope, one event per
    session × term; the frames' metrics agree."""
    _edge_clinic(db_url)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        counts, adverse = program_sql.tile_counts(conn, filters, now=AS_OF)
        sessions = queries.sessions(conn, filters)
        scores = queries.assessments(conn, filters, instruments=["PHQ-9"])
        effects = queries.side_effects(conn, filters)
    assert astuple(counts) == expected
    assert astuple(adverse) == (events, expected[7], 0, 0)
    assert counts == reference.director_counts(sessions, scores, now=AS_OF)
    assert adverse == reference.adverse_counts(sessions, effects, now=AS_OF)


def test_last_contact_of_some_patients_equals_the_clinic_wide_read(demo):
    """The tile looks up the last contact of the patients with an alert only: the same
    dates as the read of every patient, for those patients, in chunks of IN lists."""
    before = queries.sessions(demo)["started_at"].max().to_pydatetime() - timedelta(days=30)
    whole = safety_sql.last_contact(demo, Filters(), before=before)
    some = sorted(whole.index)[::3]
    got = safety_sql.last_contact(demo, Filters(), before=before, patients=[*some, "nobody"])
    assert len(got) == len(some) > 10
    assert got.sort_index().equals(whole[some].sort_index())
    assert safety_sql.last_contact(demo, Filters(), patients=[]).empty


@pytest.mark.parametrize(
    "filters", [Filters(), Filters(sites=("Demo Clinic North",))], ids=["all", "site"]
)
def test_alerts_only_rows_put_the_same_patients_on_the_worklist(demo, filters):
    """The tile's narrow read (sessions with an effect or a high reading, the PHQ-9s that
    can raise or clear an item-9 alert) lists the same patients for the same reasons as the
    whole look-back, now and 30 days before, at several moments; with far fewer rows."""
    settings = load_settings({})
    last = queries.sessions(demo)["started_at"].max().to_pydatetime()
    for now in (last, last - timedelta(days=45, hours=3), last + timedelta(days=20)):
        as_of = tiles_as_of(now)
        every = _recent(demo, filters, as_of)
        narrow = program_sql.recent_activity(
            demo,
            filters,
            since=recent_since(as_of),
            vitals_reaching=excursion_thresholds(settings),
            alerts_only=True,
        )
        assert len(narrow.sessions) < len(every.sessions) / 2
        assert len(narrow.phq9) < len(every.phq9) / 2
        tables = [
            program.open_alert_tables(
                r.sessions, r.side_effects, r.vitals, r.phq9, settings=settings, now=as_of
            )
            for r in (every, narrow)
        ]
        for whole, few in zip(*tables, strict=True):
            pairs = sorted(zip(whole["patient_id"], whole["reason"], strict=True))
            assert pairs == sorted(zip(few["patient_id"], few["reason"], strict=True)), now
            assert len(whole) > 0 or now > last
