"""Days on a wall: the server's resident memory while a kiosk Overview refreshes itself.

    python benchmarks/bench_soak.py --refreshes 1800 --interval 1 --json
    python benchmarks/bench_soak.py --db sqlite:////tmp/demo.db --refreshes 120

Starts a real `streamlit run app.py` on a demo clinic (`--patients`, built in a temporary
SQLite file unless `--db` is given), opens `/?kiosk=1` in headless Chromium and lets the
wall screen refresh itself every `--interval` seconds (KAPVIZ_REFRESH_SECONDS) until it has
refreshed `--refreshes` times. A refresh is counted when the browser receives the end of a
script or fragment run over the websocket. The server's VmRSS is sampled after every refresh;
the curve is printed every `--every` refreshes. Growth is measured from the RSS after
`--warmup` refreshes (the first runs fill the caches and the allocator's pools) to the end.
With `--json` the last line is one JSON object: refreshes, rss_start_mb, rss_end_mb,
growth_mb, ok (growth within the budget scaled to the refreshes run: 50 MB per 1,800).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_memory import rss_mb  # noqa: E402

BUDGET_MB = 50.0
BUDGET_REFRESHES = 1800
"""Issue 22: a day-long wall screen (1,800 refreshes at 60 s = 30 h) grows < 50 MB."""
SCRIPT_DONE = "script_finished"

log = logging.getLogger("bench_soak")


@dataclass
class Soak:
    refreshes: int = 0
    seconds: float = 0.0
    rss_first_view_mb: float = 0.0
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_max_mb: float = 0.0
    warmup: int = 0
    errors: int = 0
    curve: list[tuple[int, float, float]] = field(default_factory=list)
    """(refresh number, seconds since the first view, RSS MB) after every refresh."""

    @property
    def growth_mb(self) -> float:
        return self.rss_end_mb - self.rss_start_mb

    def budget_mb(self) -> float:
        """The 50 MB per 1,800 refreshes budget, scaled to the refreshes measured."""
        return BUDGET_MB * max(self.refreshes - self.warmup, 1) / BUDGET_REFRESHES

    def slope_mb_per_refresh(self, after: int | None = None) -> float:
        """Least-squares slope of RSS over refresh number (from `after`, default warm-up)."""
        points = [(n, mb) for n, _, mb in self.curve if n >= (after or self.warmup)]
        if len(points) < 2:
            return 0.0
        mean_n = sum(n for n, _ in points) / len(points)
        mean_mb = sum(mb for _, mb in points) / len(points)
        num = sum((n - mean_n) * (mb - mean_mb) for n, mb in points)
        den = sum((n - mean_n) ** 2 for n, _ in points)
        return num / den if den else 0.0

    def ok(self) -> bool:
        return self.errors == 0 and self.growth_mb < self.budget_mb()

    def summary(self) -> dict:
        row = asdict(self)
        row.pop("curve")
        row["growth_mb"] = round(self.growth_mb, 1)
        row["slope_mb_per_1000"] = round(1000 * self.slope_mb_per_refresh(), 2)
        row["budget_mb"] = round(self.budget_mb(), 1)
        row["ok"] = self.ok()
        for key in ("seconds", "rss_first_view_mb", "rss_start_mb", "rss_end_mb", "rss_max_mb"):
            row[key] = round(row[key], 1)
        return row


def server_pid(port: int) -> int:
    """The process id of this process's child server started with `--server.port PORT`."""
    import os

    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = stat.rsplit(")", 1)[1].split()[1]
        pairs = zip(cmdline, cmdline[1:], strict=False)
        if ppid == me and (b"--server.port", str(port).encode()) in pairs:
            return int(entry.name)
    raise RuntimeError(f"no streamlit child process on port {port}")


def count_runs(page, counter: dict[str, int]) -> None:  # noqa: ANN001
    """Count every script and fragment run the page's websocket reports finished."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    def on_frame(payload: bytes | str) -> None:
        if isinstance(payload, str):
            return
        try:
            msg = ForwardMsg.FromString(payload)
        except Exception:  # noqa: BLE001 - not a ForwardMsg: not a run
            return
        if msg.WhichOneof("type") == SCRIPT_DONE:
            counter["runs"] += 1

    page.on("websocket", lambda ws: ws.on("framereceived", on_frame))


def soak(
    browser,  # noqa: ANN001 - a Playwright Browser
    base_url: str,
    pid: int,
    *,
    refreshes: int,
    warmup: int = 10,
    path: str = "/?kiosk=1",
    timeout_per_refresh: float = 30.0,
    on_refresh: Callable[[Soak], None] | None = None,
) -> Soak:
    """Open the wall screen and sample the server's RSS until it has refreshed N times."""
    from tests.browser.conftest import EXCEPTION, wait_for_app

    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    try:
        page = context.new_page()
        counter = {"runs": 0}
        count_runs(page, counter)
        page.goto(base_url.rstrip("/") + path, timeout=120_000)
        wait_for_app(page, timeout=120_000)
        result = Soak(warmup=warmup, rss_first_view_mb=rss_mb(pid))
        first_runs = counter["runs"]
        t0 = time.monotonic()
        seen = 0
        while seen < refreshes:
            deadline = time.monotonic() + timeout_per_refresh
            while counter["runs"] - first_runs <= seen:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no refresh within {timeout_per_refresh} s after {seen}")
                page.wait_for_timeout(100)
            seen = counter["runs"] - first_runs
            mb = rss_mb(pid)
            result.curve.append((seen, time.monotonic() - t0, mb))
            if seen <= warmup or not result.rss_start_mb:
                result.rss_start_mb = mb
            result.rss_max_mb = max(result.rss_max_mb, mb)
            result.refreshes, result.seconds, result.rss_end_mb = seen, time.monotonic() - t0, mb
            if on_refresh is not None:
                on_refresh(result)
        result.errors = page.locator(EXCEPTION).count()
        return result
    finally:
        context.close()


def build_demo(folder: str, patients: int) -> str:
    from kapviz.db.engine import make_engine
    from kapviz.db.migrate import upgrade
    from kapviz.demo import generate_clinic

    url = f"sqlite:///{folder}/kapviz.db"
    engine = make_engine(url)
    upgrade(engine)
    generate_clinic(engine, patients=patients, seed=7)
    engine.dispose()
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refreshes", type=int, default=1800)
    parser.add_argument("--interval", type=int, default=1, help="KAPVIZ_REFRESH_SECONDS")
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--db", help="an existing demo database (default: build one)")
    parser.add_argument("--warmup", type=int, default=10, help="refreshes before rss_start")
    parser.add_argument("--every", type=int, default=60, help="print every N refreshes")
    parser.add_argument("--path", default="/?kiosk=1", help="the page the screen shows")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from tests.browser.conftest import chromium_session, start_app

    with tempfile.TemporaryDirectory(prefix="kapviz-soak-") as folder:
        url = args.db or build_demo(folder, args.patients)
        env = {"KAPVIZ_REFRESH_SECONDS": str(args.interval), "KAPVIZ_AUTH_MODE": "none"}
        with start_app(url, env, timeout=120) as base, chromium_session() as browser:
            pid = server_pid(int(base.rsplit(":", 1)[1]))
            print(f"server {base} (pid {pid}), {args.path}, refresh every {args.interval} s")
            print(f"{'refresh':>8} {'seconds':>9} {'RSS MB':>8}")

            def show(s: Soak) -> None:
                n, seconds, mb = s.curve[-1]
                if n == 1 or n % args.every == 0 or n >= args.refreshes:
                    print(f"{n:>8} {seconds:>9.0f} {mb:>8.1f}", flush=True)

            result = soak(
                browser,
                base,
                pid,
                refreshes=args.refreshes,
                warmup=args.warmup,
                path=args.path,
                on_refresh=show,
            )
    summary = result.summary()
    print(
        f"RSS at first view {result.rss_first_view_mb:.1f} MB, after {result.warmup} "
        f"refreshes {result.rss_start_mb:.1f} MB, after {result.refreshes} "
        f"{result.rss_end_mb:.1f} MB (max {result.rss_max_mb:.1f}): growth "
        f"{result.growth_mb:+.1f} MB, slope {summary['slope_mb_per_1000']:+.2f} MB per 1,000 "
        f"refreshes; budget {summary['budget_mb']:.1f} MB "
        f"({BUDGET_MB:.0f} MB per {BUDGET_REFRESHES:,}): {'ok' if result.ok() else 'OVER'}"
    )
    if args.json:
        print(json.dumps(summary))
    return 0 if result.ok() else 1


if __name__ == "__main__":
    raise SystemExit(main())
