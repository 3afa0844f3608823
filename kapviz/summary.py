"""What the database holds, as one JSON-ready dict (`python -m kapviz summary --json`).

The keys are a public interface: `patients`, `courses`, `sessions` (completed sessions per
phase), `outcomes`, `side_effects`, `safety`, `time_to_response`. Add keys; never rename them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine

from kapviz.config import Settings, load_settings
from kapviz.db import queries
from kapviz.domain import PHASES
from kapviz.instruments import OUTCOME_INSTRUMENTS
from kapviz.metrics.outcomes import course_outcomes, outcomes_summary
from kapviz.metrics.safety import safety_summary
from kapviz.metrics.scores import completed_doses
from kapviz.metrics.side_effects import side_effects_summary
from kapviz.metrics.time_to_response import time_to_response_summary


def build_summary(engine: Engine, *, settings: Settings | None = None) -> dict[str, Any]:
    """Counts, outcomes and safety figures of the whole database."""
    settings = settings or load_settings()
    with engine.connect() as conn:
        counts = queries.table_counts(conn)
        phases = queries.phase_counts(conn)
        summary: dict[str, Any] = {
            "patients": counts["patients"],
            "courses": counts["courses"],
            "sessions": {phase: phases.get(phase, 0) for phase in PHASES},
        }
        summary.update(_clinical_sections(conn, settings))
    return summary


def _clinical_sections(conn: Connection, settings: Settings) -> dict[str, Any]:
    """Outcome, side-effect and safety sections, from the same metrics the pages use."""
    sessions = queries.sessions(conn)
    assessments = queries.assessments(conn, instruments=[*OUTCOME_INSTRUMENTS, "MOAA/S"])
    outcomes = course_outcomes(
        sessions, assessments, baseline_window_days=settings.baseline_window_days
    )
    side_effects = queries.side_effects(conn)
    vitals = queries.vitals(conn)
    return {
        "outcomes": outcomes_summary(outcomes),
        "side_effects": side_effects_summary(sessions, side_effects),
        "safety": safety_summary(sessions, side_effects, vitals, assessments, settings=settings),
        "time_to_response": time_to_response_summary(outcomes, completed_doses(sessions)),
    }


def format_summary(summary: dict[str, Any]) -> str:
    """A short human-readable version of the summary for the terminal."""
    lines = [
        f"patients: {summary['patients']}",
        f"courses:  {summary['courses']}",
        "completed sessions: "
        + ", ".join(f"{phase} {n}" for phase, n in summary["sessions"].items()),
    ]
    for instrument, o in summary.get("outcomes", {}).items():
        rate = o.get("response_rate")
        rate_text = "n/a" if rate is None else f"{rate:.1%}"
        lines.append(f"{instrument}: {o['evaluable']} evaluable courses, response {rate_text}")
    effects = summary.get("side_effects", {}).get("effects", {})
    if effects:
        top = sorted(effects.items(), key=lambda kv: -kv[1]["patient_rate"])[:5]
        lines.append(
            "most common side effects (patients): "
            + ", ".join(f"{term} {v['patient_rate']:.0%}" for term, v in top)
        )
    return "\n".join(lines)
