"""Safety monitoring (DOMAIN.md §4): sedation, dissociation, monitoring time, the monthly
adverse-event u-chart, the alerts worklist and the `safety` summary object.

An *adverse event* here is one effect term recorded on one completed dosing session, counted
once however many records repeat it. Thresholds come from `Settings` (defaults DOMAIN.md),
except PHQ-9 item 9 > 0, which DOMAIN.md §2 fixes and nobody may raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kapviz import instruments
from kapviz.config import SETTINGS_HELP, Settings
from kapviz.metrics.side_effects import (
    cumulative_bands,
    dose_groups,
    dose_positions,
    dose_positions_of,
    dosing_sessions,
    effect_rows,
    is_member,
    key_array,
    long_term_by_band,
    rates_by_labels,
    rates_of,
    session_effects,
    session_numbers,
    severity_rank,
)
from kapviz.metrics.stats import mean_ci
from kapviz.metrics.vitals import (
    bp_counts,
    bp_curve_from_counts,
    bp_stats,
    flags_of,
    session_vitals,
)
from kapviz.vocabulary import SEVERITY_RANK

SIGMA_LIMITS = 3
"""Shewhart control limits at ±3 sigma (u-chart: ū ± 3·√(ū/nᵢ))."""

PER_SESSIONS = 100
"""The u-chart shows adverse events per 100 completed dosing sessions."""


def _instrument_rows(assessments: pd.DataFrame, instrument: str) -> pd.DataFrame:
    """Rows of one registry instrument, whatever spelling the source used."""
    names = {name: instruments.normalize(name) for name in assessments["instrument"].unique()}
    mask = assessments["instrument"].map(names) == instrument
    return assessments.loc[mask.fillna(False).astype(bool)]


# --- Sedation, dissociation, monitoring ---------------------------------------------------


def sedation_flags(assessments: pd.DataFrame, *, settings: Settings) -> pd.DataFrame:
    """MOAA/S scores (5 alert … 0 unresponsive) with the sedation and consciousness flags.

    Columns: id, patient_id, course_id, session_id, administered_at, moaas, is_sedation
    (≤ settings.sedation_moaas_max), is_loss_of_consciousness (MOAA/S 0).
    """
    rows = _instrument_rows(assessments, "MOAA/S")
    cols = ["id", "patient_id", "course_id", "session_id", "administered_at"]
    out = rows[cols].copy()
    out["moaas"] = rows["total"].astype("int64")
    out["is_sedation"] = out["moaas"] <= settings.sedation_moaas_max
    out["is_loss_of_consciousness"] = out["moaas"] == instruments.LOSS_OF_CONSCIOUSNESS_MOAAS
    return out.reset_index(drop=True)


def cadss_by_session_number(sessions: pd.DataFrame, assessments: pd.DataFrame) -> pd.DataFrame:
    """CADSS dissociation (0–92, higher = more) per dose number: n, mean with 95% CI, median.

    Only CADSS scores tied to a completed dosing session count (dissociation during dosing).
    """
    rows = _instrument_rows(assessments, "CADSS")
    numbers = session_numbers(sessions).set_index("session_id")["session_number"]
    return cadss_table(rows.assign(session_number=rows["session_id"].map(numbers)))


def cadss_table(scores: pd.DataFrame) -> pd.DataFrame:
    """`cadss_by_session_number` of CADSS scores (total) with their dose's session_number.

    Scores without a dose number are left out; within a dose number the scores are taken in
    the order given (the assessment frames' order: patient, time), which fixes the last
    bits of the standard deviation.
    """
    scores = scores.dropna(subset=["session_number"])
    out = []
    for number, group in scores.groupby("session_number", sort=True):
        mean, low, high = mean_ci(group["total"])
        median = float(group["total"].median())
        out.append((int(number), len(group), mean, low, high, median))
    columns = ["session_number", "n", "mean", "ci_low", "ci_high", "median"]
    frame = pd.DataFrame(out, columns=columns)
    return frame.astype({"session_number": "int64", "n": "int64"})


def monitoring_flags(sessions: pd.DataFrame, *, settings: Settings) -> pd.DataFrame:
    """Completed esketamine dosing sessions and whether observation met the REMS minimum.

    Columns: session_id, patient_id, course_id, started_at, monitoring_min, is_short
    (recorded and < settings.esketamine_min_monitoring_min), is_unrecorded.
    """
    cols = ["session_id", "patient_id", "course_id", "started_at", "monitoring_min", "drug"]
    return monitoring_of(dosing_sessions(sessions, columns=cols), settings=settings)


def monitoring_of(doses: pd.DataFrame, *, settings: Settings) -> pd.DataFrame:
    """`monitoring_flags` of doses already picked (with drug and monitoring_min)."""
    cols = ["session_id", "patient_id", "course_id", "started_at", "monitoring_min"]
    out = doses.loc[(doses["drug"] == "esketamine").to_numpy(), cols]
    minutes = out["monitoring_min"].astype("float64")
    out["is_short"] = (minutes < settings.esketamine_min_monitoring_min).fillna(False)
    out["is_unrecorded"] = minutes.isna()
    return out.astype({"is_short": bool, "is_unrecorded": bool}).reset_index(drop=True)


# --- Adverse events over time -------------------------------------------------------------


def adverse_event_rate(
    sessions: pd.DataFrame, side_effects: pd.DataFrame, *, start: datetime, end: datetime
) -> tuple[int, int]:
    """(adverse events, completed dosing sessions) for sessions started in [start, end)."""
    cols = ["session_id", "patient_id", "course_id", "started_at", "phase", "status"]
    doses = dosing_sessions(sessions, columns=cols)
    started = pd.to_datetime(doses["started_at"])
    in_window = doses.loc[(started >= pd.Timestamp(start)) & (started < pd.Timestamp(end))]
    events = session_effects(in_window, side_effects)
    return int(len(events)), int(len(in_window))


U_CHART_COLUMNS = ["month", "events", "dosing_sessions", "rate", "centre", "ucl", "lcl", "is_out"]


def u_chart(sessions: pd.DataFrame, side_effects: pd.DataFrame) -> pd.DataFrame:
    """Monthly adverse events per 100 completed dosing sessions with 3-sigma u-chart limits.

    u_i = events_i / n_i; centre ū = Σ events / Σ n; limits ū ± 3·√(ū / n_i) (lower floored
    at 0); rate, centre, ucl and lcl are then ×100. is_out marks months outside the limits.
    """
    doses = dosing_sessions(sessions, columns=["session_id", "started_at"])
    return u_chart_from_counts(monthly_events(doses, session_effects(sessions, side_effects)))


def monthly_events(doses: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Adverse events and doses per calendar month of the dose: month, events, dosing_sessions.

    `doses` are completed dosing sessions (session_id, started_at); `rows` their
    `session_effects` rows (one event each). Months without doses are absent.
    """
    if doses.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in U_CHART_COLUMNS[:3]})
    month = pd.to_datetime(doses["started_at"]).dt.to_period("M").dt.to_timestamp()
    sizes = month.groupby(month).size().rename("dosing_sessions")
    event_month = rows["session_id"].map(pd.Series(month.to_numpy(), index=doses["session_id"]))
    counts = event_month.groupby(event_month).size().reindex(sizes.index, fill_value=0)
    out = pd.DataFrame({"events": counts.astype("int64"), "dosing_sessions": sizes})
    out.index.name = "month"
    return out.reset_index()


def u_chart_from_counts(monthly: pd.DataFrame) -> pd.DataFrame:
    """The u-chart of monthly counts (month, events, dosing_sessions), as u_chart defines it.

    For callers that count in SQL (the Overview reads per-day counts, not every record).
    """
    if monthly.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in U_CHART_COLUMNS})
    out = monthly[["month", "events", "dosing_sessions"]].reset_index(drop=True)
    n = out["dosing_sessions"].to_numpy(float)
    u = out["events"].to_numpy(float) / n
    u_bar = out["events"].sum() / n.sum()
    half = SIGMA_LIMITS * np.sqrt(u_bar / n)
    out["rate"] = u * PER_SESSIONS
    out["centre"] = u_bar * PER_SESSIONS
    out["ucl"] = (u_bar + half) * PER_SESSIONS
    out["lcl"] = np.maximum(0.0, u_bar - half) * PER_SESSIONS
    out["is_out"] = (out["rate"] > out["ucl"]) | (out["rate"] < out["lcl"])
    return out[U_CHART_COLUMNS]


# --- Suicidality ---------------------------------------------------------------------------


def phq9_item9(assessments: pd.DataFrame) -> pd.DataFrame:
    """PHQ-9s with a known item 9 answer: patient_id, course_id, administered_at, id, total,
    item9 (from suicide_item, else the 9th item of the item list), sorted oldest first."""
    rows = _instrument_rows(assessments, "PHQ-9")
    item9 = pd.to_numeric(rows["suicide_item"], errors="coerce").astype("float64")
    if "items" in rows and item9.isna().any():
        position = instruments.SUICIDALITY_ITEM - 1
        from_items = rows["items"].map(
            lambda v: v[position] if isinstance(v, list) and len(v) > position else np.nan
        )
        item9 = item9.fillna(pd.to_numeric(from_items, errors="coerce").astype("float64"))
    cols = ["patient_id", "course_id", "administered_at", "id", "total"]
    out = rows[cols].assign(item9=item9).dropna(subset=["item9"])
    out = out.astype({"item9": "int64"})
    out = out.assign(administered_at=pd.to_datetime(out["administered_at"]))
    return out.sort_values(["patient_id", "administered_at", "id"], kind="stable")


def suicidality_flag_patients(assessments: pd.DataFrame) -> int:
    """Patients with ANY PHQ-9 whose item 9 is above 0 (DOMAIN.md §2; never raised)."""
    rows = phq9_item9(assessments)
    return int(rows.loc[rows["item9"] > 0, "patient_id"].nunique())


# --- Alerts worklist -----------------------------------------------------------------------

REASON_SUICIDALITY = "PHQ-9 item 9 > 0 on latest PHQ-9"
REASON_SERIOUS = "Serious adverse event"
REASON_EXCURSION = "BP excursion"
REASON_SEVERE = "Severe side effect"
REASON_URINARY = "Urinary symptoms"
REASON_COGNITIVE = "Cognitive complaints"

REASON_RANK: dict[str, int] = {
    REASON_SUICIDALITY: 1,
    REASON_SERIOUS: 2,
    REASON_EXCURSION: 3,
    REASON_SEVERE: 4,
    REASON_URINARY: 5,
    REASON_COGNITIVE: 6,
}
"""Worklist order: lower is more urgent (suicidality first)."""

ALERT_COLUMNS = ["patient_id", "course_id", "reason", "detail", "date", "severity_rank"]


def _latest_item9_alerts(assessments: pd.DataFrame) -> pd.DataFrame:
    """Item 9 > 0 on the latest PHQ-9 with a known item 9 (a total-only form clears nothing)."""
    latest = phq9_item9(assessments).drop_duplicates("patient_id", keep="last")
    latest = latest[latest["item9"] > 0]
    return pd.DataFrame(
        {
            "patient_id": latest["patient_id"],
            "course_id": latest["course_id"],
            "reason": REASON_SUICIDALITY,
            "detail": [
                f"item 9 = {v}, total {t}"
                for v, t in zip(latest["item9"], latest["total"], strict=True)
            ],
            "date": latest["administered_at"],
        }
    )


def _recent_effects(
    sessions: pd.DataFrame, side_effects: pd.DataFrame, since: pd.Timestamp, now: pd.Timestamp
) -> pd.DataFrame:
    """Records on completed sessions (any phase) started in [since, now], with severity rank.

    Any phase, because urinary and cognitive complaints are often reported at integration
    or follow-up; cancelled and no-show sessions did not take place.
    """
    done = sessions[sessions["status"] == "completed"]
    started = pd.to_datetime(done["started_at"])
    done = done.loc[(started >= since) & (started <= now)]
    done = done[["session_id", "patient_id", "course_id", "started_at"]]
    records = side_effects[["session_id", "term", "serious"]].assign(
        severity_rank=severity_rank(side_effects).to_numpy()
    )
    return records.merge(done, on="session_id", how="inner")


def _effect_alerts(records: pd.DataFrame, reason: str) -> pd.DataFrame:
    """One row per patient: the latest matching record's date and course, terms listed."""
    if records.empty:
        return pd.DataFrame(columns=["patient_id", "course_id", "reason", "detail", "date"])
    records = records.sort_values(["patient_id", "started_at"], kind="stable")
    grouped = records.groupby("patient_id", sort=True)
    terms = grouped["term"].agg(lambda t: ", ".join(sorted(set(t))))
    n = grouped["session_id"].nunique()
    last = grouped.tail(1).set_index("patient_id")
    detail = [f"{t} ({k} sessions)" if k > 1 else t for t, k in zip(terms, n, strict=True)]
    return pd.DataFrame(
        {
            "patient_id": terms.index,
            "course_id": last.loc[terms.index, "course_id"].to_numpy(),
            "reason": reason,
            "detail": detail,
            "date": last.loc[terms.index, "started_at"].to_numpy(),
        }
    )


def _excursion_alerts(
    sessions: pd.DataFrame,
    vitals: pd.DataFrame,
    since: pd.Timestamp,
    now: pd.Timestamp,
    settings: Settings,
) -> pd.DataFrame:
    started = pd.to_datetime(sessions["started_at"])
    recent = sessions.loc[(started >= since) & (started <= now)]
    bp = session_vitals(recent, vitals, settings=settings)
    bp = bp[bp["is_excursion"]].sort_values(["patient_id", "started_at"], kind="stable")
    if bp.empty:
        return pd.DataFrame(columns=["patient_id", "course_id", "reason", "detail", "date"])
    grouped = bp.groupby("patient_id", sort=True)
    last = grouped.tail(1).set_index("patient_id")
    worst_s = grouped["max_systolic"].max()
    worst_d = grouped["max_diastolic"].max()
    n = grouped.size()
    detail = [
        f"highest {s:.0f}/{d:.0f} mmHg" + (f" ({k} sessions)" if k > 1 else "")
        for s, d, k in zip(worst_s, worst_d, n, strict=True)
    ]
    return pd.DataFrame(
        {
            "patient_id": worst_s.index,
            "course_id": last.loc[worst_s.index, "course_id"].to_numpy(),
            "reason": REASON_EXCURSION,
            "detail": detail,
            "date": last.loc[worst_s.index, "started_at"].to_numpy(),
        }
    )


def alerts(
    sessions: pd.DataFrame,
    side_effects: pd.DataFrame,
    vitals: pd.DataFrame,
    assessments: pd.DataFrame,
    *,
    settings: Settings,
    now: datetime,
) -> pd.DataFrame:
    """Patients who need attention now: one row per patient × reason, most urgent first.

    Reasons: item 9 > 0 on the latest PHQ-9 (any date); and within the last
    settings.alert_lookback_days days up to `now`: a serious adverse event, a BP excursion,
    a severe side effect, urinary symptoms, cognitive complaints.
    Columns: patient_id, course_id, reason, detail, date, severity_rank (1 most urgent).
    """
    now_ts = pd.Timestamp(now)
    since = now_ts - timedelta(days=settings.alert_lookback_days)
    records = _recent_effects(sessions, side_effects, since, now_ts)
    severe = SEVERITY_RANK["severe"]
    parts = [
        _latest_item9_alerts(assessments),
        _effect_alerts(records[records["serious"].astype(bool)], REASON_SERIOUS),
        _excursion_alerts(sessions, vitals, since, now_ts, settings),
        _effect_alerts(records[records["severity_rank"] >= severe], REASON_SEVERE),
        _effect_alerts(records[records["term"] == "urinary symptoms"], REASON_URINARY),
        _effect_alerts(records[records["term"] == "cognitive impairment"], REASON_COGNITIVE),
    ]
    parts = [p for p in parts if not p.empty]
    if not parts:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in ALERT_COLUMNS})
        return empty.astype({"date": "datetime64[us]", "severity_rank": "int64"})
    out = pd.concat(parts, ignore_index=True)
    out["severity_rank"] = out["reason"].map(REASON_RANK).astype("int64")
    out["date"] = pd.to_datetime(out["date"])
    out = out.astype({"patient_id": object, "course_id": object, "detail": object})
    out = out.sort_values(
        ["severity_rank", "date", "patient_id"], ascending=[True, False, True], kind="stable"
    )
    return out[ALERT_COLUMNS].reset_index(drop=True)


def thresholds_in_force(settings: Settings) -> pd.DataFrame:
    """The safety thresholds the page applies, with what each means (setting, value, meaning)."""
    names = [
        "alert_lookback_days",
        "bp_review_systolic",
        "bp_review_diastolic",
        "bp_excursion_systolic",
        "bp_excursion_diastolic",
        "bp_rise_systolic",
        "bp_rise_diastolic",
        "sedation_moaas_max",
        "esketamine_min_monitoring_min",
    ]
    rows = [(n, str(getattr(settings, n)), SETTINGS_HELP[n]) for n in names]
    rows.append(
        (
            "phq9_item9_flag",
            "> 0",
            "Any PHQ-9 item 9 answer above 0 is a suicidality flag (fixed, DOMAIN.md §2).",
        )
    )
    return pd.DataFrame(rows, columns=["setting", "value", "meaning"])


# --- Summary -------------------------------------------------------------------------------


def safety_summary(
    sessions: pd.DataFrame,
    side_effects: pd.DataFrame,
    vitals: pd.DataFrame,
    assessments: pd.DataFrame,
    *,
    settings: Settings,
) -> dict:
    """The `safety` object of `summary --json`.

    bp_excursion_sessions: completed dosing sessions with any reading at or above the
    excursion thresholds; suicidality_flag_patients: patients with any PHQ-9 item 9 > 0;
    serious_events: side-effect records marked serious on completed dosing sessions (the
    same record scope as the side-effect rates; each record counts).
    """
    bp = session_vitals(sessions, vitals, settings=settings)
    return {
        "bp_excursion_sessions": int(bp["is_excursion"].sum()),
        "suicidality_flag_patients": suicidality_flag_patients(assessments),
        "serious_events": serious_events(sessions, side_effects),
    }


def serious_events(sessions: pd.DataFrame, side_effects: pd.DataFrame) -> int:
    """Side-effect records marked serious (SAE) on completed dosing sessions; each counts."""
    doses = dosing_sessions(sessions, columns=["session_id"])["session_id"]
    on_doses = side_effects[is_member(side_effects["session_id"], doses)]
    return int(on_doses["serious"].astype(bool).sum())


# --- Every table of the Safety page, from narrow frames ---------------------------------------


@dataclass(frozen=True)
class DoseSafety:
    """The safety tables of a set of doses, as the pandas metrics above define them.

    Shared and read-only once built (the Safety page caches one per filters × data version).
    `doses` carries the dose attributes the subgroup tables split by; `effects` is the
    `session_effects` rows; `sedation` counts the MOAA/S scores taken during the doses.
    """

    doses: pd.DataFrame
    effects: pd.DataFrame
    rates: pd.DataFrame
    by_number: pd.DataFrame
    session_vitals: pd.DataFrame
    curve: pd.DataFrame
    u: pd.DataFrame
    long_term: pd.DataFrame
    sedation: dict[str, int]
    cadss: pd.DataFrame
    monitoring: pd.DataFrame
    serious_events: int
    dosing_sessions: int
    patients_dosed: int

    row_dose: np.ndarray
    """Position in `doses` of each row of `effects` (its dose)."""

    def rates_by(self, by: str) -> pd.DataFrame:
        """`effect_rates_by` these doses (route, drug, dose_band, site or session_number)."""
        if by == "session_number":
            return self.by_number
        # Labels by position: an index of session ids would be hashed for nothing.
        labels = dose_groups(self.doses, by).reset_index(drop=True)
        return rates_by_labels(labels, self.effects, labels.to_numpy()[self.row_dose], by=by)


def dose_safety(
    doses: pd.DataFrame,
    effects: pd.DataFrame,
    scales: pd.DataFrame,
    *,
    bp: tuple[pd.DataFrame, pd.DataFrame],
    settings: Settings,
) -> DoseSafety:
    """Every Safety table from narrow frames (kapviz.db.aggregates.safety), equal to the
    metrics above on the raw frames.

    doses: one row per completed dosing session in scope (session_id, patient_id,
    course_id, started_at, site, route, drug, dose_mg, dose_mg_per_kg, monitoring_min), in
    the session frames' order; effects: per session × term (session_id, term,
    severity_rank, serious, records, serious_records); scales: CADSS and MOAA/S scores
    (session_id, instrument, total) in the assessment frames' order; bp: `dose_bp` of the
    doses. effects and scales may hold rows of other sessions: only the doses' rows count.

    Every row is matched to its dose once, by position (a hash lookup of its session id);
    the subgroup and band of a row are then its dose's, looked up by position.
    """
    effect_dose, scale_dose = dose_positions_of(
        [effects["session_id"], scales["session_id"]], doses["session_id"]
    )
    rows, row_dose = effect_rows(doses, effects, effect_dose)
    order = _DoseOrder(doses, key_array(doses["session_id"]))
    numbers = order.numbers()
    number = pd.Series(numbers, name="session_number")
    cumulative = cumulative_bands(pd.Series(order.cumulative_mg()))
    moaas = scales.loc[(scale_dose >= 0) & (scales["instrument"] == "MOAA/S").to_numpy(), "total"]
    is_cadss = (scale_dose >= 0) & (scales["instrument"] == "CADSS").to_numpy()
    cadss = scales.loc[is_cadss].assign(session_number=numbers[scale_dose[is_cadss]])
    session_bp, curve = bp
    return DoseSafety(
        doses=doses,
        effects=rows,
        rates=rates_of(
            rows, dosing_sessions=len(doses), patients_dosed=int(doses["patient_id"].nunique())
        ),
        by_number=rates_by_labels(number, rows, numbers[row_dose], by="session_number"),
        session_vitals=session_bp,
        curve=curve,
        u=u_chart_from_counts(_monthly_events(doses, row_dose)),
        long_term=long_term_by_band(cumulative, rows, cumulative.to_numpy()[row_dose]),
        sedation={
            "scores": len(moaas),
            "sedation": int((moaas <= settings.sedation_moaas_max).sum()),
            "loss_of_consciousness": int((moaas == instruments.LOSS_OF_CONSCIOUSNESS_MOAAS).sum()),
        },
        cadss=cadss_table(cadss),
        monitoring=monitoring_of(doses, settings=settings),
        serious_events=int(effects.loc[effect_dose >= 0, "serious_records"].sum()),
        dosing_sessions=len(doses),
        patients_dosed=int(doses["patient_id"].nunique()),
        row_dose=row_dose,
    )


def dose_bp(
    doses: pd.DataFrame, readings: pd.DataFrame, *, settings: Settings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(`session_vitals`, `bp_curve`) of the doses from blood-pressure readings (session_id,
    minutes_from_dose, systolic, diastolic; readings of other sessions are ignored).

    A step of its own so that the million readings can be let go before the next read.
    """
    reading_dose = dose_positions(readings["session_id"], key_array(doses["session_id"]))
    kept = reading_dose >= 0
    columns = ["minutes_from_dose", "systolic", "diastolic"]
    values = [readings[c].to_numpy(dtype="float64", na_value=np.nan) for c in columns]
    if not kept.all():
        values, reading_dose = [v[kept] for v in values], reading_dose[kept]
    minutes, systolic, diastolic = values
    stats = bp_stats(reading_dose, minutes, systolic, diastolic)
    stat_at = np.full(len(doses), -1)
    stat_at[stats.pop("code")] = np.arange(len(stats["readings"]))
    cols = ["session_id", "patient_id", "course_id", "started_at", "route", "drug"]
    session_bp = flags_of(doses[cols], pd.DataFrame(stats), stat_at, settings=settings)
    counts = bp_counts(pd.DataFrame(dict(zip(columns, values, strict=True)), copy=False))
    return session_bp, bp_curve_from_counts(counts)


def dose_bp_from(
    doses: pd.DataFrame, stats: pd.DataFrame, counts: pd.DataFrame, *, settings: Settings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`dose_bp` from readings grouped in SQL: per-session `stats` (bp_per_session's
    columns; other sessions ignored) and value `counts` of the doses' readings (bp_counts)."""
    position = dose_positions(doses["session_id"], stats["session_id"])
    cols = ["session_id", "patient_id", "course_id", "started_at", "route", "drug"]
    session_bp = flags_of(doses[cols], stats, position, settings=settings)
    return session_bp, bp_curve_from_counts(counts)


class _DoseOrder:
    """The doses sorted within course or patient by start, then session id (the order of
    number_doses and cumulative_of), computed on integer ranks rather than strings."""

    def __init__(self, doses: pd.DataFrame, ids: pa.Array) -> None:
        self.doses = doses
        # Code-point order of the ids, as Python compares strings (null-typed when empty).
        self.ranks = pc.rank(ids).to_numpy() if len(ids) else np.array([], dtype="uint64")
        started = pd.to_datetime(doses["started_at"]).to_numpy("datetime64[ns]")
        self.started = started.astype("int64")

    def within(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(positions in order, the key's integer code at each, −1 when missing)."""
        groups = pd.factorize(self.doses[key])[0]
        order = np.lexsort((self.ranks, self.started, groups))
        return order, groups[order]

    def numbers(self) -> np.ndarray:
        """`number_doses` per dose: int64, or float64 with NaN for doses without a course."""
        if self.doses.empty:
            return np.array([], dtype="float64")  # as number_doses' empty reindex gives
        order, course = self.within("course_id")
        first = np.r_[True, course[1:] != course[:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
        numbers = np.empty(len(order), dtype="int64")
        numbers[order] = np.arange(len(order)) - start + 1
        if (course < 0).any():
            out = numbers.astype("float64")
            out[order[course < 0]] = np.nan
            return out
        return numbers

    def cumulative_mg(self) -> np.ndarray:
        """`cumulative_of`'s cumulative_mg per dose (the same additions in the same order)."""
        order, patient = self.within("patient_id")
        mg = self.doses["dose_mg"].astype("float64").fillna(0.0).to_numpy()[order]
        running = pd.Series(mg).groupby(patient).cumsum().to_numpy()
        out = np.empty(len(order), dtype="float64")
        out[order] = running
        return out


def _monthly_events(doses: pd.DataFrame, row_dose: np.ndarray) -> pd.DataFrame:
    """`monthly_events` with each event's dose given by position."""
    if doses.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in U_CHART_COLUMNS[:3]})
    month = pd.to_datetime(doses["started_at"]).dt.to_period("M").dt.to_timestamp()
    sizes = month.groupby(month).size().rename("dosing_sessions")
    event_month = pd.Series(month.to_numpy()[row_dose])
    counts = event_month.groupby(event_month).size().reindex(sizes.index, fill_value=0)
    out = pd.DataFrame({"events": counts.astype("int64"), "dosing_sessions": sizes})
    out.index.name = "month"
    return out.reset_index()
