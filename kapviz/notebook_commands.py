"""`python -m kapviz notebook`: write an Explore view as a Jupyter notebook that reproduces it.

The options are `python -m kapviz query`'s (--by, the cohort options, --db) plus the view's
measure, instrument and term; they are checked as the page checks its URL
(`ExploreView.from_params`), so a bad value is an error that names it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kapviz.api_commands import add_cohort_options
from kapviz.config import database_url
from kapviz.explore import MEASURES, ExploreView

_PARAMS = {
    "site": "site",
    "indication": "indication",
    "route": "route",
    "start": "from",
    "end": "to",
    "baseline_band": "baseline_band",
    "age_band": "age_band",
    "sex": "sex",
    "clinician": "clinician",
    "dose_band": "dose_band",
    "doses_min": "doses_min",
    "doses_max": "doses_max",
    "first_dose_from": "first_dose_from",
    "first_dose_to": "first_dose_to",
}
"""Option (argparse dest) → the Explore URL parameter it sets."""


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register `notebook`."""
    parser = sub.add_parser(
        "notebook",
        help="write an Explore view as a Jupyter notebook that reproduces it",
        description="A notebook that connects with kapviz.connect, rebuilds the cohort, "
        "prints the Explore table and draws its chart (docs/api.md).",
    )
    parser.add_argument(
        "--measure", default="response", choices=list(MEASURES), help="default: response"
    )
    parser.add_argument("--instrument", default="PHQ-9", help="outcome instrument (PHQ-9)")
    parser.add_argument("--term", default=None, help="side effect of side_effect_rate")
    add_cohort_options(parser)
    parser.add_argument("--out", required=True, type=Path, help="the .ipynb file to write")
    parser.set_defaults(func=_notebook)


def _notebook(args: argparse.Namespace) -> int:
    from kapviz import explore_notebook

    params: dict[str, str | list[str]] = {"measure": args.measure, "instrument": args.instrument}
    if args.term:
        params["term"] = args.term
    if args.by:
        params["by"] = list(args.by)
    for dest, key in _PARAMS.items():
        value = getattr(args, dest)
        if value is not None:
            params[key] = [str(v) for v in value] if isinstance(value, list) else str(value)
    view, errors = ExploreView.from_params(params)
    if not errors and MEASURES[view.measure].needs_term and not view.term:
        errors.append(f"{view.measure} needs --term (a side effect, e.g. nausea)")
    if errors:
        for error in errors:
            print(f"kapviz notebook: {error}", file=sys.stderr)
        return 2
    notebook = explore_notebook.notebook_for(view, database_url(args.db))
    explore_notebook.write(notebook, args.out)
    print(f"Wrote {args.out} ({MEASURES[view.measure].label}).")
    return 0
