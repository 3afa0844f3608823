"""`python -m kapviz import` and `export`: the command-line face of kapviz.io."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy import Engine, inspect, make_url
from sqlalchemy.exc import SQLAlchemyError

from kapviz.auth import audit
from kapviz.config import database_url
from kapviz.db.engine import make_engine
from kapviz.db.migrate import upgrade
from kapviz.io.export import export_template
from kapviz.io.tables import ImportBatch
from kapviz.io.template import TemplateError, read_template
from kapviz.io.validate import ExistingKeys, validate
from kapviz.io.write import write_batch

EXIT_PROBLEMS = 2


def detect_format(path: Path, *, redcap_mapping: str | None = None) -> str:
    """Which importer reads `path`: template, fhir or redcap."""
    if redcap_mapping:
        return "redcap"
    suffix = path.suffix.lower()
    if suffix in (".json", ".ndjson") or (
        path.is_dir()
        and (any(path.glob("*.json")) or any(path.glob("*.ndjson")))
        and not any(path.glob("*.csv"))
    ):
        return "fhir"
    return "template"


def read_batch(path: Path, fmt: str, args: argparse.Namespace) -> ImportBatch:
    """Read any supported input as a template batch."""
    if fmt == "template":
        return read_template(path)
    if fmt == "fhir":
        from kapviz.io.fhir import read_fhir

        return read_fhir(path).batch
    from kapviz.io.redcap import read_redcap

    return read_redcap(path, args.redcap_mapping)


def _cmd_import(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.exists():
        print(f"kapviz import: {path} does not exist", file=sys.stderr)
        return EXIT_PROBLEMS
    fmt = detect_format(path, redcap_mapping=args.redcap_mapping)
    if args.fhir_mapping:
        fmt = "fhir"
    fhir = None
    try:
        if fmt == "fhir":
            from kapviz.io.fhir import read_fhir
            from kapviz.io.fhir_mapping import load_fhir_mapping

            mapping = load_fhir_mapping(args.fhir_mapping) if args.fhir_mapping else None
            fhir = read_fhir(path, mapping=mapping)
            batch = fhir.batch
        else:
            batch = read_batch(path, fmt, args)
    except (TemplateError, ValueError) as exc:
        print(f"kapviz import: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    engine = _dry_run_engine(database_url(args.db)) if args.dry_run else None
    if engine is None:
        engine = make_engine(database_url(args.db))
        upgrade(engine)
    with engine.connect() as conn:
        existing = ExistingKeys.load(conn)
    validated, rejections = _validate(batch, fhir, existing, args)
    for warning in validated.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if validated.problems:
        print(f"{len(validated.problems)} problems found; nothing was written:", file=sys.stderr)
        for problem in validated.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_PROBLEMS
    try:
        result = write_batch(engine, validated, source=str(path), kind=fmt, dry_run=args.dry_run)
    except SQLAlchemyError as exc:
        print(f"kapviz import: the database refused the data; nothing was written.\n  {exc.orig}",
              file=sys.stderr)  # fmt: skip
        return EXIT_PROBLEMS
    print(("dry run, nothing written: " if args.dry_run else "imported: ") + str(path))
    for line in result.summary_lines():
        print(f"  {line}")
    if validated.warnings:
        print(f"  warnings: {len(validated.warnings)} (listed above)")
    if validated.accepted_implausible:
        print(f"  accepted {len(validated.accepted_implausible)} implausible values "
              "(--allow-implausible; listed above as warnings)")  # fmt: skip
    if not args.dry_run:
        detail = {"kind": fmt, "added": result.added, "updated": result.updated,
                  "accepted_implausible": len(validated.accepted_implausible)}  # fmt: skip
        _audit(engine, audit.IMPORT, str(path), detail)
        _warn_if_locked_out(engine, database_url(args.db))
    _report_skipped(fhir, rejections, args)
    return 0


def _dry_run_engine(url: str) -> Engine | None:
    """For --dry-run on a database without the kapviz schema (or a SQLite file that does
    not exist yet): an empty in-memory one, so that the dry run creates nothing; else None."""
    parsed = make_url(url)
    local = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if local and not Path(parsed.database).exists():
        return _empty_engine()
    engine = make_engine(url)
    try:
        if inspect(engine).has_table("patients"):
            return None
    finally:
        engine.dispose()
    return _empty_engine()


def _empty_engine() -> Engine:
    engine = make_engine("sqlite://")
    upgrade(engine)
    return engine


def _validate(batch, fhir, existing, args):
    """Validation, with FHIR's invalid records and --skip-invalid taken into account."""
    if fhir is not None:
        from kapviz.io.fhir import validate_fhir

        return validate_fhir(
            fhir,
            existing=existing,
            skip_invalid=args.skip_invalid,
            allow_implausible=args.allow_implausible,
        )
    if args.skip_invalid:
        from kapviz.io.rejections import validate_skipping_invalid

        return validate_skipping_invalid(
            batch, existing=existing, allow_implausible=args.allow_implausible
        )
    return validate(batch, existing=existing, allow_implausible=args.allow_implausible), []


def _report_skipped(fhir, rejections, args) -> None:
    """Counts of records skipped by rule, and the rejection report when asked for."""
    if fhir is not None:
        for (rtype, reason), n in sorted(fhir.skipped_counts().items()):
            print(f"  skipped {n} {rtype}: {reason}")
    if rejections:
        print(f"  rejected {len(rejections)} invalid records (--skip-invalid)")
    if args.rejections:
        from kapviz.io.rejections import write_rejections

        print(f"  rejection report: {write_rejections(args.rejections, rejections)}")


def _cmd_export(args: argparse.Namespace) -> int:
    engine = make_engine(database_url(args.db))
    upgrade(engine)
    written = export_template(engine, args.out, format=args.format)
    for path in written:
        print(path)
    _audit(engine, audit.EXPORT, str(args.out), {"what": "full export", "format": args.format,
                                                  "files": len(written)})  # fmt: skip
    return 0


def _audit(engine, action: str, target: str, detail: dict) -> None:
    """Imports and exports from the command line are in the audit trail like the app's."""
    with engine.begin() as conn:
        audit.record(conn, username=audit.command_line_user(), action=action, target=target,
                     detail=detail)  # fmt: skip


def _warn_if_locked_out(engine, url: str) -> None:
    """An import into the embedded database turns sign-in on (the demo is no longer all it
    holds); without an account nobody could open the app, so say how to add one."""
    from kapviz.auth.accounts import list_users
    from kapviz.config import AUTH_AUTO, DEFAULT_DATABASE_URL, load_settings
    from kapviz.db.queries import has_imported_clinic_data

    if url != DEFAULT_DATABASE_URL or load_settings().auth_mode != AUTH_AUTO:
        return
    with engine.connect() as conn:
        if list_users(conn) or not has_imported_clinic_data(conn):
            return
    print(
        "warning: the app now asks everyone to sign in (this database holds imported data) "
        "and it has no account yet: add one with\n"
        "  python -m kapviz users add NAME --role director",
        file=sys.stderr,
    )


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register `import` and `export` on the main parser's subcommands."""
    imp = sub.add_parser(
        "import",
        help="import clinic data (template CSV/Excel, FHIR R4, REDCap)",
        description="Validate everything first; write nothing unless everything is valid "
        "(one transaction). Every problem is listed with file, row, column, value and what "
        "was expected; exit status 2 when there are problems. Importing the same files "
        "again changes nothing.",
    )
    imp.add_argument("path", help="template folder, template .csv, .xlsx, FHIR .json/.ndjson")
    imp.add_argument("--db", metavar="URL", help="database URL (default: the configured one)")
    imp.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")
    imp.add_argument("--redcap-mapping", metavar="FILE", help="REDCap mapping (TOML)")
    imp.add_argument(
        "--fhir-mapping",
        metavar="FILE",
        help="FHIR mapping (TOML): the EHR's encounter codes → phases, medication and "
        "procedure codes → doses (docs/fhir.md)",
    )
    imp.add_argument(
        "--skip-invalid",
        action="store_true",
        help="import the valid records; list the invalid ones (see --rejections)",
    )
    imp.add_argument(
        "--allow-implausible",
        action="store_true",
        help="import values outside the plausible ranges (future dates, doses and weights "
        "outside the configured ranges) as they are; each is reported as a warning",
    )
    imp.add_argument(
        "--rejections",
        metavar="FILE",
        help="write the rejected records (record, file, resource_type, id, reason) as CSV",
    )
    imp.set_defaults(func=_cmd_import)
    exp = sub.add_parser(
        "export",
        help="export the database in the kapviz template",
        description="Write the kapviz template back: a folder of CSV files or one workbook.",
    )
    exp.add_argument("out", help="output folder (csv) or .xlsx file")
    exp.add_argument("--db", metavar="URL", help="database URL (default: the configured one)")
    exp.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    exp.set_defaults(func=_cmd_export)
