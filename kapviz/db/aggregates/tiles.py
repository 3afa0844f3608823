"""The Overview's alerts tile: patients on the Safety worklist now and 30 days ago.

Why its own reads: the worklist's rules (kapviz.metrics.alerts) run on the rows of the
alerts' look-back only (kapviz.db.aggregates.program.recent_activity), and the last contact
that sets inactive patients apart is looked up for the patients with an alert only, not
counted for every patient of the clinic.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pandas as pd
from sqlalchemy import Connection

from kapviz.config import Settings
from kapviz.db.aggregates import program as program_sql
from kapviz.db.aggregates import safety as safety_sql
from kapviz.filters import Filters
from kapviz.metrics import alerts, program


def recent_since(now: datetime, *, lookback_days: int = 14) -> datetime:
    """Start of the rows the tiles read for the alerts (their other numbers are counted in
    SQL): as of now and as of 30 days ago, `lookback_days` back, in whole days."""
    return datetime.combine(now.date() - timedelta(days=31 + lookback_days), time.min)


def excursion_thresholds(config: Settings) -> tuple[int, int]:
    """(systolic, diastolic) at or above which a reading is an excursion: the tiles read the
    vital signs of such sessions only (the alerts look at nothing else)."""
    return (config.bp_excursion_systolic, config.bp_excursion_diastolic)


def _patients(table: pd.DataFrame) -> list[str]:
    return sorted(set(table["patient_id"]))


def open_alerts(
    conn: Connection, filters: Filters, *, now: datetime, settings: Settings
) -> tuple[alerts.Attention, alerts.Attention]:
    """Patients needing attention as of `now` and 30 days before (the tile and its delta),
    by kapviz.metrics.program.open_alert_patients' rule, on the look-back's rows."""
    recent = program_sql.recent_activity(
        conn,
        filters,
        since=recent_since(now, lookback_days=settings.alert_lookback_days),
        vitals_reaching=excursion_thresholds(settings),
        alerts_only=True,
    )
    open_now, open_before = program.open_alert_tables(
        recent.sessions,
        recent.side_effects,
        recent.vitals,
        recent.phq9,
        settings=settings,
        now=now,
    )
    then = program.tile_windows(now).cur30
    contacts_now, contacts_before = program_sql.side_by_side(
        conn,
        lambda c: safety_sql.last_contact(c, filters, before=now, patients=_patients(open_now)),
        lambda c: safety_sql.last_contact(c, filters, before=then, patients=_patients(open_before)),
    )
    return program.attention_now_and_before(
        open_now, open_before, contacts_now, contacts_before, settings=settings, now=now
    )
