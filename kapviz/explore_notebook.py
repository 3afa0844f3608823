"""An Explore view as a Jupyter notebook that reproduces it (the page's "Open as notebook"
and `python -m kapviz notebook`).

The notebook states the rules, connects with `kapviz.connect`, rebuilds the same view and
computes it with `kapviz.explore.run` (the page's code), prints the table, shows the same
figures straight from the API, and draws the page's chart. A database password is never
written into the notebook: it then reads the URL from KAPVIZ_DATABASE_URL.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat import NotebookNode
from sqlalchemy.engine import URL, make_url

import kapviz
from kapviz.explore import MEASURES, CohortSpec, ExploreView

BREAKDOWN_RULES: dict[str, str] = {
    "site": "the patient's site",
    "indication": "the patient's indication",
    "sex": 'the patient\'s sex ("unknown" when not recorded)',
    "route": "the route of the course's first completed dose",
    "dose_band": "the band of the course's first completed dose (mg/kg for IV and IM, "
    "mg otherwise)",
    "clinician": "the clinician of most of the course's completed dosing sessions",
    "age_band": "age at the course's first completed dose (birth year to its year)",
    "baseline_band": "the severity band of the course's baseline of the instrument",
}
"""How each breakdown puts a course in a group (docs/domain.md §4c, kapviz.api)."""

API_METHOD: dict[str, str] = {
    "response": "outcomes",
    "remission": "outcomes",
    "reliable_improvement": "outcomes",
    "reliable_deterioration": "outcomes",
    "mean_change": "outcomes",
    "baseline_mean": "outcomes",
    "endpoint_mean": "outcomes",
    "time_to_response": "time_to_response",
    "side_effect_rate": "side_effects",
    "adverse_events_per_100": "adverse_events",
    "bp_excursion_rate": "bp_excursions",
    "sedation_rate": "sedation",
    "measurement_completion": "measurement_completion",
}
"""The `Clinic` method behind each measure (the notebook shows the direct call too)."""

PASSWORD_VARIABLE = "KAPVIZ_DATABASE_URL"


def notebook_for(view: ExploreView, db_url: str) -> NotebookNode:
    """A notebook that reproduces `view` on the database at `db_url`."""
    measure = MEASURES[view.measure]
    cells = [
        nbformat.v4.new_markdown_cell(_rules(view)),
        nbformat.v4.new_code_cell(_connect(db_url)),
        nbformat.v4.new_code_cell(_run(view)),
        nbformat.v4.new_markdown_cell(
            f"The same figures straight from the Python API (`clinic.{API_METHOD[measure.key]}`"
            ", docs/api.md), with every column it computes:"
        ),
        nbformat.v4.new_code_cell(_api_call(view)),
        nbformat.v4.new_markdown_cell("The Explore page's chart of the table:"),
        nbformat.v4.new_code_cell(_chart()),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def write(notebook: NotebookNode, path: Path) -> None:
    """Write `notebook` to `path` (format 4, validated)."""
    nbformat.validate(notebook)
    path.write_text(nbformat.writes(notebook), encoding="utf-8")


def _rules(view: ExploreView) -> str:
    measure = MEASURES[view.measure]
    what = measure.label
    if measure.needs_instrument and view.instrument:
        what += f", {view.instrument}"
    if measure.needs_term and view.term:
        what += f", {view.term}"
    lines = [
        f"# {what}",
        "",
        f"Written by kapviz {kapviz.__version__} from an Explore view. Running it connects to "
        "the clinic database, rebuilds the same cohort, computes the same table with the same "
        "code as the page (`kapviz.explore.run`) and draws the same chart.",
        "",
        "## Rules",
        "",
        f"- **{measure.label}**: {measure.rule}.",
        f"- **Cohort**: {view.cohort.describe()}. Site, indication, route and dates as the "
        "dashboard's filters (a course is kept whole when any of its sessions is in the date "
        "range; safety measures count its dosing sessions inside the range).",
    ]
    for dim in view.by:
        lines.append(f"- **Breakdown by {dim.replace('_', ' ')}**: {BREAKDOWN_RULES[dim]}.")
    lines += [
        "- Rates are fractions with 95% Wilson intervals (adverse events: per 100 dosing "
        "sessions, exact Poisson interval); NaN where a group's denominator is empty.",
        "- Thresholds and windows (baseline window, BP excursion, MOAA/S sedation) come from "
        "the `KAPVIZ_*` settings of the environment running the notebook, as in the app.",
        "- Counts are exact, as a director sees them: apply the small-cell rule "
        "(`kapviz.privacy.suppress_small_cells`) before sharing them outside the team.",
    ]
    return "\n".join(lines)


def _connect(db_url: str) -> str:
    url = make_url(db_url)
    if url.drivername.startswith("sqlite") and url.database not in (None, "", ":memory:"):
        url = url.set(database=str(Path(url.database).resolve()))
    lines = ["import kapviz", "from kapviz import explore", ""]
    if url.password is not None:
        bare = URL.create(
            url.drivername, url.username, None, url.host, url.port, url.database, url.query
        )
        shown = bare.render_as_string(hide_password=False)
        lines = ["import os", "", *lines]
        lines.append(
            f"# The password is not stored here: set {PASSWORD_VARIABLE} to the full URL "
            f"({shown} with its password)."
        )
        lines.append(f'clinic = kapviz.connect(os.environ["{PASSWORD_VARIABLE}"])')
    else:
        lines.append(f"clinic = kapviz.connect({url.render_as_string(hide_password=False)!r})")
    lines.append("clinic")
    return "\n".join(lines)


def _cohort_code(cohort: CohortSpec) -> str:
    parts = []
    for name in CohortSpec.__dataclass_fields__:
        value = getattr(cohort, name)
        if value is None or value == ():
            continue
        parts.append(f"{name}={_literal(value)}")
    if not parts:
        return "explore.CohortSpec()"
    inner = "".join(f"        {p},\n" for p in parts)
    return f"explore.CohortSpec(\n{inner}    )"


def _literal(value: object) -> str:
    """Python source of a cohort value (dates as date(...))."""
    if isinstance(value, tuple):
        items = ", ".join(_literal(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return f"date.fromisoformat({value.isoformat()!r})"
    return repr(value)


def _run(view: ExploreView) -> str:
    return "\n".join(
        [
            "from datetime import date",
            "",
            "view = explore.ExploreView(",
            f"    measure={view.measure!r},",
            f"    instrument={view.instrument!r},",
            f"    term={view.term!r},",
            f"    by={_literal(tuple(view.by))},",
            f"    cohort={_cohort_code(view.cohort)},",
            ")",
            "result = explore.run(clinic, view)",
            "print(result.sentence)",
            "print(result.table.to_csv(index=False))",
        ]
    )


def _api_call(view: ExploreView) -> str:
    measure = MEASURES[view.measure]
    method = API_METHOD[measure.key]
    args = []
    if measure.needs_instrument:
        args.append(repr(view.instrument))
    elif "baseline_band" in view.by or view.cohort.baseline_band:
        args.append(f"instrument={view.instrument!r}")
    if measure.needs_term:
        args.append(f"term={view.term!r}")
    args.append(f"by={list(view.by)!r}" if view.by else "by=None")
    args.append("**view.cohort.keywords()")
    return f"clinic.{method}({', '.join(args)})"


def _chart() -> str:
    return "\n".join(
        [
            "from kapviz.charts.explore import dot_interval",
            "",
            "dot_interval(",
            "    result.table,",
            "    by=view.by,",
            "    kind=result.measure.kind,",
            '    axis_title=f"{result.measure.label} ({result.measure.unit})",',
            "    title=result.measure.label,",
            ")",
        ]
    )
