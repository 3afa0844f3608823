"""Cluster benchmark: app replicas behind HAProxy on a PostgreSQL primary and read replica.

    python benchmarks/bench_cluster.py --replicas 2 --viewers 20 --minutes 2 --kill-replica --json

Starts a PostgreSQL primary and a streaming replica (`pg_basebackup -R`), fills the primary
with the demo clinic (`python -m kapviz demo --patients P`), creates local accounts
(`python -m kapviz users add`), starts N app processes (KAPVIZ_READ_DATABASE_URL = the
replica, one shared cookie secret) behind HAProxy (deploy/haproxy.cfg), and drives V
signed-in viewers in headless Chromium (a few browsers, one context per viewer): each cycles
through the Overview wall screen (`?kiosk=1`), Safety, Trajectories and the Case explorer,
with a pause between visits. With --kill-replica one app process is killed (SIGKILL)
halfway; every viewer stuck to it must be served again, still signed in, within 30 s.

A page load is timed from the navigation to the end of the script run (Streamlit idle and
connected). Errors: exception or error boxes on screen, loads that fail or time out, and a
sign-in form shown to a viewer who had signed in. Before the clock starts each process
serves each page once (a warm-up visit, as a health check would after a start).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.async_api import Browser, Page, async_playwright  # noqa: E402

from tests import pg  # noqa: E402
from tests.browser.conftest import APP_IDLE, CHROMIUM, CHROMIUM_ARGS, EXCEPTION  # noqa: E402
from tests.cluster import cluster, server_of  # noqa: E402

log = logging.getLogger("bench_cluster")

VISITS = {
    "overview kiosk": "/?kiosk=1",
    "safety": "/safety",
    "trajectories": "/trajectories",
    "case explorer": "/case_explorer",
}
ERROR_BOX = '[data-testid="stAlertContentError"]'
PASSWORD_FIELD = 'input[type="password"]'
PAGE_CONTENT = '[data-testid="stMainBlockContainer"] h1, .kiosk-header'
ACCOUNTS = 4
PASSWORD = "cluster-bench-password-1"
LOAD_TIMEOUT_S = 60
SIGN_IN_TIMEOUT_S = 600
SIGN_IN_AT_ONCE = 4
"""Signing twenty viewers in at once hashes twenty passwords (argon2) on two processes."""
FAILOVER_LIMIT_S = 30


@dataclass
class Load:
    viewer: int
    visit: str
    started: float
    seconds: float
    ok: bool
    signed_in: bool
    server: str | None
    problem: str = ""


@dataclass
class Run:
    loads: list[Load] = field(default_factory=list)
    killed: str | None = None
    killed_at: float | None = None
    stuck_to_killed: list[int] = field(default_factory=list)


def _kapviz(*args: str, stdin: str | None = None) -> None:
    subprocess.run(
        [sys.executable, "-m", "kapviz", *args],
        cwd=ROOT,
        input=stdin,
        text=True,
        check=True,
        capture_output=True,
    )


async def _idle(page: Page, timeout_s: float) -> None:
    await page.locator(APP_IDLE).wait_for(state="attached", timeout=timeout_s * 1000)


async def _sign_in(page: Page, base: str, user: str) -> None:
    await page.goto(base + "/", timeout=SIGN_IN_TIMEOUT_S * 1000)
    await page.get_by_role("textbox", name="Username").fill(user, timeout=SIGN_IN_TIMEOUT_S * 1000)
    await page.get_by_role("textbox", name="Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await (
        page.locator('[data-testid="stSidebar"]')
        .get_by_text("director")
        .wait_for(timeout=SIGN_IN_TIMEOUT_S * 1000)
    )
    await _idle(page, SIGN_IN_TIMEOUT_S)


async def _visit(page: Page, url: str) -> tuple[bool, bool, str]:
    """(ok, signed in, problem) of one page load."""
    try:
        await page.goto(url, wait_until="domcontentloaded", timeout=LOAD_TIMEOUT_S * 1000)
        # The page's own content: the script ran past the sign-in gate (or stopped at it).
        content = page.locator(f"{PAGE_CONTENT}, {PASSWORD_FIELD}").first
        await content.wait_for(timeout=LOAD_TIMEOUT_S * 1000)
        await _idle(page, LOAD_TIMEOUT_S)
    except Exception as exc:  # Playwright's timeouts and navigation errors alike
        return False, True, f"load failed: {type(exc).__name__}: {str(exc)[:120]}"
    signed_in = await page.locator(PASSWORD_FIELD).count() == 0
    if not signed_in:
        return False, False, "sign-in form shown to a signed-in viewer"
    boxes = await page.locator(f"{EXCEPTION}, {ERROR_BOX}").all_inner_texts()
    if boxes:
        return False, True, "error box: " + boxes[0][:160].replace("\n", " ")
    return True, True, ""


async def _signed_in_viewer(n: int, browser: Browser, base: str, run: Run) -> Page | None:
    """A context of its own for viewer n, signed in (None when the sign-in failed)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    started = time.monotonic()
    try:
        await _sign_in(page, base, f"viewer{n % ACCOUNTS + 1}")
    except Exception as exc:
        problem = f"sign-in failed: {type(exc).__name__}: {str(exc)[:300]}"
        log.warning("viewer %d: %s", n, problem)
        run.loads.append(Load(n, "sign-in", started, 0.0, False, False, None, problem))
        await context.close()
        return None
    run.loads.append(Load(n, "sign-in", started, time.monotonic() - started, True, True,
                          server_of(await context.cookies())))  # fmt: skip
    return page


async def _viewer(n: int, page: Page, base: str, deadline: float, think_s: float, run: Run):
    names = list(VISITS)
    k = n  # viewers start at different pages
    while time.monotonic() < deadline or _owes_failover(n, run):
        visit = names[k % len(names)]
        k += 1
        started = time.monotonic()
        ok, signed_in, problem = await _visit(page, base + VISITS[visit])
        seconds = time.monotonic() - started
        server = server_of(await page.context.cookies())
        run.loads.append(Load(n, visit, started, seconds, ok, signed_in, server, problem))
        if problem:
            log.warning("viewer %d, %s: %s", n, visit, problem)
        await asyncio.sleep(think_s)
    await page.context.close()


def _owes_failover(n: int, run: Run) -> bool:
    """A viewer of the killed process keeps visiting after the clock until it has been
    served again (or the failover limit has passed), so a kill late in a short run is
    judged on what the viewer saw, not on the end of the run."""
    if run.killed_at is None or n not in run.stuck_to_killed:
        return False
    if time.monotonic() > run.killed_at + FAILOVER_LIMIT_S:
        return False
    return not any(
        ld.viewer == n and ld.ok and ld.started >= run.killed_at and ld.server != run.killed
        for ld in run.loads
    )


async def _warm_up(browser: Browser, app_ports: list[int]) -> None:
    for port in app_ports:
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        base = f"http://127.0.0.1:{port}"
        await _sign_in(page, base, "viewer1")
        for url in VISITS.values():
            await _visit(page, base + url)
        await context.close()


async def _killer(clus, run: Run, at: float, viewers_of) -> None:
    await asyncio.sleep(max(0.0, at - time.monotonic()))
    held = await viewers_of()
    counts = {name: sum(1 for s in held.values() if s == name) for name in set(held.values())}
    victim = max(counts, key=counts.get) if counts else clus.apps[0].name
    run.stuck_to_killed = sorted(v for v, s in held.items() if s == victim)
    run.killed, run.killed_at = victim, time.monotonic()
    clus.kill(victim)


async def _drive(clus, viewers: int, minutes: float, kill: bool, browsers: int, think_s: float):
    run = Run()
    async with async_playwright() as p:
        chromiums = [
            await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for _ in range(max(1, min(browsers, viewers)))
        ]
        await _warm_up(chromiums[0], [a.port for a in clus.apps])
        # Everyone signs in first (twenty password hashes at once); then the clock starts.
        # At most SIGN_IN_AT_ONCE sign-ins at a time: a crowd of cold sessions on a loaded
        # machine timed out before any form was drawn.
        gate = asyncio.Semaphore(SIGN_IN_AT_ONCE)

        async def sign_in(n: int) -> Page | None:
            async with gate:
                return await _signed_in_viewer(n, chromiums[n % len(chromiums)], clus.base_url, run)

        pages = await asyncio.gather(*(sign_in(n) for n in range(viewers)))
        log.info("%d of %d viewers signed in", sum(p is not None for p in pages), viewers)
        start = time.monotonic()
        deadline = start + minutes * 60
        tasks = [
            asyncio.create_task(_viewer(n, page, clus.base_url, deadline, think_s, run))
            for n, page in enumerate(pages)
            if page is not None
        ]
        if kill:

            async def viewers_of() -> dict[int, str]:
                latest: dict[int, str] = {}
                for load in run.loads:
                    if load.server:
                        latest[load.viewer] = load.server
                return latest

            tasks.append(asyncio.create_task(_killer(clus, run, start + minutes * 30, viewers_of)))
        await asyncio.gather(*tasks)
        for chromium in chromiums:
            await chromium.close()
    return run


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _failover(run: Run) -> tuple[bool | None, float | None]:
    """(every viewer of the killed process served again, signed in, within the limit; the
    slowest such return in seconds after the kill)."""
    if run.killed_at is None:
        return None, None
    if not run.stuck_to_killed:
        return False, None  # nobody to fail over: nothing shown
    worst = 0.0
    for viewer in run.stuck_to_killed:
        after = [ld for ld in run.loads if ld.viewer == viewer and ld.started >= run.killed_at]
        if any(not ld.signed_in for ld in after):
            return False, None
        served = [ld for ld in after if ld.ok and ld.server != run.killed]
        if not served:
            return False, None
        back = served[0].started + served[0].seconds - run.killed_at
        worst = max(worst, back)
    return worst <= FAILOVER_LIMIT_S, worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=2, help="app processes (2)")
    parser.add_argument("--viewers", type=int, default=20, help="Chromium viewers (20)")
    parser.add_argument("--minutes", type=float, default=2, help="duration (2)")
    parser.add_argument("--patients", type=int, default=20_000, help="demo clinic (20,000)")
    parser.add_argument("--kill-replica", action="store_true", help="kill one app halfway")
    parser.add_argument("--json", action="store_true", help="print one final JSON line")
    parser.add_argument("--browsers", type=int, default=2, help="Chromium processes (2)")
    parser.add_argument("--think", type=float, default=4.0, help="pause between visits (s)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kapviz-cluster-")))
        server = stack.enter_context(pg.postgres_server())
        primary = pg.create_database(server)
        t0 = time.perf_counter()
        _kapviz("demo", "--patients", str(args.patients), "--db", primary)
        generated_s = time.perf_counter() - t0
        log.info("demo clinic of %d patients in %.0f s", args.patients, generated_s)
        for i in range(1, ACCOUNTS + 1):
            _kapviz("users", "add", f"viewer{i}", "--role", "director", "--password-stdin",
                    "--db", primary, stdin=PASSWORD + "\n")  # fmt: skip
        replica_server = stack.enter_context(pg.postgres_replica(server))
        pg.wait_for_replay(server, replica_server, timeout=300)
        replica = pg.on_replica(replica_server, primary)
        env = {
            "KAPVIZ_READ_DATABASE_URL": replica,
            "KAPVIZ_AUTH_MODE": "local",
            "KAPVIZ_IDLE_MINUTES": "60",
            "KAPVIZ_LOCKOUT_FAILURES": str(10 * args.viewers),  # one source: 127.0.0.1
        }
        clus = stack.enter_context(
            cluster(primary, work / "cluster", replicas=args.replicas, env=env)
        )
        started = time.perf_counter()
        run = asyncio.run(
            _drive(clus, args.viewers, args.minutes, args.kill_replica, args.browsers, args.think)
        )
        wall_s = time.perf_counter() - started

    visits = [ld for ld in run.loads if ld.visit != "sign-in"]
    times = [ld.seconds for ld in visits if ld.ok]
    errors = [ld for ld in run.loads if not ld.ok]
    failover_ok, failover_s = _failover(run)
    print(f"\n{args.replicas} app processes, {args.viewers} viewers, {args.minutes:g} min, "
          f"{args.patients:,} patients (demo generated in {generated_s:.0f} s), "
          f"wall {wall_s:.0f} s")  # fmt: skip
    print(f"{'visit':<16}{'loads':>7}{'p50 s':>8}{'p95 s':>8}{'max s':>8}{'errors':>8}")
    for visit in [*VISITS, "sign-in"]:
        mine = [ld for ld in run.loads if ld.visit == visit]
        if not mine:
            continue
        ok = [ld.seconds for ld in mine if ld.ok]
        p50, p95 = _percentile(ok, 50), _percentile(ok, 95)
        print(f"{visit:<16}{len(mine):>7}{p50 or 0:>8.2f}{p95 or 0:>8.2f}"
              f"{max(ok, default=0):>8.2f}{len(mine) - len(ok):>8}")  # fmt: skip
    by_server = {}
    for ld in run.loads:
        by_server[ld.server] = by_server.get(ld.server, 0) + 1
    print("loads by app process: " + ", ".join(f"{k}: {v}" for k, v in sorted(
        by_server.items(), key=lambda kv: str(kv[0]))))  # fmt: skip
    if run.killed:
        print(f"killed {run.killed} halfway; its viewers: {len(run.stuck_to_killed)}; "
              f"slowest back: {failover_s if failover_s is not None else '-'} s; "
              f"failover ok: {failover_ok}")  # fmt: skip
    for ld in errors[:10]:
        print(f"error: viewer {ld.viewer}, {ld.visit}: {ld.problem}")
    result = {
        "replicas": args.replicas,
        "viewers": args.viewers,
        "minutes": args.minutes,
        "patients": args.patients,
        "page_loads": len(visits),
        "p50_s": round(_percentile(times, 50) or 0, 2),
        "p95_s": round(_percentile(times, 95) or 0, 2),
        "max_s": round(max(times, default=0), 2),
        "errors": len(errors),
        "killed": run.killed,
        "viewers_of_killed": len(run.stuck_to_killed),
        "failover_s": round(failover_s, 1) if failover_s is not None else None,
        "failover_ok": failover_ok,
    }
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
