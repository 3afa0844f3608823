"""Browser test harness: the real app in a Streamlit server, driven by headless Chromium.

Fixtures: `browser` (one Chromium per worker), `page` (fresh context, 1400x1000),
`app_factory` (start servers, stopped after the test), `app_url` (app.py on `app_db_url`,
an empty SQLite database unless a module overrides that fixture).
Helpers, imported by tests from this module: `start_app`, `wait_for_app`,
`assert_no_exception`, `open_app`.
Every test under tests/browser gets the `browser` marker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import missing_requirement
from tests.pg import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("KAPVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Streamlit has finished a script run and is connected (see /work/shared/STACK-NOTES.md).
APP_IDLE = (
    '[data-testid="stApp"][data-test-script-state="notRunning"]'
    '[data-test-connection-state="CONNECTED"]'
)
EXCEPTION = '[data-testid="stException"]'


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every test in this folder the `browser` marker (`-m "not browser"` skips them)."""
    here = Path(__file__).parent
    for item in items:
        if Path(item.path).is_relative_to(here):
            item.add_marker(pytest.mark.browser)


def _tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


@contextmanager
def start_app(
    db_url: str,
    env: Mapping[str, str] | None = None,
    *,
    script: str | Path = "app.py",
    timeout: float = 60,
) -> Iterator[str]:
    """Run `streamlit run <script>` from the repo root on a free port; yield its base URL.

    The server sees KAPVIZ_DATABASE_URL=db_url plus `env`; it is stopped on exit.
    """
    port = free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(script),
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    server_env = {**os.environ, "KAPVIZ_DATABASE_URL": db_url, **(env or {})}
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="kapviz-app-") as logs:
        out, err = Path(logs) / "stdout.log", Path(logs) / "stderr.log"
        # Output goes to files, not pipes: a full pipe would block the server.
        with out.open("wb") as out_f, err.open("wb") as err_f:
            proc = subprocess.Popen(
                cmd,
                cwd=REPO_ROOT,
                env=server_env,
                stdin=subprocess.DEVNULL,
                stdout=out_f,
                stderr=err_f,
            )
        try:
            _wait_for_health(proc, base_url, timeout, err)
            yield base_url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for_health(proc: subprocess.Popen, base_url: str, timeout: float, err: Path) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            pytest.fail(
                f"streamlit exited with status {proc.returncode} before answering; "
                f"stderr:\n{_tail(err)}",
                pytrace=False,
            )
        try:
            with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as resp:
                if resp.read().decode().strip() == "ok":
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(
                f"streamlit at {base_url} not healthy after {timeout:.0f} s; stderr:\n{_tail(err)}",
                pytrace=False,
            )
        time.sleep(0.1)


def wait_for_app(page: Page, timeout: float = 30000) -> None:
    """Wait (ms) until Streamlit has finished its script run and is connected.

    After a click, first wait for the new content to appear, then call this: the old run's
    idle state is still showing until the rerun starts.
    """
    page.locator(APP_IDLE).wait_for(state="attached", timeout=timeout)


def assert_no_exception(page: Page) -> None:
    """Fail with the exception text if the page shows any Streamlit exception box."""
    shown = [box.inner_text() for box in page.locator(EXCEPTION).all() if box.is_visible()]
    if shown:
        pytest.fail("the app shows an exception:\n\n" + "\n\n".join(shown), pytrace=False)


def open_app(page: Page, base_url: str, path: str = "/", *, timeout: float = 30000) -> None:
    """Open base_url + path, wait for the script run to finish, and fail on any exception."""
    page.goto(base_url.rstrip("/") + path, timeout=timeout)
    wait_for_app(page, timeout=timeout)
    assert_no_exception(page)


@contextmanager
def chromium_session() -> Iterator[Browser]:
    """One headless system Chromium (Playwright's own download is unused). The `browser`
    fixture in tests/conftest.py holds one per pytest worker for every folder: two sync
    Playwright sessions in one thread refuse to start."""
    if not Path(CHROMIUM).exists():
        missing_requirement(f"{CHROMIUM} not found; install it with `apt-get install chromium`")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A new page in its own browser context (no shared cookies or storage), 1400x1000."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def app_factory() -> Iterator[Callable[..., str]]:
    """`start(db_url, env=None, *, script="app.py") -> base URL`; servers stop after the test."""
    with ExitStack() as stack:

        def start(
            db_url: str, env: Mapping[str, str] | None = None, *, script: str | Path = "app.py"
        ) -> str:
            return stack.enter_context(start_app(db_url, env, script=script))

        yield start


@pytest.fixture
def app_db_url(sqlite_url: str) -> str:
    """Database the `app_url` server uses; override in a module to seed or switch backend."""
    return sqlite_url


@pytest.fixture
def app_url(app_factory: Callable[..., str], app_db_url: str) -> str:
    """Base URL of a fresh `streamlit run app.py` server on `app_db_url`."""
    return app_factory(app_db_url)
