"""Data-quality checks for the Data page, counted in SQL and cached per data version."""

from __future__ import annotations

import pandas as pd

from kapviz.db import rollups
from kapviz.db.aggregates import quality as quality_sql
from kapviz.filters import Filters
from kapviz.ui import data, rollup_panel

SHOWN_ROWS = 200
"""Dosing sessions listed without a pre-dose PHQ-9 (newest first); the count covers all."""


def missing_predose(filters: Filters) -> quality_sql.MissingPreDose:
    """Completed dosing sessions without a PHQ-9 in the 7 days before: count and newest
    (from the rollups for the whole clinic while they are current; else live, the same)."""
    if filters.is_empty and rollup_panel.status().current:
        return data.aggregate(rollups.dosing_without_predose, filters, limit=SHOWN_ROWS)
    return data.aggregate(quality_sql.dosing_without_predose, filters, limit=SHOWN_ROWS)


def term_mapping(filters: Filters) -> pd.DataFrame:
    """Recorded side-effect wordings that differ from their preferred term, with counts."""
    return data.aggregate(quality_sql.term_mapping, filters)
