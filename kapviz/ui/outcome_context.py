"""The Trajectories page's sections of issue 19, behind one call: published figures
beside the instrument's rates, then time to first response."""

from __future__ import annotations

from kapviz.filters import Filters
from kapviz.ui import evidence, time_to_response


def trajectories_section(filters: Filters, instrument: str) -> None:
    """Matching published figures and the Kaplan–Meier time to first response."""
    evidence.beside_rates(filters, instrument)
    time_to_response.section(filters, instrument)
