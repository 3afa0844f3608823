"""`python -m kapviz report`: the programme report as PDF or Excel, audited as an export."""

from __future__ import annotations

import argparse
import logging
from datetime import date, datetime
from pathlib import Path

from kapviz.auth import audit
from kapviz.config import database_url, load_settings
from kapviz.db.engine import make_engine
from kapviz.db.migrate import upgrade
from kapviz.filters import Filters

log = logging.getLogger(__name__)
FORMATS = (".pdf", ".xlsx")


def report_bytes(report, suffix: str) -> bytes:  # noqa: ANN001 - a ProgrammeReport
    """The report as PDF (printed by the system Chromium) or as an Excel workbook."""
    from kapviz.report import programme

    if suffix == ".xlsx":
        return programme.report_xlsx(report)
    from kapviz.report.pdf import html_to_pdf

    return html_to_pdf(programme.report_html(report), figures=programme.report_figures(report))


def _cmd_report(args: argparse.Namespace) -> int:
    from kapviz.report.programme import build_report

    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        log.error("--out must end in .pdf or .xlsx, got %s", out.name)
        return 2
    filters = Filters(sites=tuple(args.site or ()), start=args.start, end=args.end)
    engine = make_engine(database_url(args.db))
    upgrade(engine)
    report = build_report(engine, filters=filters, settings=load_settings(), suppress=args.suppress)
    payload = report_bytes(report, suffix)
    out.write_bytes(payload)
    with engine.begin() as conn:
        audit.record(
            conn,
            username=audit.command_line_user(),
            action=audit.EXPORT,
            target=out.name,
            detail={
                "what": "programme report",
                "format": suffix.removeprefix("."),
                "scope": filters.describe(),
                "suppressed": args.suppress,
                "bytes": len(payload),
            },
        )
    log.info("wrote %s (%d bytes)", out, len(payload))
    return 0


def _date(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register `report` on the CLI's subcommands."""
    report = sub.add_parser(
        "report",
        help="write the programme report (PDF or Excel) for boards and funders",
        description="Volume and funnel, outcomes per instrument beside matching published "
        "figures, time to first response, safety, measurement completion and the methods in "
        "force, for the sites and dates given. The command line acts as a director (no "
        "small-cell suppression) unless --suppress. Each report is an audited export.",
    )
    report.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="SQLAlchemy database URL (default: KAPVIZ_DATABASE_URL, secrets.toml, "
        "else the embedded sqlite:///data/kapviz.db)",
    )
    report.add_argument("--out", required=True, metavar="FILE", help="FILE.pdf or FILE.xlsx")
    report.add_argument("--from", dest="start", type=_date, metavar="DATE", help="YYYY-MM-DD")
    report.add_argument("--to", dest="end", type=_date, metavar="DATE", help="YYYY-MM-DD")
    report.add_argument("--site", action="append", metavar="S", help="a site (repeatable)")
    report.add_argument(
        "--suppress", action="store_true", help="show counts under the threshold as <11"
    )
    report.set_defaults(func=_cmd_report)
