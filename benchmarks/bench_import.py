"""Template import benchmark: export the demo clinic, import it into empty databases, time it.

    python benchmarks/bench_import.py                 # 20,000 patients; SQLite and PostgreSQL
    python benchmarks/bench_import.py --no-pg --patients 2000
    python benchmarks/bench_import.py --folder EXPORT # import an existing template folder

Generates the demo clinic once into a temp SQLite file, exports it in the template, then
imports that folder into an empty SQLite database and an empty database on a throwaway
PostgreSQL server (read, validate and write timed separately: wall-clock seconds, and in
brackets the CPU seconds of this process, which a busy machine inflates less; the
PostgreSQL server's own work is not in them), and finally
re-imports it (which must change nothing). The load average is printed with every line:
on a shared machine it moves the wall-clock figures several-fold. Target (issue 8): the
whole import in at most 60 s on each backend. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kapviz.db.engine import make_engine  # noqa: E402
from kapviz.db.migrate import upgrade  # noqa: E402
from kapviz.io.export import export_template  # noqa: E402
from kapviz.io.template import read_template  # noqa: E402
from kapviz.io.validate import ExistingKeys, validate  # noqa: E402
from kapviz.io.write import write_batch  # noqa: E402

log = logging.getLogger("bench_import")
TARGET_SECONDS = 60.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options: clinic size and seed, or a ready folder; which backends."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--folder", type=Path, help="import this template folder instead")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    return parser.parse_args(argv)


def load_average() -> str:
    """The 1-minute load average (with the core count), e.g. "load 3.4 on 2 cores"."""
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def import_once(url: str, folder: Path) -> tuple[dict[str, tuple[float, float]], list[str]]:
    """Read, validate and write `folder` into `url`: (wall, CPU) seconds per step, summary."""
    engine = make_engine(url)
    upgrade(engine)
    seconds: dict[str, tuple[float, float]] = {}
    start = last = (time.perf_counter(), time.process_time())

    def step(name: str) -> None:
        nonlocal last
        now = (time.perf_counter(), time.process_time())
        seconds[name] = (now[0] - last[0], now[1] - last[1])
        last = now

    batch = read_template(folder)
    step("read")
    with engine.connect() as conn:
        existing = ExistingKeys.load(conn)
    validated = validate(batch, existing=existing)
    step("validate")
    if validated.problems:
        raise SystemExit(f"{len(validated.problems)} problems, e.g. {validated.problems[0]}")
    result = write_batch(engine, validated, source=str(folder), kind="template")
    step("write")
    seconds["total"] = (time.perf_counter() - start[0], time.process_time() - start[1])
    engine.dispose()
    return seconds, result.summary_lines()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the timings per backend."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout, force=True)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kapviz-import-")))
        folder = args.folder
        if folder is None:
            from kapviz.demo import generate_clinic

            source = make_engine(f"sqlite:///{tmp / 'source.db'}")
            t0 = time.perf_counter()
            generate_clinic(source, patients=args.patients, seed=args.seed)
            log.info("demo clinic, %d patients: %.1f s", args.patients, time.perf_counter() - t0)
            folder = tmp / "export"
            t0 = time.perf_counter()
            export_template(source, folder)
            log.info("export: %.1f s", time.perf_counter() - t0)
            source.dispose()
        for f in sorted(folder.glob("*.csv")):
            log.info("  %-17s %10s rows", f.name, f"{sum(1 for _ in f.open()) - 1:,}")
        targets = [("sqlite", f"sqlite:///{tmp / 'target.db'}")]
        if not args.no_pg:
            from tests import pg  # the test helper owns the throwaway-server recipe

            server = stack.enter_context(pg.postgres_server())
            url = pg.create_database(server)
            stack.callback(pg.drop_database, server, url)
            targets.append(("postgresql", url))
        for backend, url in targets:
            for label in ("import", "re-import"):
                before = load_average()
                seconds, summary = import_once(url, folder)
                steps = ", ".join(f"{k} {w:.1f} s ({c:.1f})" for k, (w, c) in seconds.items())
                verdict = "OK" if seconds["total"][0] <= TARGET_SECONDS else "OVER TARGET"
                log.info("%s %s: %s (target <= %.0f s: %s; %s before, %s after)", backend,
                         label, steps, TARGET_SECONDS, verdict, before, load_average())  # fmt: skip
                for line in summary:
                    log.info("    %s", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
