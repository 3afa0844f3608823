"""The demo clinic: deterministic, clearly synthetic, realistic in shape and frequencies."""

from collections import Counter
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import func, inspect, select

from kapviz.db.engine import make_engine
from kapviz.db.migrate import upgrade
from kapviz.db.models import Clinician, ImportRun, Site
from kapviz.db.queries import newest_record_at
from kapviz.demo import COLUMNS, TABLES, as_of, build_clinic, generate_clinic
from kapviz.instruments import get as instrument
from kapviz.metrics.outcomes import course_outcomes

TODAY = date(2026, 11, 27)


@pytest.fixture(scope="module")
def clinic() -> dict[str, pd.DataFrame]:
    rows = build_clinic(600, 11, TODAY)
    return {name: pd.DataFrame(rows[name], columns=list(cols)) for name, cols in COLUMNS.items()}


def test_deterministic():
    """Same seed and day give identical rows; another seed gives different ones."""
    assert build_clinic(50, 3, TODAY) == build_clinic(50, 3, TODAY)
    assert build_clinic(50, 3, TODAY)["sessions"] != build_clinic(50, 4, TODAY)["sessions"]


def test_clearly_synthetic(clinic):
    """Every id says DEMO, every site says Demo Clinic."""
    assert clinic["patients"]["patient_id"].str.startswith("DEMO-").all()
    assert clinic["patients"]["site"].str.startswith("Demo Clinic ").all()
    assert clinic["sessions"]["session_id"].str.startswith("DEMO-S").all()


def test_nothing_in_the_future_and_18_months(clinic):
    """All sessions and scores fall in the last ~18 months up to today; some are recent."""
    end = datetime(2026, 11, 27, 23, 59)
    started = clinic["sessions"]["started_at"]
    assert started.max() <= end and clinic["assessments"]["administered_at"].max() <= end
    assert (pd.Timestamp(end) - started.min()).days <= 560
    assert (started >= pd.Timestamp("2026-10-28")).sum() > 100


def test_course_shapes(clinic):
    """Intake first; ineligible patients never dosed; cancelled sessions have no records."""
    s = clinic["sessions"]
    first = s.sort_values("started_at").groupby("course_id").first()
    assert (first.loc[first.index.str.endswith("-C1"), "phase"] == "intake").all()
    intake = s[s["phase"] == "intake"]
    ineligible = set(intake.loc[intake["eligible"] == False, "patient_id"])  # noqa: E712
    assert 0.06 < len(ineligible) / len(intake) < 0.2
    assert not set(s.loc[s["phase"] == "dosing", "patient_id"]) & ineligible
    missed = set(s.loc[s["status"] != "completed", "session_id"])
    assert 0.04 < len(missed) / len(s) < 0.12
    for table in ("assessments", "side_effects", "vitals"):
        assert not set(clinic[table]["session_id"].dropna()) & missed
    assert (s.groupby("patient_id")["course_id"].nunique() > 1).sum() > 5


def test_doses_plausible(clinic):
    """Doses by route within DOMAIN.md ranges; esketamine only intranasal 56/84 mg."""
    d = clinic["dosings"]
    iv = d[d["route"] == "iv"]
    assert iv["dose_mg_per_kg"].between(0.1, 0.75).all()
    assert set(d.loc[d["route"] == "intranasal", "dose_mg"]) <= {56.0, 84.0}
    assert (d.loc[d["drug"] == "esketamine", "route"] == "intranasal").all()
    assert d.loc[d["route"].isin(["sublingual", "oral"]), "dose_mg"].between(25, 300).all()
    assert set(d["route"]) == {"iv", "im", "sublingual", "oral", "intranasal"}


def test_outcome_mix(clinic):
    """About half respond and a quarter remit on PHQ-9, and some get worse."""
    sessions = clinic["sessions"].merge(clinic["dosings"], on="session_id", how="left")
    scores = clinic["assessments"].assign(id=range(len(clinic["assessments"])))
    outcomes = course_outcomes(sessions, scores)
    phq = outcomes[(outcomes["instrument"] == "PHQ-9") & outcomes["evaluable"]]
    assert 0.38 < phq["is_response"].astype(float).mean() < 0.6
    remission = phq.loc[~phq["baseline_in_remission"], "is_remission"].astype(float).mean()
    assert 0.15 < remission < 0.35
    assert (phq["change"] > 0).mean() > 0.05


def test_items_and_suicidality(clinic):
    """Item-level PHQ-9s sum to their totals; a few patients have item 9 > 0."""
    a = clinic["assessments"]
    items = a[a["items"].notna()]
    assert 0.3 < len(items) / (a["instrument"] == "PHQ-9").sum() < 0.55
    sums = items["items"].map(lambda s: sum(map(int, s.strip("[]").split(","))))
    assert (sums == items["total"]).all()
    flagged = a.loc[a["suicide_item"].fillna(0) > 0, "patient_id"].nunique()
    assert 0.005 < flagged / len(clinic["patients"]) < 0.06


@pytest.mark.parametrize(
    ("term", "reference"),
    [
        ("dissociation", 0.41),
        ("dizziness", 0.29),
        ("nausea", 0.28),
        ("sedation", 0.23),
        ("vertigo", 0.23),
        ("headache", 0.20),
        ("hypertension", 0.10),
        ("vomiting", 0.09),
        ("feeling drunk", 0.05),
    ],
)
def test_side_effect_patient_rates_near_label(clinic, term, reference):
    """Per-patient rates among dosed patients fall within ±0.08 of the DOMAIN §4 label figures."""
    s = clinic["sessions"]
    dosed = s[(s["phase"] == "dosing") & (s["status"] == "completed")]
    effects = clinic["side_effects"].merge(dosed[["session_id", "patient_id"]], on="session_id")
    rate = (
        effects.loc[effects["term"] == term, "patient_id"].nunique() / dosed["patient_id"].nunique()
    )
    assert abs(rate - reference) < 0.08


def test_side_effects_decline_over_doses(clinic):
    """Tolerance: fewer records per session at dose 5 than at dose 1."""
    s = clinic["sessions"]
    dosed = s[(s["phase"] == "dosing") & (s["status"] == "completed")].sort_values("started_at")
    dosed = dosed.assign(n=dosed.groupby("course_id").cumcount() + 1)
    per = clinic["side_effects"].groupby("session_id").size()
    dosed = dosed.assign(records=dosed["session_id"].map(per).fillna(0))
    by_dose = dosed.groupby("n")["records"].mean()
    assert by_dose[5] < by_dose[1]


def test_vitals_rise_and_rare_excursions(clinic):
    """Mean systolic rise at ~40 min is 10–25 mmHg; excursions in 0.2–3% of sessions."""
    v = clinic["vitals"]
    pre = v[v["minutes_from_dose"] == -10].set_index("session_id")["systolic"]
    peak = v[v["minutes_from_dose"].isin([40, 45])].set_index("session_id")["systolic"]
    rise = (peak - pre.reindex(peak.index)).mean()
    assert 10 < rise < 25
    excursion = v[(v["systolic"] >= 180) | (v["diastolic"] >= 110)]["session_id"].nunique()
    assert 0.002 < excursion / v["session_id"].nunique() < 0.03
    assert (v["systolic"] > v["diastolic"]).all()
    counts = Counter(v["session_id"])
    assert min(counts.values()) >= 6


def test_generate_into_database(db_url):
    """Every table holds exactly the built rows on both backends; a second run refuses."""
    engine = make_engine(db_url)
    stats = generate_clinic(engine, patients=40, seed=5, today=TODAY)
    rows = build_clinic(40, 5, TODAY)
    tables = dict(TABLES, sites=Site, clinicians=Clinician)
    with engine.connect() as conn:
        for name, model in tables.items():
            count = conn.execute(select(func.count()).select_from(model)).scalar_one()
            assert count == len(rows[name]), name
        run = conn.execute(select(ImportRun.kind, ImportRun.is_demo, ImportRun.source)).one()
    assert {name: stats.counts[name] for name in TABLES} == {n: len(rows[n]) for n in TABLES}
    assert tuple(run) == ("demo", True, "synthetic demo clinic (seed 5, 40 patients)")
    with pytest.raises(ValueError, match="already holds 40 patients"):
        generate_clinic(engine, patients=40, seed=5, today=TODAY)
    engine.dispose()


def _schema(engine) -> dict[str, tuple]:
    """Every table's indexes and foreign keys, as the database reports them."""
    found = inspect(engine)
    return {
        table: (
            sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                   for i in found.get_indexes(table)),
            sorted((tuple(k["constrained_columns"]), k["referred_table"])
                   for k in found.get_foreign_keys(table)),
        )
        for table in found.get_table_names()
    }  # fmt: skip


def test_generate_writes_the_built_values_and_keeps_the_schema(db_url):
    """The bulk load stores every built value as built (dates, times to the microsecond,
    true/false, missing values, JSON text), and leaves the indexes, foreign keys and (on
    SQLite) their enforcement exactly as the migrations made them."""
    engine = make_engine(db_url)
    upgrade(engine)
    schema = _schema(engine)
    generate_clinic(engine, patients=30, seed=3, today=TODAY)
    rows = build_clinic(30, 3, TODAY)
    with engine.connect() as conn:
        for name, model in TABLES.items():
            columns = [model.__table__.c[c] for c in COLUMNS[name]]
            stored = [tuple(r) for r in conn.execute(select(*columns))]
            assert sorted(stored, key=repr) == sorted(rows[name], key=repr), name
        if engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert _schema(engine) == schema
    engine.dispose()


@pytest.mark.parametrize("name", ["PHQ-9", "GAD-7", "PCL-5", "CADSS", "MOAA/S"])
def test_scores_within_registry_ranges(clinic, name):
    """Every generated total lies within the registry's range for its instrument."""
    totals = clinic["assessments"].loc[clinic["assessments"]["instrument"] == name, "total"]
    assert len(totals) > 0
    assert totals.between(instrument(name).total_min, instrument(name).total_max).all()


def test_only_outcome_and_safety_instruments(clinic):
    """PCL-5 only for PTSD patients; CADSS and MOAA/S only at completed dosing sessions."""
    a, s = clinic["assessments"], clinic["sessions"]
    ptsd = set(clinic["patients"].loc[clinic["patients"]["indication"] == "PTSD", "patient_id"])
    assert set(a.loc[a["instrument"] == "PCL-5", "patient_id"]) <= ptsd
    dosed = set(s.loc[(s["phase"] == "dosing") & (s["status"] == "completed"), "session_id"])
    safety = a[a["instrument"].isin(["CADSS", "MOAA/S"])]
    assert set(safety["session_id"]) == dosed


def test_sedation_and_dissociation_shapes(clinic):
    """MOAA/S mostly 4–5, ~10% at or below 3, 0 very rare; CADSS falls from dose 1 to 5."""
    a, s = clinic["assessments"], clinic["sessions"]
    moaas = a.loc[a["instrument"] == "MOAA/S", "total"]
    assert (moaas >= 4).mean() > 0.8
    assert 0.04 < (moaas <= 3).mean() < 0.2
    assert (moaas == 0).mean() < 0.01
    dosed = s[(s["phase"] == "dosing") & (s["status"] == "completed")].sort_values("started_at")
    number = dosed.set_index("session_id").groupby("course_id").cumcount() + 1
    cadss = a[a["instrument"] == "CADSS"].assign(n=lambda f: f["session_id"].map(number))
    by_dose = cadss.groupby("n")["total"].mean()
    assert by_dose[1] > by_dose[5]


def test_dosing_fields_consistent(clinic):
    """IV/IM weighed, mg/kg = dose/weight; IM ~0.5–1 mg/kg; IV 40 min; few short REMS watches."""
    d = clinic["dosings"]
    weighed = d[d["route"].isin(["iv", "im"])]
    assert weighed["weight_kg"].notna().all()
    ratio = (weighed["dose_mg"] / weighed["weight_kg"]).round(3)
    assert (ratio - weighed["dose_mg_per_kg"]).abs().max() < 0.002
    # Doses are rounded down to 0.1 mg, so 0.5 mg/kg may come out as 0.499.
    assert d.loc[d["route"] == "im", "dose_mg_per_kg"].between(0.49, 1.0).all()
    assert (d.loc[d["route"] == "iv", "duration_min"] == 40).all()
    esk = d.loc[d["drug"] == "esketamine", "monitoring_min"]
    assert 0.005 < (esk < 120).mean() < 0.1


def test_sites_and_clinicians_scale():
    """max(3, patients // 400) sites capped at 50, each with synthetic clinician codes."""
    for patients, sites in ((10, 3), (1_600, 4)):
        rows = build_clinic(patients, 1, TODAY)
        assert len(rows["sites"]) == sites
        assert all(code.startswith("DEMO-CL-") for (code,) in rows["clinicians"])


# Seed 7, 30 patients, on TODAY: an integration session at 10:00 (PHQ-9 10:00, GAD-7 10:05),
# a sublingual dose at 13:45 (PHQ-9 13:15, GAD-7 13:20, CADSS 14:25, MOAA/S 14:26, one side
# effect 10 min in, 7 vital signs from −10 to +120 min, 60 min monitoring) and a follow-up
# at 16:15 (PHQ-9 16:25, GAD-7 16:30). At 14:30 the dose is still under way.
MIDDAY = datetime(2026, 11, 27, 14, 30)


def _frames(rows: dict[str, list[tuple]]) -> dict[str, pd.DataFrame]:
    return {name: pd.DataFrame(rows[name], columns=list(cols)) for name, cols in COLUMNS.items()}


def test_nothing_recorded_after_now():
    """At 14:30 no completed session starts, no score is taken, no vital sign is read and no
    side effect begins after now; today's only session so far, the 13:00 dose, is still
    under way, so the newest record is yesterday's 16:15 GAD-7 after the 16:00 session."""
    c = _frames(build_clinic(30, 57, now=MIDDAY))
    sessions = c["sessions"].set_index("session_id")
    completed = sessions[sessions["status"] == "completed"]
    assert completed["started_at"].max() == datetime(2026, 11, 26, 16, 0)
    assert c["assessments"]["administered_at"].max() == datetime(2026, 11, 26, 16, 15)
    start = c["vitals"]["session_id"].map(sessions["started_at"])
    read = start + pd.to_timedelta(c["vitals"]["minutes_from_dose"], unit="min")
    assert read.max() <= MIDDAY
    onset = c["side_effects"]["session_id"].map(sessions["started_at"]) + pd.to_timedelta(
        c["side_effects"]["onset_min"], unit="min"
    )
    assert onset.max() <= MIDDAY


def test_sessions_later_today_or_under_way_are_left_out():
    """Against the same clinic at the end of the day, 14:30 lacks exactly the 15:00
    integration session and the 13:00 IM dose still under way (its vital signs run to
    15:00), with all their rows: 2 sessions, 1 dosing, 6 scores (the dose's PHQ-9, GAD-7,
    CADSS and MOAA/S, the integration's PHQ-9 and GAD-7), 1 side effect, 9 vital signs.
    Every other row is the same (the random draws do not depend on the time)."""
    full, midday = build_clinic(30, 57, TODAY), build_clinic(30, 57, now=MIDDAY)
    missing = {name: len(full[name]) - len(midday[name]) for name in COLUMNS}
    assert missing == {
        "patients": 0,
        "courses": 0,
        "sessions": 2,
        "dosings": 1,
        "assessments": 6,
        "side_effects": 1,
        "vitals": 9,
    }
    gone = {r[0] for r in full["sessions"]} - {r[0] for r in midday["sessions"]}
    assert {r[3] for r in full["sessions"] if r[0] in gone} == {
        datetime(2026, 11, 27, 13, 0),
        datetime(2026, 11, 27, 15, 0),
    }
    for name in COLUMNS:
        kept = set(midday[name])
        assert [r for r in full[name] if r in kept] == midday[name], name


def test_a_day_means_its_end_and_the_clock_by_default():
    """`today` alone is the end of that day (the rows tests pin stay as they were); `now`
    wins and must fall on `today`; neither means the clock."""
    assert as_of(TODAY) == datetime(2026, 11, 27, 23, 59, 59, 999999)
    assert as_of(TODAY, MIDDAY) == as_of(now=MIDDAY) == MIDDAY
    assert build_clinic(30, 7, TODAY) == build_clinic(30, 7, now=as_of(TODAY))
    with pytest.raises(ValueError, match="not on today"):
        as_of(TODAY + timedelta(days=1), MIDDAY)
    before = datetime.now()
    assert before <= as_of() <= datetime.now()


def test_generate_as_of_now_into_database(tmp_path):
    """The database written at 14:30 says "data as of" yesterday 16:15 (today's 13:00 dose
    is still under way), not later today."""
    engine = make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    generate_clinic(engine, patients=30, seed=57, now=MIDDAY)
    with engine.connect() as conn:
        assert newest_record_at(conn) == datetime(2026, 11, 26, 16, 15)
    engine.dispose()


def test_every_course_has_a_session_and_survives_the_template(tmp_path):
    """The demo makes no course without sessions (a re-induction not begun by today is not
    made), so export → import into an empty database keeps every course (issue 16)."""
    from kapviz.db.models import Course, Session
    from kapviz.io.export import export_template
    from kapviz.io.template import read_template
    from kapviz.io.validate import validate
    from kapviz.io.write import write_batch

    source = make_engine(f"sqlite:///{tmp_path}/demo.db")
    generate_clinic(source, patients=300, seed=7)
    with source.connect() as conn:
        courses = set(conn.execute(select(Course.course_id)).scalars())
        with_sessions = set(conn.execute(select(Session.course_id).distinct()).scalars())
    assert courses == with_sessions
    export_template(source, tmp_path / "out")
    target = make_engine(f"sqlite:///{tmp_path}/copy.db")
    validated = validate(read_template(tmp_path / "out"))
    assert validated.problems == []
    write_batch(target, validated, source="demo export", kind="template")
    with target.connect() as conn:
        assert set(conn.execute(select(Course.course_id)).scalars()) == courses
