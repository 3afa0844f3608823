"""Page benchmark: cold and warm runs of every page on the demo clinic, SQLite and PostgreSQL.

    python benchmarks/bench_pages.py --patients 20000            # both backends
    python benchmarks/bench_pages.py --patients 1000 5000 --backend sqlite
    python benchmarks/bench_pages.py --patients 20000 --backend sqlite --browser

For each backend and size it builds the demo clinic (timing the generator), then runs each
page in fresh Python processes with AppTest (three by default, `--cold-runs`): a cold run
(empty caches; the median of the processes, and the slowest), the median of five
warm reruns, a "refresh" (a rerun with unchanged data after the data-version check has
expired, as a live page does every interval), the time spent in the query layer during the
cold run (kapviz.db.queries, .aggregates and .rollups: SQL, fetch and frame building), and the
process's peak memory. With several --patients sizes it also prints how each page's cold
time grows. `--existing URL` measures a database already built; `--pages` picks pages.
The Explore page is measured on a two-dimension breakdown (`EXPLORE_QUERY`), and
`--explore-run` times `kapviz.explore.run` itself, every measure by the same breakdown, in
a fresh process (what the page computes on a cold cache, without Streamlit). `--browser`
adds each page's first view in headless Chromium after a server start
(benchmarks/bench_browser.py).
Figures are printed as a table; README.md quotes them. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGES = [
    "pages/overview.py",
    "pages/trajectories.py",
    "pages/safety.py",
    "pages/case_explorer.py",
    "pages/data.py",
]
if (ROOT / "pages/explore.py").exists():
    PAGES.append("pages/explore.py")
EXPLORE_BY = ("route", "baseline_band")
EXPLORE_QUERY = {"measure": "response", "instrument": "PHQ-9", "by": list(EXPLORE_BY)}
"""The Explore page's view in the benchmark: a breakdown by two dimensions."""
TARGETS = {"warm": 0.3, "cold": 3.0, "cold_over_sql": 2.0, "rss_mb": 600}


def peak_rss_mb() -> float:
    """This process's peak resident memory (MB) since it started its program.

    VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over fork and exec, so a page
    measured in a child of the process that just generated the 20k clinic (~900 MB) reported
    the parent's peak instead of its own. ru_maxrss remains the fallback off Linux.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_page(page: str, url: str, query: dict[str, str]) -> dict:
    """Run one page cold then warm (in this process) and return the figures."""
    import streamlit as st
    from sqlalchemy import Engine, event
    from streamlit.testing.v1 import AppTest

    os.environ["KAPVIZ_DATABASE_URL"] = url
    # Sign-in is a layer over the pages (issue 9); the benchmark measures the pages.
    os.environ["KAPVIZ_AUTH_MODE"] = "none"
    sql = {"seconds": 0.0, "queries": 0}

    # SQL time = time inside the query layer (execute + fetch + frame building): on SQLite
    # most of the work happens while rows are fetched, after cursor.execute() returns.
    import functools

    from kapviz.db import queries as query_layer

    # Per thread: pages read in background threads on PostgreSQL (kapviz.ui.background), so
    # the figure is the sum of every top-level query-layer call's time, whichever thread.
    depth = threading.local()
    lock = threading.Lock()

    def timed(fn):  # noqa: ANN001, ANN202
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            depth.n = getattr(depth, "n", 0) + 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                depth.n -= 1
                if depth.n == 0:
                    with lock:
                        sql["seconds"] += time.perf_counter() - t0

        return wrapper

    import importlib
    import pkgutil

    from kapviz.db import aggregates, rollups

    modules = [query_layer, rollups] + [
        importlib.import_module(f"{aggregates.__name__}.{info.name}")
        for info in pkgutil.iter_modules(aggregates.__path__)
    ]
    for module in modules:
        for name in dir(module):
            fn = getattr(module, name)
            public = not name.startswith("_") and name[0].islower()
            if public and callable(fn) and getattr(fn, "__module__", "") == module.__name__:
                setattr(module, name, timed(fn))

    @event.listens_for(Engine, "before_cursor_execute")
    def _start(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        conn.info["kapviz_t0"] = time.perf_counter()

    @event.listens_for(Engine, "after_cursor_execute")
    def _stop(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        conn.info.pop("kapviz_t0", None)
        sql["queries"] += 1

    def run() -> float:
        at = AppTest.from_file(str(ROOT / page), default_timeout=600)
        for key, value in query.items():
            at.query_params[key] = value
        t0 = time.perf_counter()
        at.run()
        elapsed = time.perf_counter() - t0
        if at.exception:
            raise RuntimeError(f"{page}: {at.exception[0].value}")
        return elapsed

    # Warm the process as a running server is: imports (kapviz's page modules and what they
    # import, plotly among them: ~0.16 s, paid once per server process), the engine, and
    # Streamlit's one-time set-up on the first element of a process (it scans every
    # installed package for components, ~0.3 s), by a trivial script that reads no data.
    # Then clear the caches: the cold run is a page opened on a running server whose caches
    # are empty (as after a data change).
    import kapviz.charts
    import kapviz.ui
    from kapviz.ui.db import engine_for

    for package in (kapviz.ui, kapviz.charts):
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{info.name}")
    engine_for(url)
    AppTest.from_string("import streamlit as st\nst.markdown('warm-up')", default_timeout=600).run()
    st.cache_data.clear()
    st.cache_resource.clear()
    sql.update(seconds=0.0, queries=0)
    cold = run()
    sql_cold, queries = sql["seconds"], sql["queries"]
    warm = statistics.median(run() for _ in range(5))
    # A live refresh with unchanged data: the data-version check is asked again (its short
    # TTL has run out), everything else must be a cache hit. Whole-page rerun: an upper bound
    # for the Overview's auto-refreshing fragment.
    from kapviz.ui import data as data_layer

    def refresh_run() -> float:
        data_layer._version.clear()
        return run()

    refresh = statistics.median(refresh_run() for _ in range(3))
    fragment = overview_fragment_seconds() if page == "pages/overview.py" else None
    rss_mb = peak_rss_mb()
    return {
        "page": page,
        "cold": cold,
        "warm": warm,
        "refresh": refresh,
        "fragment": fragment,
        "sql": sql_cold,
        "queries": queries,
        "rss_mb": rss_mb,
    }


def overview_fragment_seconds() -> float:
    """Server time of one live refresh of the Overview tiles with unchanged data: the
    data-version query (its short cache expired), the cached tiles and the "data as of"
    line, as the page's auto-refreshing fragment runs them (median of 5). Issue 6 asks for
    under 0.1 s; the whole-page "refresh" column above also redraws every chart."""
    from datetime import datetime

    from kapviz.filters import Filters
    from kapviz.ui import data as data_layer
    from kapviz.ui import overview

    times = []
    for _ in range(5):
        data_layer._version.clear()
        t0 = time.perf_counter()
        overview.kpis(Filters(), datetime.now())
        data_layer.newest_record_at()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def first_patient(url: str) -> str:
    from sqlalchemy import select

    from kapviz.db.engine import make_engine
    from kapviz.db.models import Session

    with make_engine(url).connect() as conn:
        return conn.execute(
            select(Session.patient_id).where(Session.phase == "dosing").limit(1)
        ).scalar_one()


def build(url: str, patients: int, seed: int) -> float:
    from kapviz.db.engine import make_engine
    from kapviz.demo import generate_clinic

    t0 = time.perf_counter()
    engine = make_engine(url)
    generate_clinic(engine, patients=patients, seed=seed)
    elapsed = time.perf_counter() - t0
    if engine.dialect.name == "postgresql":
        # Settle the throwaway server as a nightly load would have been settled by morning:
        # write out the load's dirty pages now, not in a checkpoint during the measurements.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("CHECKPOINT")
    engine.dispose()
    return elapsed


def measure_in_processes(page: str, url: str, query: dict, runs: int) -> dict:
    """The page measured in `runs` fresh processes: the run with the median cold time, and
    the slowest cold time as `cold_max` (one cold sample moves by ±0.5 s on this machine)."""
    samples = []
    for _ in range(runs):
        cmd = [sys.executable, __file__, "--measure", page, "--db", url]
        cmd += ["--query", json.dumps(query)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    samples.sort(key=lambda row: row["cold"])
    row = dict(samples[(len(samples) - 1) // 2])
    row["cold_max"] = samples[-1]["cold"]
    row["cold_runs"] = len(samples)
    return row


def bench_backend(
    backend: str,
    patients: int,
    seed: int,
    stack: ExitStack,
    work: Path,
    existing: str | None,
    cold_runs: int,
    pages: list[str],
    explore_run: bool,
    browser: bool = False,
) -> dict:
    if existing:
        url = existing
    elif backend == "sqlite":
        path = work / f"bench-{patients}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        from tests import pg

        server = stack.enter_context(pg.postgres_server())
        url = pg.create_database(server)
    generator = float("nan") if existing else build(url, patients, seed)
    query = {"patient": first_patient(url)}
    rows = []
    for page in pages:
        wanted = query if page.endswith("case_explorer.py") else {}
        if page.endswith("explore.py") and not page.endswith("case_explorer.py"):
            wanted = EXPLORE_QUERY
        rows.append(measure_in_processes(page, url, wanted, cold_runs))
    result = {"backend": backend, "patients": patients, "generator": generator, "pages": rows}
    if explore_run:
        cmd = [sys.executable, __file__, "--measure-explore-run", "--db", url]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
        result["explore_run"] = json.loads(out.stdout.strip().splitlines()[-1])
    if browser:
        from benchmarks import bench_browser

        result["browser"] = bench_browser.measure(url)
    return result


def measure_explore_run(url: str) -> dict[str, float]:
    """Seconds of `explore.run` per measure by EXPLORE_BY, in this fresh process after the
    imports and the engine (a server's state); nothing is cached between measures."""
    import kapviz
    from kapviz import explore

    clinic = kapviz.connect(url)
    with clinic.engine.connect():
        pass
    times = {}
    for key in explore.MEASURES:
        view = explore.ExploreView(measure=key, term="dissociation", by=EXPLORE_BY)
        t0 = time.perf_counter()
        explore.run(clinic, view)
        times[key] = time.perf_counter() - t0
    return times


def print_explore_run(results: list[dict]) -> None:
    rows = [r for r in results if "explore_run" in r]
    if not rows:
        return
    print(f"\nexplore.run by {' × '.join(EXPLORE_BY)} (s, cold; target {TARGETS['cold']:.0f})")
    print(f"{'measure':<26}" + "".join(f"{r['backend'][:6]} {r['patients']:>6}" for r in rows))
    for key in rows[0]["explore_run"]:
        cells = "".join(f"{r['explore_run'][key]:>13.2f}" for r in rows)
        print(f"{key:<26}{cells}")


def print_table(results: list[dict]) -> None:
    header = (
        f"{'backend':<11}{'patients':>9}  {'page':<26}{'cold s':>8}{'max':>6}{'warm s':>8}"
        f"{'refresh':>8}{'sql s':>8}{'cold/sql':>9}{'queries':>8}{'peak MB':>9}  ok"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        for row in result["pages"]:
            ratio = row["cold"] / row["sql"] if row["sql"] > 0 else float("inf")
            ok = (
                row["warm"] <= TARGETS["warm"]
                and row["cold"] <= TARGETS["cold"]
                and row["rss_mb"] <= TARGETS["rss_mb"]
                and ratio <= TARGETS["cold_over_sql"]
            )
            print(
                f"{result['backend']:<11}{result['patients']:>9}  {row['page']:<26}"
                f"{row['cold']:>8.2f}{row.get('cold_max', row['cold']):>6.2f}"
                f"{row['warm']:>8.3f}{row.get('refresh', float('nan')):>8.3f}"
                f"{row['sql']:>8.2f}{ratio:>9.1f}"
                f"{row['queries']:>8}{row['rss_mb']:>9.0f}  {'yes' if ok else 'NO'}"
            )
        print(
            f"{result['backend']:<11}{result['patients']:>9}  demo generator: "
            f"{result['generator']:.1f} s"
        )
    runs = max(row.get("cold_runs", 1) for result in results for row in result["pages"])
    print(
        f"cold: median of {runs} fresh processes (max: the slowest); sql s, queries and peak "
        "MB are those of the median run"
    )
    print(
        f"targets: warm ≤ {TARGETS['warm']} s, cold ≤ {TARGETS['cold']} s, "
        f"cold ≤ {TARGETS['cold_over_sql']}× SQL, peak ≤ {TARGETS['rss_mb']} MB; "
        "refresh = rerun with unchanged data after the data-version check expires"
    )
    for result in results:
        for row in result["pages"]:
            if row.get("fragment") is not None:
                print(
                    f"{result['backend']} {result['patients']}: Overview live refresh with "
                    f"unchanged data (tiles fragment, server time): {row['fragment']:.3f} s "
                    "(target < 0.1 s)"
                )
    print_growth(results)
    for result in results:
        if result.get("browser"):
            from benchmarks import bench_browser

            label = f" — {result['backend']}, {result['patients']:,} patients"
            bench_browser.print_rows(result["browser"], label)


def print_growth(results: list[dict]) -> None:
    """Cold time per page as the clinic grows (issue 8 §4), with the growth factor per step."""
    sizes = sorted({r["patients"] for r in results})
    if len(sizes) < 2:
        return
    for backend in sorted({r["backend"] for r in results}):
        by_size = {r["patients"]: r for r in results if r["backend"] == backend}
        print(f"\ncold-run growth, {backend} (seconds; ×factor vs the previous size)")
        print(f"{'page':<26}" + "".join(f"{n:>16,}" for n in sizes))
        for i, page in enumerate(PAGES):
            cells, previous = [], None
            for n in sizes:
                if n not in by_size:
                    cells.append(f"{'—':>16}")
                    continue
                cold = by_size[n]["pages"][i]["cold"]
                factor = f" ×{cold / previous:.1f}" if previous else ""
                cells.append(f"{cold:>8.2f}{factor:>8}")
                previous = cold
            print(f"{page:<26}" + "".join(cells))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[20000])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--cold-runs",
        type=int,
        default=3,
        metavar="N",
        help="fresh processes per page (cold: their median; the slowest is shown too)",
    )
    parser.add_argument(
        "--existing",
        metavar="URL",
        help="measure this already-built demo database instead of generating one "
        "(give --backend and --patients to label it)",
    )
    parser.add_argument(
        "--pages",
        nargs="*",
        metavar="NAME",
        help="only these pages (file stems, e.g. explore safety; none with --explore-run "
        "alone); default every page",
    )
    parser.add_argument(
        "--explore-run", action="store_true", help="also time kapviz.explore.run per measure"
    )
    parser.add_argument("--measure-explore-run", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--browser",
        action="store_true",
        help="also time each page's first view in headless Chromium (bench_browser.py)",
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--query", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure_page(args.measure, args.db, json.loads(args.query))))
        return 0
    if args.measure_explore_run:
        print(json.dumps(measure_explore_run(args.db)))
        return 0
    pages = PAGES
    if args.pages is not None:
        pages = [p for p in PAGES if Path(p).stem in args.pages]
        unknown = set(args.pages) - {Path(p).stem for p in PAGES}
        if unknown:
            parser.error(f"no page {sorted(unknown)}; pages: {[Path(p).stem for p in PAGES]}")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results = []
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="kapviz-bench-") as tmp:
        for patients in args.patients:
            for backend in backends:
                results.append(
                    bench_backend(
                        backend,
                        patients,
                        args.seed,
                        stack,
                        Path(tmp),
                        args.existing,
                        args.cold_runs,
                        pages,
                        args.explore_run,
                        args.browser,
                    )
                )
    if any(result["pages"] for result in results):
        print_table(results)
    print_explore_run(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
