"""Suicidality flags and the alerts worklist: who needs attention now (docs/domain.md §2, §4),
and the thresholds in force.

PHQ-9 item 9 > 0 is fixed by docs/domain.md §2 and nobody may raise it; every other threshold
comes from `Settings`. kapviz.metrics.safety re-exports every public name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd

from kapviz import instruments
from kapviz.config import SETTINGS_HELP, Settings
from kapviz.metrics.monitoring import instrument_rows
from kapviz.metrics.side_effects import severity_rank
from kapviz.metrics.vitals import session_vitals
from kapviz.vocabulary import SEVERITY_RANK

# --- Suicidality ---------------------------------------------------------------------------


def phq9_item9(assessments: pd.DataFrame) -> pd.DataFrame:
    """PHQ-9s with a known item 9 answer: patient_id, course_id, administered_at, id, total,
    item9 (from suicide_item, else the 9th item of the item list), sorted oldest first."""
    rows = instrument_rows(assessments, instruments.PHQ9.id)
    item9 = pd.to_numeric(rows["suicide_item"], errors="coerce").astype("float64")
    if "items" in rows and item9.isna().any():
        # Only rows missing suicide_item that carry an item list (often none: the Overview
        # reads no item lists), so the per-row lookup does not run over every PHQ-9.
        position = instruments.SUICIDALITY_ITEM - 1
        lists = rows.loc[item9.isna(), "items"].dropna()
        if not lists.empty:
            from_items = lists.map(
                lambda v: v[position] if isinstance(v, list) and len(v) > position else np.nan
            )
            item9 = item9.fillna(pd.to_numeric(from_items, errors="coerce").astype("float64"))
    cols = ["patient_id", "course_id", "administered_at", "id", "total"]
    out = rows[cols].assign(item9=item9).dropna(subset=["item9"])
    out = out.astype({"item9": "int64"})
    out = out.assign(administered_at=pd.to_datetime(out["administered_at"]))
    return out.sort_values(["patient_id", "administered_at", "id"], kind="stable")


def suicidality_flag_patients(assessments: pd.DataFrame) -> int:
    """Patients with ANY PHQ-9 whose item 9 is above 0 (docs/domain.md §2; never raised)."""
    rows = phq9_item9(assessments)
    return int(rows.loc[rows["item9"] > 0, "patient_id"].nunique())


# --- Alerts worklist -----------------------------------------------------------------------

REASON_SERIOUS = "Serious adverse event"
REASON_SUICIDALITY = "PHQ-9 item 9 > 0"
REASON_EXCURSION = "BP excursion"
REASON_SEVERE = "Severe side effect"
REASON_URINARY = "Urinary symptoms"
REASON_COGNITIVE = "Cognitive complaints"

REASON_RANK: dict[str, int] = {
    REASON_SERIOUS: 1,
    REASON_SUICIDALITY: 2,
    REASON_EXCURSION: 3,
    REASON_SEVERE: 4,
    REASON_URINARY: 5,
    REASON_COGNITIVE: 6,
}
"""Worklist order (DOMAIN §4): serious adverse events first, then suicidality, BP
excursions, severe effects, urinary and cognitive complaints; newest first within each."""

ALERT_COLUMNS = ["patient_id", "course_id", "reason", "detail", "date", "severity_rank"]


def _latest_item9_alerts(assessments: pd.DataFrame) -> pd.DataFrame:
    """Item 9 > 0 on the latest PHQ-9 with item answers (a total-only form clears nothing);
    the detail says so when a later PHQ-9 has a total only."""
    latest = phq9_item9(assessments).drop_duplicates("patient_id", keep="last")
    latest = latest[latest["item9"] > 0]
    every = instrument_rows(assessments, instruments.PHQ9.id)
    newest = (
        every.assign(administered_at=pd.to_datetime(every["administered_at"]))
        .sort_values(["patient_id", "administered_at"], kind="stable")
        .drop_duplicates("patient_id", keep="last")
        .set_index("patient_id")
    )
    # Each patient's newest PHQ-9 looked up at once (not a .loc per row: thousands at 100k).
    later = newest[["administered_at", "total"]].reindex(latest["patient_id"])
    details = []
    for at, item9, total, later_at, later_total in zip(
        latest["administered_at"],
        latest["item9"],
        latest["total"],
        later["administered_at"],
        later["total"],
        strict=True,
    ):
        text = f"item 9 = {item9}, total {total} on {at:%Y-%m-%d} (latest with item answers)"
        if pd.notna(later_at) and later_at > at:
            text += (
                f"; a later PHQ-9 ({later_at:%Y-%m-%d}, total "
                f"{int(later_total)}) has no item answers"
            )
        details.append(text)
    return pd.DataFrame(
        {
            "patient_id": latest["patient_id"],
            "course_id": latest["course_id"],
            "reason": REASON_SUICIDALITY,
            "detail": details,
            "date": latest["administered_at"],
        }
    )


def split_inactive(
    alerts: pd.DataFrame, last_contact: pd.Series, *, now: datetime, inactive_days: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(active, inactive) alerts: a patient with no completed session in the `inactive_days`
    before `now` is inactive (DOMAIN §4); their alerts are listed apart with `last_contact`
    (the date of their latest completed session, NaT when none)."""
    # reindex, not map: Series.map of an empty Series with a datetime mapper raises (pandas 3).
    known = pd.to_datetime(last_contact[~last_contact.index.duplicated()])
    contact = pd.Series(known.reindex(alerts["patient_id"]).to_numpy(), index=alerts.index)
    cutoff = pd.Timestamp(now) - timedelta(days=inactive_days)
    inactive = contact.isna() | (contact < cutoff)
    return (
        alerts[~inactive].reset_index(drop=True),
        alerts[inactive].assign(last_contact=contact[inactive]).reset_index(drop=True),
    )


@dataclass(frozen=True)
class Attention:
    """Patients on the alerts worklist: `active` is the number every page shows as "needing
    attention" (the worklist's own rows); `inactive` patients' alerts are listed apart."""

    active: int
    inactive: int


def attention(
    alerts: pd.DataFrame, last_contact: pd.Series, *, now: datetime, inactive_days: int
) -> Attention:
    """Patients needing attention by the worklist's rule (split_inactive): the Overview's
    tile, the Safety page's KPI and the worklist count the same patients."""
    active, inactive = split_inactive(alerts, last_contact, now=now, inactive_days=inactive_days)
    return Attention(int(active["patient_id"].nunique()), int(inactive["patient_id"].nunique()))


def contacts_of(table: pd.DataFrame) -> pd.Series:
    """patient_id → last contact, from an alerts table carrying a `last_contact` column."""
    return table.drop_duplicates("patient_id").set_index("patient_id")["last_contact"]


def mark_new(alerts: pd.DataFrame, since: datetime | None) -> pd.DataFrame:
    """`is_new`: the alert's date is after `since` (the viewer's previous visit; None: none
    is new, nothing to compare with)."""
    new = pd.to_datetime(alerts["date"]) > pd.Timestamp(since) if since else False
    return alerts.assign(is_new=pd.Series(new, index=alerts.index, dtype=bool))


def alert_groups(alerts: pd.DataFrame) -> pd.DataFrame:
    """Patients on the worklist per site and clinician (site, clinician, patients, alerts,
    new), most patients first: where the work is, at network scale."""
    columns = ["site", "clinician", "patients", "alerts", "new"]
    if alerts.empty:
        return pd.DataFrame(columns=columns)
    grouped = alerts.assign(new=alerts["is_new"].astype(int)).groupby(
        ["site", "clinician"], as_index=False
    )
    table = grouped.agg(
        patients=("patient_id", "nunique"), alerts=("patient_id", "size"), new=("new", "sum")
    )
    table = table.sort_values(
        ["patients", "site", "clinician"], ascending=[False, True, True], kind="stable"
    )
    return table[columns].reset_index(drop=True)


def page_of(rows: pd.DataFrame, page: int, *, size: int) -> pd.DataFrame:
    """Rows of page `page` (1-based) of `size` rows each; past the end: the last page."""
    pages = max(1, -(-len(rows) // size))
    page = min(max(page, 1), pages)
    return rows.iloc[(page - 1) * size : page * size]


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
    return _patient_alerts(last, terms.index, reason, detail)


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
    return _patient_alerts(last, worst_s.index, REASON_EXCURSION, detail)


def _patient_alerts(
    last: pd.DataFrame, patients: pd.Index, reason: str, detail: list[str]
) -> pd.DataFrame:
    """One alert row per patient, dated and tied to the course of its latest session
    (`last`: the latest matching row per patient, indexed by patient_id)."""
    return pd.DataFrame(
        {
            "patient_id": patients,
            "course_id": last.loc[patients, "course_id"].to_numpy(),
            "reason": reason,
            "detail": detail,
            "date": last.loc[patients, "started_at"].to_numpy(),
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

    Reasons, in worklist order (REASON_RANK): within the last settings.alert_lookback_days
    days up to `now`, a serious adverse event; item 9 > 0 on the latest PHQ-9 with item
    answers (any date); and, within the look-back, a BP excursion, a severe side effect,
    urinary symptoms, cognitive complaints. Newest first within each reason.
    Columns: patient_id, course_id, reason, detail, date, severity_rank (1 most urgent).
    """
    now_ts = pd.Timestamp(now)
    since = now_ts - timedelta(days=settings.alert_lookback_days)
    records = _recent_effects(sessions, side_effects, since, now_ts)
    severe = SEVERITY_RANK["severe"]
    parts = [
        _effect_alerts(records[records["serious"].astype(bool)], REASON_SERIOUS),
        _latest_item9_alerts(assessments),
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
            "Any PHQ-9 item 9 answer above 0 is a suicidality flag (fixed: never raised).",
        )
    )
    return pd.DataFrame(rows, columns=["setting", "value", "meaning"])


def patients_per_reason(worklist: pd.DataFrame) -> pd.DataFrame:
    """Patients on the worklist per reason, most urgent reason first (a patient with two
    reasons counts under each). Columns: reason, patients; every reason, zeros included."""
    counts = worklist.groupby("reason")["patient_id"].nunique() if len(worklist) else {}
    reasons = sorted(REASON_RANK, key=REASON_RANK.get)
    return pd.DataFrame(
        {"reason": reasons, "patients": [int(counts.get(r, 0)) for r in reasons]}
    ).astype({"reason": object, "patients": "int64"})


def alerts_now(today: date) -> datetime:
    """'Now' of an alerts worklist drawn on `today`: the end of the day, so the look-back
    window is whole days."""
    return datetime.combine(today, time.max)
