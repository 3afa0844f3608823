"""`python -m kapviz case-summary`: one case's summary, or a meeting pack of several, as an
A4 PDF or an offline HTML file; every case printed is a case view in the audit trail."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime
from pathlib import Path

from kapviz.meeting import agenda

log = logging.getLogger(__name__)

FORMATS = {".pdf": "pdf", ".html": "html", ".htm": "html"}


def _fail(message: str) -> int:
    print(f"kapviz case-summary: {message}", file=sys.stderr)
    return 2


def _cmd_case_summary(args: argparse.Namespace) -> int:  # noqa: PLR0911 - one exit per refusal
    # Imported here: registering the command must not load plotly for every other command.
    from kapviz.auth import audit
    from kapviz.config import database_url, load_settings
    from kapviz.db import queries
    from kapviz.db.engine import make_engine
    from kapviz.db.migrate import upgrade
    from kapviz.filters import Filters
    from kapviz.report.case import CaseSummary, render
    from kapviz.report.case_content import load_case

    out = Path(args.out)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        return _fail(f"--out must end in .pdf or .html, not {out.name!r}")
    cases = agenda(args.patient_ids)
    if args.course and len(cases) != 1:
        return _fail("--course names one course: give exactly one PATIENT_ID with it")
    config = load_settings()
    engine = make_engine(database_url(args.db))
    upgrade(engine)
    now = datetime.now()
    summaries: list[CaseSummary] = []
    with engine.connect() as conn:
        known = set(queries.patient_ids(conn))
        unknown = [c for c in cases if c not in known]
        if unknown:
            return _fail(f"unknown patient id: {', '.join(unknown)}")
        for patient_id in cases:
            found = load_case(
                conn,
                Filters(),
                patient_id=patient_id,
                course_id=args.course,
                today=now.date(),
                config=config,
            )
            if found is None:
                what = f"course {args.course}" if args.course else "sessions"
                return _fail(f"patient {patient_id} has no {what}")
            course_id, view, scores = found
            summaries.append(
                view.summary(
                    tuple(scores), patient_id=patient_id, course_id=course_id, generated_at=now
                )
            )
    document = render(summaries, fmt=fmt, printed_at=now)
    out.write_bytes(document)
    with engine.begin() as conn:
        for summary in summaries:
            audit.record(
                conn,
                username=audit.command_line_user(),
                action=audit.VIEW_CASE,
                target=summary.patient_id,
                detail={"course": summary.course_id, "printed": out.name},
                at=now,
            )
    engine.dispose()
    kind = "case summary" if len(summaries) == 1 else f"meeting pack of {len(summaries)} cases"
    print(f"wrote {out} ({kind}, {len(document):,} bytes)")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register `case-summary` (called from kapviz.cli)."""
    parser = sub.add_parser(
        "case-summary",
        help="print case summaries (one id) or a meeting pack (several) to PDF or HTML",
        description="One PATIENT_ID: that case's summary (latest course, or --course). "
        "Several: a meeting pack with an agenda page, each case from a new page, in the "
        "order given. A4 PDF, or one offline HTML file with static charts. Every case "
        "printed is recorded as a case view in the audit trail. Exit 2 on an unknown id.",
    )
    parser.add_argument("patient_ids", nargs="+", metavar="PATIENT_ID", help="pseudonymous ids")
    parser.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="SQLAlchemy database URL (default: KAPVIZ_DATABASE_URL, secrets.toml, "
        "else the embedded sqlite:///data/kapviz.db)",
    )
    parser.add_argument(
        "--out", required=True, metavar="FILE", help="FILE.pdf or FILE.html to write"
    )
    parser.add_argument(
        "--course", metavar="ID", default=None, help="this course (one PATIENT_ID only)"
    )
    parser.set_defaults(func=_cmd_case_summary)
