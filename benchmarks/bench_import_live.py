"""A large import into a running server: does every viewer keep being served, right?

    python benchmarks/bench_import_live.py --patients 5000 --import-patients 5000 --via both
    python benchmarks/bench_import_live.py --patients 1000 --import-patients 1000 --json
    python benchmarks/bench_import_live.py --root /path/to/other/checkout   # compare

Builds a demo clinic of `--patients` in a temporary SQLite file and a second one of
`--import-patients` (another seed), exported with `python -m kapviz export` and its ids
prefixed so that every row is new. Starts the app (sign-in off) with a live Overview
(KAPVIZ_REFRESH_SECONDS=`--interval`) on a wall screen, and viewers that reload Safety and
Trajectories in turn. Then imports the second clinic: `--via cli` with `python -m kapviz
import` in another process, `--via upload` through the Data page in a browser (half of the
files' patients each when `--via both`, CLI first). While an import runs the viewers keep
loading; the server's exit status, exception boxes, "database is locked" in the server log
and the server's RSS are watched. Afterwards every Overview figure of the old server is
compared with a freshly started server's on the same file. The server and the CLI import
run from `--root` (this checkout by default). Not a test: nothing asserts; the
exit status is 1 when anything went wrong.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_memory import rss_mb  # noqa: E402
from benchmarks.bench_soak import build_demo, count_runs  # noqa: E402

ID_COLUMNS = ("patient_id", "session_id", "course_id")
PAGES = ("/safety", "/trajectories")


def _rewrite(source: Path, into: Path, keep: Callable[[dict], dict | None]) -> Path:
    """Every CSV of `source` into `into`, each row as `keep` returns it (None: left out)."""
    into.mkdir()
    for path in sorted(source.glob("*.csv")):
        with path.open(newline="") as src, (into / path.name).open("w", newline="") as dst:
            reader = csv.DictReader(src)
            writer = csv.DictWriter(dst, fieldnames=reader.fieldnames or [])
            writer.writeheader()
            writer.writerows(row for row in map(keep, reader) if row is not None)
    return into


def template_of_new_patients(url: str, folder: Path, prefix: str) -> Path:
    """The clinic of `url` as template CSVs with every id prefixed (all rows new)."""
    raw = folder / "raw"
    subprocess.run(
        [sys.executable, "-m", "kapviz", "export", str(raw), "--db", url],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )

    def prefixed(row: dict) -> dict:
        return {k: prefix + v if k in ID_COLUMNS and v else v for k, v in row.items()}

    return _rewrite(raw, folder / "new", prefixed)


def split_by_patient(folder: Path, into: Path, part: int, parts: int) -> Path:
    """The rows of every `parts`-th patient (those of `part`), as a template folder."""
    with (folder / "patients.csv").open(newline="") as src:
        ids = sorted(r["patient_id"] for r in csv.DictReader(src))
    mine = {p for i, p in enumerate(ids) if i % parts == part}
    with (folder / "sessions.csv").open(newline="") as src:
        sessions = {r["session_id"] for r in csv.DictReader(src) if r["patient_id"] in mine}

    def of_part(row: dict) -> dict | None:
        if "patient_id" in row:
            return row if row["patient_id"] in mine else None
        return row if row["session_id"] in sessions else None

    return _rewrite(folder, into, of_part)


def metrics(page) -> dict[str, str]:  # noqa: ANN001 - a Playwright Page
    """Every metric tile's label and value on the page."""
    out = {}
    for tile in page.locator('[data-testid="stMetric"]').all():
        label = tile.locator('[data-testid="stMetricLabel"]').inner_text().strip()
        out[label] = tile.locator('[data-testid="stMetricValue"]').inner_text().strip()
    return out


class Watch:
    """The server process, its log and the viewers; `tick` loads pages and samples."""

    def __init__(self, browser, base: str, pid: int, log: Path, interval: int) -> None:  # noqa: ANN001
        from tests.browser.conftest import wait_for_app

        self.base, self.pid, self.log = base, pid, log
        self.errors: list[str] = []
        self.loads, self.load_seconds, self.rss_max = 0, [], 0.0
        self.wall_context = browser.new_context(viewport={"width": 1920, "height": 1080})
        self.wall = self.wall_context.new_page()
        self.runs = {"runs": 0}
        count_runs(self.wall, self.runs)
        self.wall.goto(f"{base}/?kiosk=1", timeout=120_000)
        wait_for_app(self.wall, timeout=120_000)
        self.viewer_context = browser.new_context(viewport={"width": 1440, "height": 900})
        self.viewer = self.viewer_context.new_page()
        self.turn = 0

    def alive(self) -> bool:
        return Path(f"/proc/{self.pid}").exists()

    def tick(self) -> None:
        from tests.browser.conftest import EXCEPTION, wait_for_app

        path = PAGES[self.turn % len(PAGES)]
        self.turn += 1
        start = time.monotonic()
        try:
            self.viewer.goto(self.base + path, timeout=120_000)
            self.viewer.locator('[data-testid="stMain"]').wait_for(timeout=120_000)
            wait_for_app(self.viewer, timeout=120_000)
            self.loads += 1
            self.load_seconds.append(time.monotonic() - start)
        except Exception as exc:  # noqa: BLE001 - a failed load is a finding
            self.errors.append(f"{path}: load failed: {exc!r}"[:300])
        for page, name in ((self.viewer, path), (self.wall, "wall")):
            for box in page.locator(EXCEPTION).all():
                self.errors.append(f"{name}: {box.inner_text()[:300]}")
        if not self.alive():
            self.errors.append("server died")
            raise RuntimeError("the server died: " + "; ".join(self.locked_lines()[-3:]))
        self.rss_max = max(self.rss_max, rss_mb(self.pid))

    def locked_lines(self) -> list[str]:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [
            line
            for line in text.splitlines()
            if "locked" in line or "Error" in line or "SIGBUS" in line
        ]

    def close(self) -> None:
        self.wall_context.close()
        self.viewer_context.close()


def start_server(url: str, env: dict, log: Path, root: Path) -> tuple[subprocess.Popen, str]:
    from tests.browser.conftest import _wait_for_health
    from tests.pg import free_port

    port = free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true", "--server.address", "127.0.0.1",
        "--server.port", str(port), "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            env={**os.environ, "KAPVIZ_DATABASE_URL": url, **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    _wait_for_health(proc, base, 180, log)
    return proc, base


def import_cli(watch: Watch, url: str, folder: Path, root: Path) -> dict:
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kapviz", "import", str(folder), "--db", url],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    while proc.poll() is None:
        watch.tick()
    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    if proc.returncode != 0:
        watch.errors.append(f"cli import exit {proc.returncode}: {out[-500:]}")
    return {"via": "cli", "seconds": round(time.monotonic() - start, 1), "exit": proc.returncode}


def import_upload(watch: Watch, browser, folder: Path) -> dict:  # noqa: ANN001
    from tests.browser.conftest import wait_for_app

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto(watch.base + "/data", timeout=120_000)
        wait_for_app(page, timeout=120_000)
        start = time.monotonic()
        uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
        uploader.set_input_files(sorted(str(p) for p in folder.glob("*.csv")))
        while not page.get_by_text("no problems found").first.is_visible():
            if page.get_by_text("problems found").first.is_visible():
                watch.errors.append("upload: problems found")
                return {"via": "upload", "seconds": None}
            if time.monotonic() - start > 600:
                watch.errors.append("upload: no answer in 600 s")
                return {"via": "upload", "seconds": None}
            watch.tick()
        checked = time.monotonic() - start
        page.get_by_role("button", name="Import now").click()
        while not page.get_by_text("Imported").first.is_visible():
            if time.monotonic() - start > 900 or not watch.alive():
                watch.errors.append("upload: not imported")
                return {"via": "upload", "seconds": None}
            watch.tick()
        return {
            "via": "upload",
            "read_seconds": round(checked, 1),
            "seconds": round(time.monotonic() - start, 1),
        }
    finally:
        context.close()


def overview_figures(browser, base: str) -> dict[str, str]:  # noqa: ANN001
    from tests.browser.conftest import wait_for_app

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto(base + "/", timeout=120_000)
        page.locator('[data-testid="stMetric"]').first.wait_for(timeout=120_000)
        wait_for_app(page, timeout=120_000)
        return metrics(page)
    finally:
        context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--import-patients", type=int, default=5000)
    parser.add_argument("--via", choices=("cli", "upload", "both"), default="both")
    parser.add_argument("--interval", type=int, default=1, help="KAPVIZ_REFRESH_SECONDS")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout the server runs from")
    args = parser.parse_args()

    from tests.browser.conftest import chromium_session

    with tempfile.TemporaryDirectory(prefix="kapviz-import-live-") as tmp:
        folder = Path(tmp)
        url = build_demo(str(folder), args.patients)
        (folder / "other").mkdir()
        from kapviz.db.engine import make_engine
        from kapviz.db.migrate import upgrade
        from kapviz.demo import generate_clinic

        other_url = f"sqlite:///{folder}/other/kapviz.db"
        other = make_engine(other_url)
        upgrade(other)
        generate_clinic(other, patients=args.import_patients, seed=11)
        other.dispose()
        new = template_of_new_patients(other_url, folder, "X")
        plan = (
            [("cli", new)]
            if args.via == "cli"
            else [("upload", new)]
            if args.via == "upload"
            else [
                ("cli", split_by_patient(new, folder / "part0", 0, 2)),
                ("upload", split_by_patient(new, folder / "part1", 1, 2)),
            ]
        )
        rows = sum(max(sum(1 for _ in p.open()) - 1, 0) for _, f in plan for p in f.glob("*.csv"))
        env = {"KAPVIZ_REFRESH_SECONDS": str(args.interval), "KAPVIZ_AUTH_MODE": "none"}
        log = folder / "server.log"
        server, base = start_server(url, env, log, args.root)
        try:
            with chromium_session() as browser:
                pid = server_pid_of(server)
                watch = Watch(browser, base, pid, log, args.interval)
                for _ in range(4):
                    watch.tick()
                rss_before = rss_mb(pid)
                runs_before = watch.runs["runs"]
                imports = []
                for via, part in plan:
                    imports.append(
                        import_cli(watch, url, part, args.root)
                        if via == "cli"
                        else import_upload(watch, browser, part)
                    )
                for _ in range(4):
                    watch.tick()
                rss_after = rss_mb(pid)
                wall_refreshes = watch.runs["runs"] - runs_before
                old = overview_figures(browser, base) if watch.alive() else {}
                watch.close()
                fresh_log = folder / "fresh.log"
                fresh, fresh_base = start_server(url, env, fresh_log, args.root)
                try:
                    new_figures = overview_figures(browser, fresh_base)
                finally:
                    fresh.terminate()
                    fresh.wait(timeout=30)
        finally:
            exit_status = server.poll()
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        differ = {k: (old.get(k), v) for k, v in new_figures.items() if old.get(k) != v}
        loads = sorted(watch.load_seconds)
        summary = {
            "patients": args.patients,
            "import_patients": args.import_patients,
            "import_rows": rows,
            "imports": imports,
            "viewers": 2,
            "page_loads": watch.loads,
            "page_p50_s": round(loads[len(loads) // 2], 2) if loads else None,
            "page_max_s": round(loads[-1], 2) if loads else None,
            "wall_refreshes": wall_refreshes,
            "rss_before_mb": round(rss_before, 1),
            "rss_after_mb": round(rss_after, 1),
            "rss_max_mb": round(watch.rss_max, 1),
            "server_exit": exit_status,
            "errors": watch.errors,
            "log_lines": watch.locked_lines()[:10],
            "figures_differ": differ,
        }
    for key, value in summary.items():
        print(f"{key:>16}: {value}")
    ok = not watch.errors and exit_status is None and not differ and not summary["log_lines"]
    print("ok" if ok else "NOT OK")
    if args.json:
        print(json.dumps(summary))
    return 0 if ok else 1


def server_pid_of(proc: subprocess.Popen) -> int:
    """The server's own process: `python -m streamlit` is the child itself."""
    return proc.pid


if __name__ == "__main__":
    raise SystemExit(main())
