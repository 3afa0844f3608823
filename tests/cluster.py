"""Several kapviz app processes behind HAProxy, as deploy/ runs them, on free ports of
127.0.0.1: for the failover test (tests/browser) and benchmarks/bench_cluster.py.

The balancer's configuration is deploy/haproxy.cfg itself, with one `server` line per app
process and the ports filled in, so the tests exercise the timeouts, stickiness and
redispatch an operator runs. Every app process gets the same `server.cookieSecret`.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.pg import free_port

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
HAPROXY_CFG = REPO_ROOT / "deploy" / "haproxy.cfg"
STICKY_COOKIE = "KAPVIZ_SERVER"
SERVER_LINE = re.compile(r"^\s*server app\d+ .*\n", re.MULTILINE)


def find_haproxy() -> str | None:
    """The haproxy binary (Debian: `apt-get install haproxy`), or None."""
    return shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy",) if Path(p).exists()), None
    )


def haproxy_config(app_names: list[str]) -> str:
    """deploy/haproxy.cfg with one `server` line per app (addresses from the environment)."""
    text = HAPROXY_CFG.read_text()
    lines = "".join(
        f'    server {name} "${{KAPVIZ_{name.upper()}}}" check cookie {name}\n'
        for name in app_names
    )
    first = SERVER_LINE.search(text)
    if first is None:
        raise ValueError(f"{HAPROXY_CFG} has no `server app1 ...` line")
    return (
        SERVER_LINE.sub("", text[: first.start()])
        + lines
        + SERVER_LINE.sub("", text[first.start() :])
    )


@dataclass
class App:
    name: str
    port: int
    proc: subprocess.Popen
    log: Path

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class Cluster:
    base_url: str
    apps: list[App]
    haproxy: subprocess.Popen
    workdir: Path
    killed: list[str] = field(default_factory=list)

    def app(self, name: str) -> App:
        return next(a for a in self.apps if a.name == name)

    def kill(self, name: str) -> None:
        """SIGKILL one app process, as a crash or the kernel's OOM killer would."""
        app = self.app(name)
        app.proc.send_signal(signal.SIGKILL)
        app.proc.wait(timeout=10)
        self.killed.append(name)
        log.info("killed app process %s (port %d)", name, app.port)


def _wait_healthy(url: str, proc: subprocess.Popen, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not healthy after {timeout:.0f} s")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def cluster(
    db_url: str,
    workdir: Path,
    *,
    replicas: int = 2,
    env: Mapping[str, str] | None = None,
    start_timeout: float = 120,
) -> Iterator[Cluster]:
    """Start `replicas` app processes on `db_url` and HAProxy in front; stop all on exit."""
    haproxy = find_haproxy()
    if haproxy is None:
        raise RuntimeError("haproxy not found: apt-get install haproxy")
    workdir.mkdir(parents=True, exist_ok=True)
    app_env = {
        **os.environ,
        "KAPVIZ_DATABASE_URL": db_url,
        "STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_hex(32),
        **(env or {}),
    }
    with ExitStack() as stack:
        apps: list[App] = []
        for i in range(1, replicas + 1):
            port = free_port()
            logfile = workdir / f"app{i}.log"
            with logfile.open("wb") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "streamlit", "run", "app.py",
                     "--server.headless", "true", "--server.address", "127.0.0.1",
                     "--server.port", str(port), "--server.fileWatcherType", "none",
                     "--browser.gatherUsageStats", "false"],
                    cwd=REPO_ROOT, env=app_env, stdin=subprocess.DEVNULL,
                    stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
            stack.callback(_stop, proc)
            apps.append(App(f"app{i}", port, proc, logfile))
        for app in apps:
            _wait_healthy(
                f"http://127.0.0.1:{app.port}/_stcore/health", app.proc, app.name, start_timeout
            )
        cfg = workdir / "haproxy.cfg"
        cfg.write_text(haproxy_config([a.name for a in apps]))
        front = free_port()
        ha_env = {
            **os.environ,
            "KAPVIZ_BIND": f"127.0.0.1:{front}",
            **{f"KAPVIZ_{a.name.upper()}": f"127.0.0.1:{a.port}" for a in apps},
        }
        with (workdir / "haproxy.log").open("wb") as out:
            ha = subprocess.Popen(
                [haproxy, "-db", "-f", str(cfg)], env=ha_env, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        stack.callback(_stop, ha)
        base = f"http://127.0.0.1:{front}"
        _wait_healthy(f"{base}/_stcore/health", ha, "haproxy", 30)
        yield Cluster(base, apps, ha, workdir)


def server_of(cookies: list[dict]) -> str | None:
    """The app process a browser context is stuck to (HAProxy's cookie), or None."""
    return next((c["value"] for c in cookies if c["name"] == STICKY_COOKIE), None)
