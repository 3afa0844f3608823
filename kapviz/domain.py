"""Clinic vocabulary shared by every layer: the enumerations of docs/domain.md §1 and §4.

One place for each list so that the database constraints, the importer's validation and
the filters all agree.
"""

from __future__ import annotations

Z_95 = 1.959963984540054
"""Two-sided 95% standard normal quantile: Wilson and mean intervals, funnel limits, model
intervals and the Jacobson–Truax reliable change index (which publishes it as 1.96)."""

PHASES: tuple[str, ...] = ("intake", "preparation", "dosing", "integration", "follow_up")
"""Session phases in course order (docs/domain.md §1)."""

PHASE_LABELS: dict[str, str] = {
    "intake": "Intake",
    "preparation": "Preparation",
    "dosing": "Dosing",
    "integration": "Integration",
    "follow_up": "Follow-up",
}

STATUSES: tuple[str, ...] = ("completed", "cancelled", "no_show")
"""Session statuses; only completed sessions count in any denominator."""

ROUTES: tuple[str, ...] = ("iv", "im", "sublingual", "oral", "intranasal")
ROUTE_LABELS: dict[str, str] = {
    "iv": "IV",
    "im": "IM",
    "sublingual": "Sublingual",
    "oral": "Oral",
    "intranasal": "Intranasal",
}


def route_label(route: object) -> object:
    """The one display name of a route value ("iv" → "IV"), on every page, table and export;
    an unknown value is shown as it is, a missing one stays missing."""
    return ROUTE_LABELS.get(route, route) if isinstance(route, str) else route


WEIGHT_BASED_ROUTES: frozenset[str] = frozenset({"iv", "im"})
"""Routes dosed by body weight: dose bands in mg/kg; other routes in mg."""

DRUGS: tuple[str, ...] = ("ketamine", "esketamine")

SEXES: tuple[str, ...] = ("female", "male", "other", "unknown")

SEVERITIES: tuple[str, ...] = ("mild", "moderate", "severe")
"""Side-effect severity, mildest first; CTCAE 1 → mild, 2 → moderate, 3–5 → severe."""

ACTIONS: tuple[str, ...] = (
    "none",
    "observation",
    "medication_given",
    "dose_reduced",
    "session_stopped",
    "treatment_discontinued",
)

INDICATIONS: tuple[str, ...] = ("MDD", "TRD", "PTSD", "GAD", "bipolar depression", "other")
"""Usual indications; the template accepts other free-text values too."""
