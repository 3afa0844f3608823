"""Days on a wall, shortened: the kiosk's server memory over refreshes, and closed tabs.

The full soak (1,800 refreshes) is benchmarks/bench_soak.py; here 120 refreshes at 1 s
with the same budget per refresh, and a session probe inside the server process
(tests/browser/session_probe.py) to see a closed tab's session leave the runtime.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from benchmarks.bench_soak import BUDGET_MB, BUDGET_REFRESHES, server_pid, soak
from kapviz.db.engine import make_engine
from kapviz.demo import generate_clinic
from tests.browser.conftest import REPO_ROOT, _wait_for_health, open_app
from tests.pg import free_port

PROBE = Path(__file__).with_name("session_probe.py")
TTL = 4
"""server.disconnectedSessionTTL for the closed-tab test (Streamlit's default is 120 s)."""


@pytest.fixture(scope="module")
def soak_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('soak') / 'demo.db'}"
    generate_clinic(make_engine(url), patients=300, seed=7)
    return url


@contextmanager
def probed_app(db_url: str, out: Path, *flags: str, refresh: int = 1) -> Iterator[tuple[str, int]]:
    """The app under tests/browser/session_probe.py; yields (base URL, server pid)."""
    port = free_port()
    cmd = [
        sys.executable, str(PROBE), str(out), "app.py",
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        *flags,
    ]  # fmt: skip
    env = {
        **os.environ,
        "KAPVIZ_DATABASE_URL": db_url,
        "KAPVIZ_AUTH_MODE": "none",
        "KAPVIZ_REFRESH_SECONDS": str(refresh),
    }
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="kapviz-probe-") as logs:
        err = Path(logs) / "stderr.log"
        with err.open("wb") as err_f:
            proc = subprocess.Popen(
                cmd, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=err_f,
            )  # fmt: skip
        try:
            _wait_for_health(proc, base, 120, err)
            yield base, proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def read_probe(out: Path) -> dict:
    deadline = time.monotonic() + 10
    while True:
        try:
            state = json.loads(out.read_text())
            assert "error" not in state, state["error"]
            return state
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def wait_probe(out: Path, want: dict, timeout: float) -> dict:
    """Wait until the probe shows these counts; return the last state either way."""
    deadline = time.monotonic() + timeout
    while True:
        state = read_probe(out)
        if all(state[key] == value for key, value in want.items()):
            return state
        if time.monotonic() > deadline:
            return state
        time.sleep(0.3)


def test_a_closed_tab_leaves_the_runtime(browser, soak_db, tmp_path) -> None:
    """A wall screen stays; a second tab is closed. Within the reconnect window (TTL) plus
    one sweep the closed tab's session is neither listed nor held in memory."""
    out = tmp_path / "probe.json"
    ttl = ("--server.disconnectedSessionTTL", str(TTL))
    with probed_app(soak_db, out, *ttl, refresh=5) as (base, _):
        wall = browser.new_context(viewport={"width": 1920, "height": 1080})
        tab = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            open_app(wall.new_page(), base, "/?kiosk=1", timeout=120_000)
            open_app(tab.new_page(), base, "/safety", timeout=120_000)
            both = wait_probe(out, {"listed": 2, "active": 2, "alive": 2}, 30)
            assert (both["listed"], both["active"], both["alive"]) == (2, 2, 2), both
            tab.close()
            closed_at = time.monotonic()
            left = wait_probe(out, {"listed": 1, "active": 1, "alive": 1, "stored": 0}, TTL + 40)
            waited = time.monotonic() - closed_at
            assert (left["listed"], left["active"], left["alive"], left["stored"]) == (
                1,
                1,
                1,
                0,
            ), f"after {waited:.0f} s: {left}"
        finally:
            wall.close()


def test_the_wall_screen_stays_flat_over_120_refreshes(browser, soak_db, tmp_path) -> None:
    """120 refreshes at 1 s after 20 to warm up: the growth stays within the day's budget
    scaled to these refreshes (50 MB per 1,800) plus 5 MB of allocator noise, and no
    refresh shows an error."""
    refreshes, warmup = 120, 20
    with probed_app(soak_db, tmp_path / "probe.json") as (base, pid):
        assert server_pid(int(base.rsplit(":", 1)[1])) == pid  # as the benchmark finds it
        result = soak(browser, base, pid, refreshes=refreshes, warmup=warmup)
    budget = BUDGET_MB * (refreshes - warmup) / BUDGET_REFRESHES + 5.0
    curve = [(n, round(mb, 1)) for n, _, mb in result.curve[::10]]
    assert result.errors == 0
    assert result.refreshes >= refreshes
    assert result.growth_mb < budget, f"grew {result.growth_mb:.1f} MB; curve {curve}"
