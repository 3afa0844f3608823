"""Demo clinic benchmark: build and insert a synthetic clinic, print rows per table and seconds.

    python benchmarks/bench_demo.py                       # 20,000 patients, temp SQLite file
    python benchmarks/bench_demo.py --pg                  # a throwaway PostgreSQL server
    python benchmarks/bench_demo.py --db postgresql+psycopg://user@host/db --patients 5000

Times the pure build (`build_clinic`) and the whole `generate_clinic` (schema upgrade, build,
bulk insert in one transaction, planner statistics, rollup build) separately; the latter's log
line splits its seconds into those steps. Target: 20,000 patients in under 120 s on a
2-core machine, on SQLite and on PostgreSQL. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kapviz.db.engine import make_engine  # noqa: E402
from kapviz.demo import build_clinic, generate_clinic  # noqa: E402

log = logging.getLogger("bench_demo")
TARGET_SECONDS = 120.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options: size, seed, and where to write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--today", type=date.fromisoformat, default=None, help="YYYY-MM-DD")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--db", help="database URL (must be empty); default a temp SQLite file")
    target.add_argument("--pg", action="store_true", help="start a throwaway PostgreSQL server")
    parser.add_argument(
        "--skip-build", action="store_true", help="do not time build_clinic on its own"
    )
    return parser.parse_args(argv)


def database_url(args: argparse.Namespace, stack: ExitStack) -> str:
    """The URL to fill: given, a fresh database on a throwaway server, or a temp SQLite file."""
    if args.db:
        return args.db
    if args.pg:
        from tests import pg  # the test helper owns the throwaway-server recipe

        server = stack.enter_context(pg.postgres_server())
        url = pg.create_database(server)
        stack.callback(pg.drop_database, server, url)
        return url
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kapviz-demo-")))
    return f"sqlite:///{tmp / 'demo.db'}"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one line per table plus the timings."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout, force=True)
    today = args.today or date.today()
    if not args.skip_build:
        t0 = time.perf_counter()
        rows = build_clinic(args.patients, args.seed, today)
        build_s = time.perf_counter() - t0
        log.info("build_clinic: %.1f s (%s rows)", build_s, f"{sum(map(len, rows.values())):,}")
        del rows
    with ExitStack() as stack:
        url = database_url(args, stack)
        engine = make_engine(url)
        stack.callback(engine.dispose)
        backend = engine.dialect.name
        t0 = time.perf_counter()
        stats = generate_clinic(engine, patients=args.patients, seed=args.seed, today=today)
        total_s = time.perf_counter() - t0
    log.info("%-13s %12s", "table", "rows")
    for table, count in stats.counts.items():
        log.info("%-13s %12s", table, f"{count:,}")
    log.info("%-13s %12s", "total", f"{sum(stats.counts.values()):,}")
    verdict = "OK" if total_s < TARGET_SECONDS else "OVER TARGET"
    log.info(
        "generate_clinic on %s: %d patients, seed %d: %.1f s (target < %.0f s: %s)",
        backend, args.patients, args.seed, total_s, TARGET_SECONDS, verdict,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
