"""`python -m kapviz query MEASURE`: the API on the command line (outcomes, side-effects,
time-to-response, adverse-events, bp-excursions, sedation, measurement-completion).

The command line reads as a director (exact counts, clinician codes); `--suppress` shows
counts of 1 to threshold−1 as "<threshold" (kapviz.privacy) for output that leaves the team.
`--json` prints a list of objects, one per group, with the group columns and the API's keys.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import pandas as pd

from kapviz import api
from kapviz.config import database_url, load_settings
from kapviz.privacy import suppress_small_cells

COHORT_HELP = {
    "site": "the patient's site (as the global filter)",
    "clinician": "clinician code of most of the course's completed doses",
    "route": "any dose by this route (as the global filter; iv, im, ...)",
    "indication": "the patient's indication (as the global filter)",
    "dose_band": 'band of the first completed dose, e.g. "0.5–<0.75 mg/kg"',
    "sex": "female, male, other or unknown",
    "age_band": "18–24, 25–34, 35–44, 45–54, 55–64 or 65+ at the first dose",
    "baseline_band": "severity band of the baseline (outcomes, time-to-response)",
}


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register `query` and its three measures."""
    query = sub.add_parser(
        "query",
        help="outcome, side-effect or time-to-response figures by group (the Python API)",
        description="Figures of a cohort, broken down by up to several dimensions "
        f"({', '.join(api.DIMENSIONS)}), as kapviz.connect(...) computes them (docs/api.md).",
    )
    measures = query.add_subparsers(dest="measure", required=True, metavar="MEASURE")
    outcomes = measures.add_parser("outcomes", help="response, remission, reliable change")
    _instrument(outcomes)
    side_effects = measures.add_parser("side-effects", help="session rate of each effect term")
    side_effects.add_argument(
        "--instrument", default=None, help="instrument of a baseline_band breakdown or cohort"
    )
    ttr = measures.add_parser("time-to-response", help="Kaplan–Meier median days to response")
    _instrument(ttr)
    safety = {
        "adverse-events": ("adverse events per 100 dosing sessions", "adverse_events"),
        "bp-excursions": ("share of dosing sessions with a BP excursion", "bp_excursions"),
        "sedation": ("share of dosing sessions with MOAA/S sedation", "sedation"),
    }
    commands = [(outcomes, _outcomes), (side_effects, _side_effects), (ttr, _ttr)]
    for name, (help_text, method) in safety.items():
        parser = measures.add_parser(name, help=help_text)
        parser.add_argument(
            "--instrument", default=None, help="instrument of a baseline_band breakdown or cohort"
        )
        commands.append((parser, _safety(method)))
    completion = measures.add_parser(
        "measurement-completion", help="share of dosing sessions with a recent score"
    )
    completion.add_argument("--instrument", default="PHQ-9", help="instrument (default PHQ-9)")
    commands.append((completion, _completion))
    for parser, func in commands:
        _common(parser)
        parser.set_defaults(func=func)


def _instrument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--instrument", required=True, help="outcome instrument, e.g. PHQ-9")


def _common(parser: argparse.ArgumentParser) -> None:
    add_cohort_options(parser)
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print a JSON list, one object a group")
    out.add_argument("--csv", action="store_true", help="print CSV, one row a group")
    parser.add_argument(
        "--suppress", action="store_true", help='show counts below the small-cell threshold as "<N"'
    )


def add_cohort_options(parser: argparse.ArgumentParser) -> None:
    """--by, the cohort options and --db (shared with `python -m kapviz notebook`)."""
    parser.add_argument(
        "--by",
        action="append",
        default=[],
        choices=api.DIMENSIONS,
        help="breakdown dimension (repeat for two)",
    )
    cohort = parser.add_argument_group("cohort (repeat a value option to keep several)")
    for name in api.DIMENSIONS:
        cohort.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            action="append",
            default=None,
            metavar="VALUE",
            help=COHORT_HELP[name],
        )
    cohort.add_argument("--start", help="first day (YYYY-MM-DD): courses with a session from it")
    cohort.add_argument("--end", help="last day (YYYY-MM-DD): courses with a session up to it")
    cohort.add_argument(
        "--doses-min", type=int, metavar="N", help="courses with at least N completed doses"
    )
    cohort.add_argument(
        "--doses-max", type=int, metavar="N", help="courses with at most N completed doses"
    )
    cohort.add_argument(
        "--first-dose-from", metavar="YYYY-MM-DD", help="courses whose first dose is on or after"
    )
    cohort.add_argument(
        "--first-dose-to", metavar="YYYY-MM-DD", help="courses whose first dose is on or before"
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="SQLAlchemy database URL (default: KAPVIZ_DATABASE_URL, secrets.toml, "
        "else the embedded sqlite:///data/kapviz.db)",
    )


def _cohort(args: argparse.Namespace) -> dict[str, Any]:
    keywords: dict[str, Any] = {d: getattr(args, d) for d in api.DIMENSIONS}
    keywords.update(start=args.start, end=args.end)
    for name in COURSE_KEYWORDS:
        keywords[name] = getattr(args, name)
    return {k: v for k, v in keywords.items() if v is not None}


COURSE_KEYWORDS = ("doses_min", "doses_max", "first_dose_from", "first_dose_to")
"""Cohort keywords about the course's doses (options --doses-min ... --first-dose-to)."""


def _clinic(args: argparse.Namespace) -> api.Clinic:
    return api.connect(database_url(args.db))


def _outcomes(args: argparse.Namespace) -> int:
    return _print(args, lambda c: c.outcomes(args.instrument, by=args.by or None, **_cohort(args)))


def _side_effects(args: argparse.Namespace) -> int:
    return _print(
        args,
        lambda c: c.side_effects(by=args.by or None, instrument=args.instrument, **_cohort(args)),
    )


def _ttr(args: argparse.Namespace) -> int:
    return _print(
        args, lambda c: c.time_to_response(args.instrument, by=args.by or None, **_cohort(args))
    )


def _safety(method: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        return _print(
            args,
            lambda c: getattr(c, method)(
                by=args.by or None, instrument=args.instrument, **_cohort(args)
            ),
        )

    return run


def _completion(args: argparse.Namespace) -> int:
    return _print(
        args,
        lambda c: c.measurement_completion(args.instrument, by=args.by or None, **_cohort(args)),
    )


def _print(args: argparse.Namespace, compute: Any) -> int:
    try:
        table = compute(_clinic(args))
    except (ValueError, KeyError) as exc:
        print(f"kapviz query {args.measure}: {exc}", file=sys.stderr)
        return 2
    if args.suppress:
        table = suppressed(table, threshold=load_settings().small_cell_threshold)
    if args.json:
        print(json.dumps(records(table), indent=2, ensure_ascii=False))
    elif args.csv:
        sys.stdout.write(table.to_csv(index=False))
    else:
        print(table.to_string(index=False) if len(table) else "(no rows)")
    return 0


def suppressed(table: pd.DataFrame, *, threshold: int) -> pd.DataFrame:
    """Counts of 1 to threshold−1 (and their complements) shown as "<threshold"; a rate or
    median whose group has a hidden count is hidden too (it would give the count away)."""
    counts = [c for c in table.columns if c in api.COUNT_KEYS]
    if not counts or table.empty:
        return table
    out = suppress_small_cells(table.reset_index(drop=True), threshold=threshold, columns=counts)
    hidden = out[counts].map(lambda v: isinstance(v, str)).any(axis=1)
    derived = [c for c in table.columns if c not in counts and table[c].dtype.kind == "f"]
    for col in derived:
        out[col] = out[col].astype(object).where(~hidden, None)
    return out


def records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: NaN becomes null, numpy numbers plain numbers."""
    rows = []
    for row in table.to_dict("records"):
        rows.append({k: _plain(v) for k, v in row.items()})
    return rows


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, float) and math.isnan(value):
        return None
    if pd.isna(value):
        return None
    if hasattr(value, "item"):
        value = value.item()
    return int(value) if isinstance(value, int) else float(value) if isinstance(
        value, float) else value  # fmt: skip
