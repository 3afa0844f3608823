"""The synthetic demo clinic: seeded, realistic, clearly labelled as not real patients.

Every id starts with `DEMO-`, sites are "Demo Clinic …", clinicians are codes; no names
anywhere. Course shapes, doses, score trajectories, side-effect frequencies and blood
pressure curves follow docs/domain.md §1–4 so that every page has plausible numbers to show.
Same seed and same `now` → identical rows; nothing is recorded after `now`.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
from sqlalchemy import Engine, func, insert, select

from kapviz import clinic_time
from kapviz.db import rollups
from kapviz.db.bulk import begin_bulk_load, bulk_insert
from kapviz.db.engine import refresh_statistics
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
from kapviz.instruments import get as instrument
from kapviz.vocabulary import REFERENCE_RATES, SYNONYMS

log = logging.getLogger(__name__)

SITE_NAMES = (
    "North", "South", "East", "West", "Harbour", "Valley", "Riverside", "Hillside",
    "Lakeside", "Parkview", "Meadow", "Bridgeport", "Old Town", "Seaview", "Highland",
    "Greenfield", "Stonebridge", "Ashford", "Brookside", "Cedar", "Elm Street", "Fairview",
    "Glenwood", "Hawthorn", "Ironbridge", "Juniper", "Kingsway", "Larchmont", "Millbrook",
    "Northgate", "Oakwood", "Pinecrest", "Queensway", "Rosewood", "Southgate", "Thornbury",
    "Upton", "Victoria", "Westbrook", "Yarrow", "Ambleside", "Birchwood", "Clearwater",
    "Dunmore", "Eastgate", "Foxhill", "Granger", "Holloway", "Ivybridge", "Kestrel",
)  # fmt: skip

INDICATIONS = (("TRD", 0.45), ("MDD", 0.2), ("PTSD", 0.15), ("GAD", 0.08),
               ("bipolar depression", 0.07), ("other", 0.05))  # fmt: skip
INELIGIBLE_REASONS = (("uncontrolled hypertension", 0.35), ("psychosis history", 0.25),
                      ("active substance misuse", 0.25), ("pregnancy", 0.15))  # fmt: skip
ROUTE_MIXES = (
    {"iv": 0.6, "im": 0.1, "sublingual": 0.15, "intranasal": 0.15},
    {"iv": 0.2, "im": 0.3, "sublingual": 0.3, "oral": 0.1, "intranasal": 0.1},
    {"sublingual": 0.5, "oral": 0.2, "iv": 0.1, "intranasal": 0.2},
    {"intranasal": 0.6, "iv": 0.3, "im": 0.1},
)
HOURS = (8, 9, 10, 11, 13, 14, 15, 16)
SEVERE_BP_SHARE = 0.01
"""Share of dosing sessions with a severe blood-pressure excursion (docs/domain.md §4)."""
VITAL_TIMES_IV = (-10, 10, 20, 30, 40, 60, 80, 100, 120)
"""Minutes from the start of an IV or IM dose at which vitals are taken (pre-dose first)."""
VITAL_TIMES_OTHER = (-10, 20, 40, 60, 80, 100, 120)
"""The same for sublingual, oral and intranasal doses."""

# Per-dose probability of each effect at dose 1 (before tolerance and dose scaling), set so
# that per-patient rates over a course land near the esketamine label (docs/domain.md §4).
EXTRA_EFFECTS = {"fatigue": 8, "euphoria": 5, "blurred vision": 4, "insomnia": 3,
                 "tachycardia": 3, "confusion": 2}  # fmt: skip
TOLERANCE = 0.8
"""Each further dose multiplies the chance of a side effect by this (tolerance)."""
DOSE_STRENGTH_FACTOR = 1.25
"""Mean per-dose multiplier from dose strength, longer esketamine series and boosters
(measured on the generated clinic), divided out so per-patient rates match the label."""
COURSE_EXPOSURE = sum(TOLERANCE**k for k in range(6)) * DOSE_STRENGTH_FACTOR


def _synonyms() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for text, term in SYNONYMS.items():
        out.setdefault(term, []).append(text)
    return out


@dataclass
class DemoStats:
    """What `generate_clinic` wrote, and how long it took."""

    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    seed: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds of each step (build, write, statistics, rollups): where a slow run went."""

    def describe(self) -> str:
        """One log line: rows per table and seconds (in all, and per step)."""
        rows = ", ".join(f"{n:,} {t}" for t, n in self.counts.items())
        steps = ", ".join(f"{name} {s:.1f} s" for name, s in self.phases.items())
        text = f"synthetic demo clinic (seed {self.seed}): {rows} in {self.seconds:.1f} s"
        return f"{text} ({steps})" if steps else text


TOP = {name: instrument(name).total_max for name in ("PHQ-9", "GAD-7", "PCL-5", "CADSS")}
"""Highest possible totals, from the registry: generated scores are clipped to them."""


def _pick(rng: random.Random, weighted) -> str:
    """One key of a {key: weight} mapping or (key, weight) pairs, drawn by weight."""
    items = list(weighted.items()) if isinstance(weighted, dict) else list(weighted)
    return rng.choices([k for k, _ in items], [w for _, w in items])[0]


def _clip(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


@dataclass
class _CourseState:
    """What the generator tracks while it walks through one course."""

    pid: str
    cid: str
    clinician: str
    route: str
    drug: str
    profile: dict
    doses: int = 0
    first_dose: datetime | None = None
    last: datetime | None = None


class _Records:
    """The clinic's tables as the generator writes them, with the session ids it hands out."""

    def __init__(self):
        self.rows: dict[str, list[tuple]] = {
            k: []
            for k in (
                "patients",
                "courses",
                "sessions",
                "dosings",
                "assessments",
                "side_effects",
                "vitals",
            )  # fmt: skip
        }
        self.session_seq = 0

    def session(self, pid, cid, when, phase, status="completed", clinician=None, **intake):
        self.session_seq += 1
        sid = f"DEMO-S{self.session_seq:07d}"
        self.rows["sessions"].append(
            (sid, pid, cid, when, phase, status, clinician,
             intake.get("eligible"), intake.get("reason"))
        )  # fmt: skip
        return sid

    def score(self, pid, cid, sid, instrument, when, total, items=None):
        suicide = items[8] if items is not None and instrument == "PHQ-9" else None
        self.rows["assessments"].append(
            (pid, cid, sid, instrument, when, int(total),
             json.dumps(items) if items is not None else None, suicide)
        )  # fmt: skip


class _Scores:
    """Outcome scores (PHQ-9 with its items, GAD-7, PCL-5) along each course's trajectory."""

    def __init__(self, rng: random.Random, records: _Records):
        self.rng = rng
        self.records = records

    def phq9_items(self, total: int, item9: int) -> list[int]:
        """Spread a PHQ-9 total over the items (each 0–3), with item 9 fixed."""
        items = [0] * 8 + [item9]
        remaining = max(0, total - item9)
        slots = list(range(8))
        while remaining and slots:
            k = self.rng.choice(slots)
            items[k] += 1
            remaining -= 1
            if items[k] == 3:
                slots.remove(k)
        if remaining:  # only when total > 24 + item9: the rest goes to item 9
            items[8] = min(3, items[8] + remaining)
        return items

    def improvement(self) -> float:
        """Share of the baseline lost by the end of the course (negative = worse)."""
        u = self.rng.random()
        if u < 0.27:
            return self.rng.uniform(0.78, 0.97)  # remitters
        if u < 0.52:
            return self.rng.uniform(0.52, 0.72)  # responders
        if u < 0.82:
            return self.rng.uniform(0.1, 0.45)  # partial
        if u < 0.91:
            return self.rng.uniform(-0.05, 0.1)  # no change
        return self.rng.uniform(-0.35, -0.12)  # worse

    def trajectory(self, base: float, profile: dict, days: float, top: int) -> int:
        """Score `days` after the first dose: exponential approach to the course's end level."""
        shift = (
            0.0 if days <= 0 else profile["improvement"] * (1 - math.exp(-days / profile["tau"]))
        )
        return int(round(_clip(base * (1 - shift) + self.rng.gauss(0, 1.6), 0, top)))

    def outcome_scores(self, pid, cid, sid, when, profile, first_dose, *, pcl=False):
        days = (when - first_dose).total_seconds() / 86400 if first_dose else -1
        phq = self.trajectory(profile["phq_base"], profile, days, TOP["PHQ-9"])
        item9 = 0
        if profile["item9"] and self.rng.random() < 0.5:
            item9 = self.rng.choice((1, 1, 2))
        items = None
        if item9 or self.rng.random() < 0.4:
            # Above 24 a PHQ-9 needs item 9 > 0: keep the unflagged patients' item sets below.
            phq = max(phq, item9) if item9 else min(phq, 24)
            items = self.phq9_items(phq, item9)
        self.records.score(pid, cid, sid, "PHQ-9", when, phq, items)
        gad = self.trajectory(profile["gad_base"], profile, days, TOP["GAD-7"])
        self.records.score(pid, cid, sid, "GAD-7", when + timedelta(minutes=5), gad)
        if pcl and profile["ptsd"]:
            pcl5 = self.trajectory(profile["pcl_base"], profile, days, TOP["PCL-5"])
            self.records.score(pid, cid, sid, "PCL-5", when + timedelta(minutes=10), pcl5)


class _Dosing:
    """One dosing session's events: the dose, its monitoring time, CADSS, MOAA/S, side
    effects and vital signs (these drawn at the end, from their own stream)."""

    def __init__(self, rng: random.Random, records: _Records, seed: int):
        self.rng = rng
        self.records = records
        self.synonyms = _synonyms()
        per_patient = {r.term: r.esketamine_pct for r in REFERENCE_RATES} | EXTRA_EFFECTS
        self.effect_p = {
            term: -math.log(1 - pct / 100) / COURSE_EXPOSURE for term, pct in per_patient.items()
        }
        self.vital_sessions: list[tuple] = []
        self.vital_gen = np.random.default_rng([seed, 1])  # vitals: their own stream

    def dose(
        self, route: str, given: int, profile: dict
    ) -> tuple[float, float | None, float | None]:
        """(dose mg, mg/kg, weight kg) for the next dose of a route, titrated over the course."""
        rng = self.rng
        weight = round(profile["weight"], 1)
        if route == "iv":
            mg_kg = min(
                0.75,
                rng.choice((0.5, 0.5, 0.5, 0.4, 0.6)) + 0.05 * min(given, 3) * (rng.random() < 0.3),
            )
        elif route == "im":
            mg_kg = rng.choice((0.5, 0.6, 0.75, 0.75, 1.0))
        elif route == "intranasal":
            dose = 56.0 if given < 2 else rng.choice((56.0, 84.0, 84.0))
            return dose, round(dose / weight, 3), weight if rng.random() < 0.5 else None
        else:
            dose = float(min(300, 100 + 50 * min(given, 3) + rng.choice((0, 0, 50))))
            if rng.random() < 0.5:  # weight often recorded for fixed doses too
                return dose, round(dose / weight, 3), weight
            return dose, None, None
        dose = math.floor(mg_kg * weight * 10) / 10  # never above the prescribed mg/kg
        return dose, round(dose / weight, 3), weight

    def monitoring(self, route: str) -> int:
        if route == "intranasal":
            return (
                self.rng.choice((90, 105, 110))
                if self.rng.random() < 0.04
                else self.rng.choice((120, 120, 135, 150))
            )
        return self.rng.choice((60, 90, 120))

    def dose_session(self, pid, cid, sid, when, route, number, dose_mg, mg_kg, profile) -> None:
        """CADSS, MOAA/S, side effects and vitals of one completed dosing session."""
        rng = self.rng
        strength = (
            (mg_kg / 0.5) if mg_kg else (dose_mg / 150 if route != "intranasal" else dose_mg / 70)
        )
        strength = _clip(strength, 0.4, 2.0)
        decline = TOLERANCE ** (number - 1)
        cadss = _clip(rng.gauss(18 * strength * (0.85 ** (number - 1)), 6), 0, TOP["CADSS"])
        self.records.score(pid, cid, sid, "CADSS", when + timedelta(minutes=40), round(cadss))
        u = rng.random()
        moaas = (
            0
            if u < 0.001
            else 2
            if u < 0.02
            else 3
            if u < 0.09 * strength
            else 4
            if u < 0.35
            else 5
        )
        self.records.score(pid, cid, sid, "MOAA/S", when + timedelta(minutes=41), moaas)
        seq = 0
        for term, p in self.effect_p.items():
            if rng.random() < p * decline * (0.6 + 0.4 * strength):
                seq += 1
                self.effect(sid, seq, term, strength)
        for term in ("urinary symptoms", "cognitive impairment"):
            if rng.random() < 0.004 * number * strength:
                seq += 1
                self.effect(sid, seq, term, strength)
        self.vitals(sid, route, profile, strength)

    def effect(self, sid, seq, term, strength) -> None:
        rng = self.rng
        u = rng.random() / min(1.5, strength)
        severity = "severe" if u < 0.04 else "moderate" if u < 0.27 else "mild"
        grade = {"mild": 1, "moderate": 2, "severe": 3}[severity] if rng.random() < 0.2 else None
        serious = severity == "severe" and rng.random() < 0.08
        verbatim = (
            rng.choice(self.synonyms[term])
            if term in self.synonyms and rng.random() < 0.15
            else term
        )
        treatable = term in ("nausea", "vomiting", "anxiety", "hypertension")
        if severity == "severe" and rng.random() < 0.3:
            action = "session_stopped"
        elif treatable and rng.random() < 0.4:
            action = "medication_given"
        else:
            action = rng.choice(("none", "observation", "observation"))
        self.records.rows["side_effects"].append(
            (sid, seq, term, verbatim, severity, grade, serious, rng.randint(5, 60),
             rng.random() < 0.96, action)
        )  # fmt: skip

    def vitals(self, sid, route, profile, strength) -> None:
        """Note one dosing session's vitals; `build` draws all readings at once (numpy)."""
        self.vital_sessions.append(
            (sid, route in ("iv", "im"), profile["sys"], profile["dia"], profile["hr"], strength)
        )

    def vital_rows(self) -> list[tuple]:
        """Readings of every noted session: pre-dose, then every 10–20 min up to 120 min.

        Blood pressure rises by ~+16/+11 mmHg on average (more with a stronger dose), peaking
        ~40 min after the start; a severe excursion (>=180 systolic or >=110 diastolic) in
        ~1% of sessions, as in the Yale chart review; the other sessions stay below those lines.
        """
        if not self.vital_sessions:
            return []
        sid, ivim, base_sys, base_dia, base_hr, strength = map(
            list, zip(*self.vital_sessions, strict=True)
        )
        ivim = np.array(ivim)
        n = len(sid)
        gen = self.vital_gen
        rise = np.maximum(0.0, gen.normal(16, 6, n)) * (0.7 + 0.3 * np.array(strength))
        severe = gen.random(n) < SEVERE_BP_SHARE
        rise = rise + severe * gen.uniform(45, 70, n)
        per = np.where(ivim, len(VITAL_TIMES_IV), len(VITAL_TIMES_OTHER))
        first = np.repeat(np.cumsum(per) - per, per)
        k = np.arange(per.sum()) - first
        row = np.repeat(np.arange(n), per)
        iv_times, other_times = np.array(VITAL_TIMES_IV), np.array(VITAL_TIMES_OTHER)
        t = np.where(
            ivim[row],
            iv_times[np.minimum(k, len(iv_times) - 1)],
            other_times[np.minimum(k, len(other_times) - 1)],
        )
        g = np.where(t <= 0, 0.0, (t / 40) * np.exp(1 - t / 40))
        m = len(t)
        top_sys = np.where(severe, 240, 178)[row]
        top_dia = np.where(severe, 150, 108)[row]
        sys_ = np.clip(np.array(base_sys)[row] + rise[row] * g + gen.normal(0, 4, m), 85, top_sys)
        dia = np.array(base_dia)[row] + 0.68 * rise[row] * g + gen.normal(0, 3, m)
        dia = np.minimum(np.clip(dia, 45, top_dia), sys_ - 15)
        hr = np.clip(np.array(base_hr)[row] + 6 * g + gen.normal(0, 4, m), 40, 150)
        spo2 = np.clip(np.round(gen.normal(97.5, 1.2, m)), 88, 100)
        sids = np.array(sid, dtype=object)[row]
        return list(
            zip(
                sids.tolist(),
                t.tolist(),
                np.round(sys_).astype(int).tolist(),
                np.round(dia).astype(int).tolist(),
                np.round(hr).astype(int).tolist(),
                spo2.astype(int).tolist(),
                strict=True,
            )
        )


class _Clinic:
    """The schedule of one demo clinic: patients, their courses and sessions, drawn from one
    random stream; scores and dosing-session events are written by `_Scores` and `_Dosing`."""

    def __init__(self, patients: int, seed: int, now: datetime):
        self.rng = random.Random(seed)
        self.n = patients
        # Whole days are scheduled up to today; `build` then drops what lies after `now`.
        self.today = now.date()
        self.now = now
        n_sites = int(_clip(patients // 400, 3, 50))
        self.sites = [f"Demo Clinic {SITE_NAMES[i]}" for i in range(n_sites)]
        self.site_mix = {s: ROUTE_MIXES[i % len(ROUTE_MIXES)] for i, s in enumerate(self.sites)}
        self.clinicians = {
            s: [f"DEMO-CL-{i + 1:02d}{chr(65 + k)}" for k in range(4)]
            for i, s in enumerate(self.sites)
        }
        self.records = _Records()
        self.scores = _Scores(self.rng, self.records)
        self.dosing = _Dosing(self.rng, self.records, seed)

    def at(self, day: date, hour: int | None = None) -> datetime:
        hour = hour if hour is not None else self.rng.choice(HOURS)
        return datetime.combine(day, datetime.min.time()) + timedelta(
            hours=hour, minutes=self.rng.choice((0, 0, 15, 30, 45))
        )

    def status(self) -> str:
        u = self.rng.random()
        return "cancelled" if u < 0.05 else "no_show" if u < 0.08 else "completed"

    def patient(self, i: int) -> None:
        rng = self.rng
        pid = f"DEMO-{i + 1:05d}"
        site = self.sites[i % len(self.sites)] if rng.random() < 0.5 else rng.choice(self.sites)
        indication = _pick(rng, INDICATIONS)
        enrolled = self.today - timedelta(days=rng.randint(3, 545))
        age = int(_clip(rng.gauss(43, 13), 18, 80))
        sex = _pick(rng, {"female": 0.58, "male": 0.38, "other": 0.02, "unknown": 0.02})
        self.records.rows["patients"].append(
            (pid, site, sex, self.today.year - age, indication, enrolled)
        )
        profile = {
            "phq_base": _clip(rng.gauss(17.5, 3.5), 10, 25),
            "gad_base": _clip(rng.gauss(13, 4), 6, 21),
            "pcl_base": _clip(rng.gauss(50, 11), 28, 80),
            "improvement": self.scores.improvement(),
            "tau": rng.uniform(6, 16),
            "item9": rng.random() < 0.03,
            "ptsd": indication == "PTSD",
            "sys": _clip(rng.gauss(122, 10), 95, 145),  # uncontrolled BP is excluded
            "dia": _clip(rng.gauss(77, 7), 55, 92),
            "hr": rng.gauss(74, 9),
            "weight": _clip(rng.gauss(78, 16), 45, 150),
        }
        start = datetime.combine(enrolled, datetime.min.time())
        ended = self.course(pid, f"{pid}-C1", site, start, profile, first=True)
        if ended and rng.random() < 0.3:
            again = ended + timedelta(days=rng.randint(60, 180))
            if again.date() <= self.today:
                profile["improvement"] = self.scores.improvement()
                self.course(pid, f"{pid}-C2", site, again, profile, first=False)

    def course(self, pid, cid, site, start, profile, *, first: bool) -> datetime | None:
        """Generate a course from `start`; returns its last session time (None if it stopped)."""
        rng = self.rng
        clinician = rng.choice(self.clinicians[site])
        self.records.rows["courses"].append((cid, pid))
        day = start.date() + timedelta(days=rng.randint(0, 5))
        if day > self.today:
            day = self.today
        # Intake: the suitability assessment, first in every first course.
        if first:
            eligible = rng.random() >= 0.12
            when = self.at(day)
            reason = None if eligible else _pick(rng, INELIGIBLE_REASONS)
            sid = self.records.session(
                pid, cid, when, "intake", "completed", clinician, eligible=eligible, reason=reason
            )
            self.scores.outcome_scores(
                pid, cid, sid, when + timedelta(minutes=20), profile, None, pcl=True
            )
            if not eligible:
                return None
        route = _pick(rng, self.site_mix[site])
        drug = "esketamine" if route == "intranasal" else "ketamine"
        # Preparation: 1–3 sessions a few days apart.
        for _ in range(rng.randint(1, 3) if first else 1):
            day += timedelta(days=rng.randint(2, 6))
            if day > self.today:
                if not first:  # a re-induction not begun by today: no course without sessions
                    self.records.rows["courses"].pop()
                return None
            when = self.at(day)
            status = self.status()
            sid = self.records.session(pid, cid, when, "preparation", status, clinician)
            if status == "completed" and rng.random() < 0.7:
                self.scores.outcome_scores(
                    pid, cid, sid, when + timedelta(minutes=30), profile, None, pcl=True
                )
        # Dosing schedule by route (docs/domain.md §1).
        if route == "intranasal":
            gaps = [3, 4] * 4 + [7] * 4
        elif route in ("iv", "im"):
            gaps = [rng.choice((3, 4)) for _ in range(6)]
        else:
            gaps = [rng.choice((3, 4, 7)) for _ in range(6)]
        if not first:
            gaps = gaps[:4]
        n_doses = len(gaps)
        if rng.random() < 0.15:
            n_doses = rng.randint(1, 3)  # dropout
        dropped = n_doses < len(gaps)
        course = _CourseState(pid, cid, clinician, route, drug, profile)
        day += timedelta(days=rng.randint(2, 8))
        for k in range(n_doses):
            if day > self.today:
                return None
            self.dosing_visit(course, day, integrate_every=2)
            if k < len(gaps):
                day += timedelta(days=gaps[k])
        if course.first_dose is None or dropped:
            return None
        after_course = course.last
        # Maintenance: some go on with booster doses every 2–4 weeks for a few months.
        if rng.random() < 0.5:
            day = course.last.date() + timedelta(days=rng.randint(14, 28))
            for _ in range(rng.randint(3, 10)):
                if day > self.today:
                    break
                self.dosing_visit(course, day, integrate_every=2)
                day += timedelta(days=rng.randint(14, 28))
        # Follow-up check-ins two and six weeks after the course, then monthly for some.
        for weeks in (2, 6, 10, 14, 18, 22, 26):
            if rng.random() < (0.75 if weeks <= 6 else 0.6):
                fday = after_course.date() + timedelta(days=7 * weeks + rng.randint(-2, 3))
                if fday > self.today:
                    break
                fwhen = self.at(fday)
                fstatus = self.status()
                fsid = self.records.session(pid, cid, fwhen, "follow_up", fstatus, clinician)
                if fstatus == "completed":
                    course.last = max(course.last, fwhen)
                    self.scores.outcome_scores(
                        pid,
                        cid,
                        fsid,
                        fwhen + timedelta(minutes=10),
                        profile,
                        course.first_dose,
                        pcl=True,
                    )
        return course.last

    def dosing_visit(self, course: _CourseState, day: date, *, integrate_every: int) -> None:
        """One scheduled dose on `day` and, when it took place, its integration session."""
        rng = self.rng
        pid, cid, clinician, profile = course.pid, course.cid, course.clinician, course.profile
        when = self.at(day, rng.choice((9, 10, 11, 13)))
        status = self.status()
        sid = self.records.session(pid, cid, when, "dosing", status, clinician)
        dose_mg, mg_kg, weight = self.dosing.dose(course.route, course.doses, profile)
        duration = 40 if course.route == "iv" else None
        monitoring = self.dosing.monitoring(course.route)
        self.records.rows["dosings"].append(
            (sid, course.route, course.drug, dose_mg, weight, mg_kg, duration, monitoring)
        )
        if status != "completed":
            return
        course.doses += 1
        course.first_dose = course.first_dose or when
        if rng.random() < 0.9:
            self.scores.outcome_scores(
                pid, cid, sid, when - timedelta(minutes=30), profile, course.first_dose
            )
        self.dosing.dose_session(
            pid, cid, sid, when, course.route, course.doses, dose_mg, mg_kg, profile
        )
        course.last = max(course.last or when, when)
        # Integration after dose 1 and 2, then after every second dose.
        if not (course.doses in (1, 2) or course.doses % integrate_every == 0):
            return
        iday = day + timedelta(days=rng.choice((1, 1, 2)))
        if iday > self.today:
            return
        iwhen = self.at(iday)
        istatus = self.status()
        isid = self.records.session(pid, cid, iwhen, "integration", istatus, clinician)
        if istatus != "completed":
            return
        course.last = iwhen
        if rng.random() < 0.85:
            tied = rng.random() < 0.85
            # Untied: a home questionnaire the next day, off the hour.
            taken = iwhen if tied else iwhen + timedelta(hours=20, minutes=7)
            self.scores.outcome_scores(
                pid, cid, isid if tied else None, taken, profile, course.first_dose
            )

    def build(self) -> dict[str, list[tuple]]:
        for i in range(self.n):
            self.patient(i)
        self.records.rows["vitals"] = self.dosing.vital_rows()
        return recorded_by(self.records.rows, self.now)


COLUMNS = {
    "patients": ("patient_id", "site", "sex", "birth_year", "indication", "enrolled_on"),
    "courses": ("course_id", "patient_id"),
    "sessions": ("session_id", "patient_id", "course_id", "started_at", "phase", "status",
                 "clinician", "eligible", "ineligible_reason"),
    "dosings": ("session_id", "route", "drug", "dose_mg", "weight_kg", "dose_mg_per_kg",
                "duration_min", "monitoring_min"),
    "assessments": ("patient_id", "course_id", "session_id", "instrument", "administered_at",
                    "total", "items", "suicide_item"),
    "side_effects": ("session_id", "seq", "term", "verbatim", "severity", "ctcae_grade",
                     "serious", "onset_min", "resolved", "action"),
    "vitals": ("session_id", "minutes_from_dose", "systolic", "diastolic", "heart_rate", "spo2"),
}  # fmt: skip
TABLES = {
    "patients": Patient, "courses": Course, "sessions": Session, "dosings": Dosing,
    "assessments": Assessment, "side_effects": SideEffect, "vitals": VitalSign,
}  # fmt: skip


UNDER_WAY = timedelta(days=1)
"""Longer than any session goes on being recorded (scores up to 41 min after its start,
vital signs up to 120, monitoring up to 150): sessions that started earlier are over."""


def recorded_by(rows: dict[str, list[tuple]], now: datetime) -> dict[str, list[tuple]]:
    """The clinic's rows as they stand at `now`: no score after it, and no session that starts
    after it or is still under way (a score, vital sign, side-effect onset or the monitoring
    of a completed dose after `now`), with none of such a session's rows.

    Why: the generator schedules whole days, and a completed session later today would put
    "data as of" in the future. Dropping afterwards keeps the random draws, and so every row
    before `now`, the same; sessions left out of the day simply leave gaps in the ids.
    """
    at = {name: {c: i for i, c in enumerate(cols)} for name, cols in COLUMNS.items()}
    s, a, d, e, v = (
        at[t] for t in ("sessions", "assessments", "dosings", "side_effects", "vitals")
    )
    recent = {
        r[s["session_id"]]: r for r in rows["sessions"] if r[s["started_at"]] > now - UNDER_WAY
    }
    start = {sid: r[s["started_at"]] for sid, r in recent.items()}
    end = dict(start)

    def reaches(sid: str | None, when: datetime) -> None:
        if sid in end and when > end[sid]:
            end[sid] = when

    for r in rows["assessments"]:
        reaches(r[a["session_id"]], r[a["administered_at"]])
    for table, col, minutes in (
        (rows["vitals"], v["session_id"], v["minutes_from_dose"]),
        (rows["side_effects"], e["session_id"], e["onset_min"]),
        (rows["dosings"], d["session_id"], d["monitoring_min"]),
    ):
        for r in table:
            sid = r[col]
            if sid in start and recent[sid][s["status"]] == "completed" and r[minutes] is not None:
                reaches(sid, start[sid] + timedelta(minutes=r[minutes]))
    gone = {sid for sid, when in end.items() if when > now}
    out = dict(rows)
    out["sessions"] = [r for r in rows["sessions"] if r[s["session_id"]] not in gone]
    for table, col in (("dosings", d), ("side_effects", e), ("vitals", v)):
        out[table] = [r for r in rows[table] if r[col["session_id"]] not in gone]
    out["assessments"] = [
        r
        for r in rows["assessments"]
        if r[a["administered_at"]] <= now and r[a["session_id"]] not in gone
    ]
    return out


def as_of(today: date | None = None, now: datetime | None = None) -> datetime:
    """The moment a demo clinic is generated as of: `now`, else the end of `today`, else the
    clinic's clock (its wall time, like the rest of the data)."""
    if now is None:
        return clinic_time.now() if today is None else datetime.combine(today, datetime.max.time())
    if today is not None and now.date() != today:
        raise ValueError(f"now ({now:%Y-%m-%d %H:%M}) is not on today ({today:%Y-%m-%d})")
    return now


def build_clinic(
    patients: int, seed: int, today: date | None = None, *, now: datetime | None = None
) -> dict[str, list[tuple]]:
    """The demo clinic's rows per table (tuples in `COLUMNS` order), without a database, as
    they stand at `now` (see `as_of`; a `today` alone means the end of that day)."""
    if patients < 1:
        raise ValueError("the demo clinic needs at least one patient")
    clinic = _Clinic(patients, seed, as_of(today, now))
    rows = clinic.build()
    rows["sites"] = [(s,) for s in clinic.sites]
    rows["clinicians"] = [(c,) for cs in clinic.clinicians.values() for c in cs]
    return rows


def generate_clinic(
    engine: Engine,
    *,
    patients: int,
    seed: int,
    today: date | None = None,
    now: datetime | None = None,
) -> DemoStats:
    """Create the schema and fill an EMPTY database with the demo clinic as it stands at `now`
    (default: the clock; see `build_clinic`), in one transaction."""
    started = time.perf_counter()
    upgrade(engine)
    with engine.connect() as conn:
        existing = conn.execute(select(func.count()).select_from(Patient)).scalar_one()
    if existing:
        raise ValueError(
            f"the database already holds {existing} patients; the demo clinic is only "
            "written into an empty database"
        )
    phases: dict[str, float] = {}
    mark = time.perf_counter()
    rows = build_clinic(patients, seed, today, now=now)
    phases["build"], mark = time.perf_counter() - mark, time.perf_counter()
    counts: dict[str, int] = {}
    # Every table is empty: keys checked and (PostgreSQL) indexes built once per table after
    # the load, the import's recipe (kapviz.db.bulk.BulkLoad), not once per inserted row.
    tables = [Site.__tablename__, Clinician.__tablename__]
    tables += [model.__tablename__ for model in TABLES.values()]
    with engine.connect() as conn:
        load = None
        try:
            with conn.begin():
                load = begin_bulk_load(conn, tables, rebuild=tables)
                bulk_insert(conn, Site.__table__, ("name",), rows["sites"])
                bulk_insert(conn, Clinician.__table__, ("code",), rows["clinicians"])
                for name, model in TABLES.items():
                    counts[name] = bulk_insert(conn, model.__table__, COLUMNS[name], rows[name])
                load.finish()
                conn.execute(
                    insert(ImportRun),
                    [
                        {
                            "source": f"synthetic demo clinic (seed {seed}, {patients} patients)",
                            "kind": "demo",
                            "added": sum(counts.values()),
                            "updated": 0,
                            "is_demo": True,
                        }
                    ],
                )
        finally:
            if load is not None:
                load.release()
    phases["write"], mark = time.perf_counter() - mark, time.perf_counter()
    refresh_statistics(engine)
    phases["statistics"], mark = time.perf_counter() - mark, time.perf_counter()
    rollups.rebuild(engine)
    phases["rollups"] = time.perf_counter() - mark
    seconds = time.perf_counter() - started
    stats = DemoStats(counts=counts, seconds=seconds, seed=seed, phases=phases)
    log.info(stats.describe())
    return stats
