"""A tiny hand-written clinic whose every number can be computed by hand.

Used by query, summary, CLI and page tests. Dates are offsets from an anchor day so that
"last 30 days" tiles can be tested too; `ANCHOR` is the default anchor.

Patients (sites North/South):
- P1 North TRD: intake (eligible), preparation, 4 completed IV dosing sessions
  (35 mg, 70 kg → 0.5 mg/kg), integration, follow-up. PHQ-9 20 at intake (day 0),
  18 on day 7 at 08:00 before the first dose at 09:00 (baseline), 12 on day 14,
  8 on day 46 (endpoint, item-level, item 9 = 0): change −10, −55.6 % → response, not
  remission, reliable improvement. GAD-7 12 → 6 (−50 %: response; −6: reliable).
  Side effects on dose 1: dissociation moderate + dissociation severe (one session,
  counted once, severe) and nausea mild; dose 2: dissociation mild. Vitals on dose 1:
  −5 min 130/80, 40 min 182/95 (excursion: systolic ≥ 180), 90 min 140/85.
- P2 North PTSD: intake (eligible), first dosing session cancelled (day 6), then 3
  completed IM dosing sessions (days 7, 10, 14; 60 mg, 80 kg → 0.75 mg/kg), integration.
  PHQ-9 10 (day 5, baseline), 4 (day 30, endpoint, items with item 9 = 1):
  −60 % → response and remission. PCL-5 50 (day 5) → 41 (day 30): −9 → no response
  (10-point rule), reliable change needs 9 → reliable improvement. Side effect: dizziness
  mild on the cancelled session (never counted), nausea moderate on dose 1. Vitals on
  dose 1: 0 min 150/92 (pre-dose review), 40 min 170/109 (no excursion: 109 < 110).
- P3 South MDD: intake not eligible ("uncontrolled hypertension"). Nothing else.
- P4 South TRD: intake (eligible), 2 completed sublingual dosing sessions (200 mg),
  then dropped out. PHQ-9 22 forty days before the first dose (outside the 30-day
  window) and 15 after → not evaluable (no baseline).
- P5 South GAD: referred only (a patient record, no sessions).
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

from sqlalchemy import Engine, insert

from kapviz.db.migrate import upgrade
from kapviz.db.models import (
    Assessment,
    Clinician,
    Course,
    Dosing,
    ImportRun,
    Patient,
    Session,
    SideEffect,
    Site,
    VitalSign,
)

ANCHOR = date(2026, 1, 5)


def _at(anchor: date, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime.combine(anchor + timedelta(days=day), time(hour, minute))


def clinic_rows(anchor: date = ANCHOR) -> dict[str, list[dict]]:
    """The rows of the tiny clinic, per table."""
    at = lambda day, hour=9, minute=0: _at(anchor, day, hour, minute)  # noqa: E731
    rows: dict[str, list[dict]] = {
        "sites": [{"name": "North"}, {"name": "South"}],
        "clinicians": [{"code": "CL-N1"}, {"code": "CL-S1"}],
        "patients": [
            dict(
                patient_id="P1",
                site="North",
                sex="female",
                birth_year=1980,
                indication="TRD",
                enrolled_on=anchor,
            ),
            dict(
                patient_id="P2",
                site="North",
                sex="male",
                birth_year=1975,
                indication="PTSD",
                enrolled_on=anchor,
            ),
            dict(
                patient_id="P3",
                site="South",
                sex="female",
                birth_year=1990,
                indication="MDD",
                enrolled_on=anchor,
            ),
            dict(
                patient_id="P4",
                site="South",
                sex="male",
                birth_year=1985,
                indication="TRD",
                enrolled_on=anchor,
            ),
            dict(
                patient_id="P5",
                site="South",
                sex="other",
                birth_year=2000,
                indication="GAD",
                enrolled_on=anchor,
            ),
        ],
        "courses": [{"course_id": f"P{i}-C1", "patient_id": f"P{i}"} for i in (1, 2, 3, 4)],
    }
    sessions = []
    dosings = []

    def session(sid, pid, day, phase, status="completed", hour=9, **extra):
        eligible = extra.pop("eligible", None)
        reason = extra.pop("ineligible_reason", None)
        sessions.append(
            dict(
                session_id=sid,
                patient_id=pid,
                course_id=f"{pid}-C1",
                started_at=at(day, hour),
                phase=phase,
                status=status,
                clinician="CL-N1" if pid in ("P1", "P2") else "CL-S1",
                eligible=eligible,
                ineligible_reason=reason,
            )
        )
        if extra:
            dosings.append(dict(session_id=sid, **extra))

    iv = dict(
        route="iv",
        drug="ketamine",
        dose_mg=35.0,
        weight_kg=70.0,
        dose_mg_per_kg=0.5,
        duration_min=40,
        monitoring_min=120,
    )
    session("P1-S1", "P1", 0, "intake", eligible=True)
    session("P1-S2", "P1", 3, "preparation")
    for n, day in enumerate((7, 10, 14, 17), start=1):
        session(f"P1-D{n}", "P1", day, "dosing", **iv)
    session("P1-S3", "P1", 21, "integration")
    session("P1-S4", "P1", 46, "follow_up")

    im = dict(
        route="im",
        drug="ketamine",
        dose_mg=60.0,
        weight_kg=80.0,
        dose_mg_per_kg=0.75,
        duration_min=None,
        monitoring_min=90,
    )
    session("P2-S1", "P2", 1, "intake", eligible=True)
    session("P2-D0", "P2", 6, "dosing", status="cancelled", **im)
    for n, day in enumerate((7, 10, 14), start=1):
        session(f"P2-D{n}", "P2", day, "dosing", **im)
    session("P2-S2", "P2", 16, "integration")

    session(
        "P3-S1", "P3", 2, "intake", eligible=False, ineligible_reason="uncontrolled hypertension"
    )

    sl = dict(
        route="sublingual",
        drug="ketamine",
        dose_mg=200.0,
        weight_kg=None,
        dose_mg_per_kg=None,
        duration_min=None,
        monitoring_min=120,
    )
    session("P4-S1", "P4", 0, "intake", eligible=True)
    session("P4-D1", "P4", 40, "dosing", **sl)
    session("P4-D2", "P4", 44, "dosing", **sl)

    rows["sessions"] = sessions
    rows["dosings"] = dosings

    def score(pid, instrument, day, total, hour=9, sid=None, items=None):
        return dict(
            patient_id=pid,
            course_id=f"{pid}-C1",
            session_id=sid,
            instrument=instrument,
            administered_at=at(day, hour),
            total=total,
            items=json.dumps(items) if items else None,
            suicide_item=items[8] if items and instrument == "PHQ-9" else None,
        )

    rows["assessments"] = [
        score("P1", "PHQ-9", 0, 20, sid="P1-S1"),
        score("P1", "PHQ-9", 7, 18, hour=8),
        score("P1", "PHQ-9", 14, 12, sid="P1-D3"),
        score("P1", "PHQ-9", 46, 8, sid="P1-S4", items=[1, 1, 1, 1, 1, 1, 1, 1, 0]),
        score("P1", "GAD-7", 7, 12, hour=8),
        score("P1", "GAD-7", 46, 6, sid="P1-S4"),
        score("P1", "MOAA/S", 7, 4, hour=10, sid="P1-D1"),
        score("P1", "CADSS", 7, 20, hour=10, sid="P1-D1"),
        score("P2", "PHQ-9", 5, 10),
        score("P2", "PHQ-9", 30, 4, items=[1, 1, 0, 0, 0, 1, 0, 0, 1]),
        score("P2", "PCL-5", 5, 50),
        score("P2", "PCL-5", 30, 41),
        score("P2", "MOAA/S", 7, 3, hour=10, sid="P2-D1"),
        score("P4", "PHQ-9", 0, 22, sid="P4-S1"),
        score("P4", "PHQ-9", 44, 15, hour=11, sid="P4-D2"),
    ]

    def effect(sid, seq, term, severity, **extra):
        return dict(
            session_id=sid,
            seq=seq,
            term=term,
            verbatim=extra.pop("verbatim", term),
            severity=severity,
            ctcae_grade=extra.pop("ctcae_grade", None),
            serious=extra.pop("serious", False),
            onset_min=extra.pop("onset_min", 20),
            resolved=True,
            action="observation",
        )

    rows["side_effects"] = [
        effect("P1-D1", 1, "dissociation", "moderate"),
        effect("P1-D1", 2, "dissociation", "severe", ctcae_grade=3),
        effect("P1-D1", 3, "nausea", "mild"),
        effect("P1-D2", 1, "dissociation", "mild"),
        effect("P2-D0", 1, "dizziness", "mild"),
        effect("P2-D1", 1, "nausea", "moderate"),
    ]

    def vital(sid, minute, sys, dia, hr=72, spo2=98):
        return dict(
            session_id=sid,
            minutes_from_dose=minute,
            systolic=sys,
            diastolic=dia,
            heart_rate=hr,
            spo2=spo2,
        )

    rows["vitals"] = [
        vital("P1-D1", -5, 130, 80),
        vital("P1-D1", 40, 182, 95),
        vital("P1-D1", 90, 140, 85),
        vital("P2-D1", 0, 150, 92),
        vital("P2-D1", 40, 170, 109),
    ]
    return rows


TABLES = [
    ("sites", Site),
    ("clinicians", Clinician),
    ("patients", Patient),
    ("courses", Course),
    ("sessions", Session),
    ("dosings", Dosing),
    ("assessments", Assessment),
    ("side_effects", SideEffect),
    ("vitals", VitalSign),
]


def build_clinic(engine: Engine, anchor: date = ANCHOR, *, is_demo: bool = False) -> None:
    """Create the schema and insert the tiny clinic."""
    upgrade(engine)
    rows = clinic_rows(anchor)
    with engine.begin() as conn:
        for name, model in TABLES:
            conn.execute(insert(model), rows[name])
        conn.execute(
            insert(ImportRun),
            [dict(source="tests/clinic.py", kind="test", added=0, updated=0, is_demo=is_demo)],
        )
