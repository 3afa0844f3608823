"""Safety monitoring (docs/domain.md §4): the `safety` summary object and every table of the
Safety page from narrow frames (`dose_safety`).

The metrics themselves live by concern, imported from where they are defined: sedation,
dissociation, monitoring and the u-chart in kapviz.metrics.monitoring; suicidality, the
alerts worklist and the thresholds in force in kapviz.metrics.alerts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kapviz import instruments
from kapviz.config import Settings
from kapviz.metrics.alerts import (
    suicidality_flag_patients,
)
from kapviz.metrics.monitoring import (
    U_CHART_COLUMNS,
    cadss_table,
    monitoring_of,
    u_chart_from_counts,
)
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
)
from kapviz.metrics.vitals import (
    bp_counts,
    bp_curve_from_counts,
    bp_stats,
    flags_of,
    session_vitals,
)

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
