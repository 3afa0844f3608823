"""The `python -m kapviz` command line: demo, upgrade, summary, rollup, import, export.

Command names, flags and the `summary --json` keys are a public interface that clinics
script against: keep them stable.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from kapviz.api_commands import add_commands as add_query_commands
from kapviz.auth.commands import add_commands as add_user_commands
from kapviz.config import database_url
from kapviz.db.engine import make_engine
from kapviz.db.migrate import upgrade
from kapviz.notebook_commands import add_commands as add_notebook_command
from kapviz.report.commands import add_commands as add_case_summary_command
from kapviz.report.programme_commands import add_commands as add_report_commands


def _db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="SQLAlchemy database URL (default: KAPVIZ_DATABASE_URL, secrets.toml, "
        "else the embedded sqlite:///data/kapviz.db)",
    )


def _cmd_demo(args: argparse.Namespace) -> int:
    from kapviz.demo import generate_clinic

    engine = make_engine(database_url(args.db))
    try:
        stats = generate_clinic(engine, patients=args.patients, seed=args.seed)
    except ValueError as exc:
        print(f"kapviz demo: {exc}", file=sys.stderr)
        return 2
    print(stats.describe() if hasattr(stats, "describe") else stats)
    return 0


def _cmd_upgrade(args: argparse.Namespace) -> int:
    engine = make_engine(database_url(args.db))
    revision = upgrade(engine)
    print(f"schema at revision {revision}")
    return 0


def _cmd_rollup(args: argparse.Namespace) -> int:
    from kapviz.db import rollups

    engine = make_engine(database_url(args.db))
    upgrade(engine)
    if rollups.rebuild(engine):
        print("rollups rebuilt: the Overview reads its whole-period counts from them")
        return 0
    print(
        "kapviz rollup: not built (PHQ-9 scores without a course, or data written while "
        "reading); the pages read live",
        file=sys.stderr,
    )
    return 1


def _cmd_summary(args: argparse.Namespace) -> int:
    from kapviz.summary import build_summary, format_summary

    engine = make_engine(database_url(args.db))
    upgrade(engine)
    summary = build_summary(engine)
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=False, default=str))
    else:
        print(format_summary(summary))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kapviz",
        description="kapviz: analytics for ketamine-assisted psychotherapy programs.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="fill an empty database with a synthetic demo clinic",
        description="Create the schema and fill an EMPTY database with a seeded, clearly "
        "synthetic demo clinic (ids DEMO-…). Refuses a database that already has patients.",
    )
    demo.add_argument("--patients", type=int, default=300, help="number of patients (300)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (7)")
    _db_argument(demo)
    demo.set_defaults(func=_cmd_demo)

    up = sub.add_parser(
        "upgrade",
        help="create or migrate the database schema",
        description="Bring the database to the current schema (create when empty, "
        "migrate otherwise). Never drops data.",
    )
    _db_argument(up)
    up.set_defaults(func=_cmd_upgrade)

    summary = sub.add_parser(
        "summary",
        help="print what the database holds",
        description="Counts of patients, courses and completed sessions per phase, outcome "
        "rates per instrument, side-effect rates and safety counts.",
    )
    _db_argument(summary)
    summary.add_argument("--json", action="store_true", help="print one JSON object")
    summary.set_defaults(func=_cmd_summary)

    rollup = sub.add_parser(
        "rollup",
        help="recompute the Overview's stored counts after other programs wrote the database",
        description="Recompute the Overview's whole-period counts kept in the database "
        "(kapviz.db.rollups). Demo generation and imports do this themselves; run it after "
        "another program has written clinic data (e.g. nightly), until then the pages read "
        "live. Exit 1 when the counts could not be built.",
    )
    _db_argument(rollup)
    rollup.set_defaults(func=_cmd_rollup)

    _add_io_commands(sub)
    add_user_commands(sub)
    add_case_summary_command(sub)
    add_report_commands(sub)
    add_query_commands(sub)
    add_notebook_command(sub)
    return parser


def _add_io_commands(sub: argparse._SubParsersAction) -> None:
    """`import` and `export` live with the importers (kapviz.io.commands)."""
    try:
        from kapviz.io.commands import add_commands
    except ModuleNotFoundError:  # the io package is optional until it lands
        return
    add_commands(sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return run_command(args)


EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def run_command(args: argparse.Namespace) -> int:
    """Run a command; anything unexpected becomes a message, a hint and a non-zero exit.

    The traceback goes to the log only with -v: a user sees what failed and what to do.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from kapviz.clinic_time import TimeZoneError

    name = f"kapviz {args.command}"
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except TimeZoneError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        _failed(name, exc, "check the database URL (--db or KAPVIZ_DATABASE_URL) and that "
                "the database is running and reachable", args)  # fmt: skip
    except OSError as exc:
        _failed(name, exc, "check the path, its permissions and the free disk space", args)
    except Exception as exc:  # the last line of defence of every command
        _failed(name, exc, "this is a kapviz bug: run the command again with -v and report "
                "the output", args)  # fmt: skip
    return EXIT_FAILED


def _failed(name: str, exc: BaseException, hint: str, args: argparse.Namespace) -> None:
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    print(f"{name}: failed: {type(exc).__name__}: {detail[0] if detail else ''}",
          file=sys.stderr)  # fmt: skip
    print(f"  what to do: {hint}" + ("" if args.verbose else " (details: -v)"), file=sys.stderr)
    if args.verbose:
        logging.getLogger(__name__).exception("%s failed", name)
