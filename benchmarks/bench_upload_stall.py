"""Another viewer's page time while someone uploads a large file on the Data page.

    python benchmarks/bench_upload_stall.py --patients 1000 --upload-mb 50
    python benchmarks/bench_upload_stall.py --root /path/to/other/checkout   # compare

Builds the demo clinic in a temporary SQLite file and starts the app (sign-in off) from
`--root` (this checkout by default). A viewer opens the Overview a few times (baseline);
then an uploader attaches a junk CSV of `--upload-mb` MB on the Data page, and while it is
being read the viewer keeps opening the Overview. Prints the viewer's page times before and
during the upload, how long the upload took to answer, and the peak resident memory of the
server process and of its children (the reading process). Not a test: nothing asserts.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ANSWER = re.compile("problems found|cannot be read|no problems found")
EXCEPTION = '[data-testid="stException"]'
IDLE = (
    '[data-testid="stApp"][data-test-script-state="notRunning"]'
    '[data-test-connection-state="CONNECTED"]'
)


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


class Peak(threading.Thread):
    """Samples the server's and its children's resident memory every 0.2 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.server, self.children, self.running = pid, 0.0, 0.0, True

    def run(self) -> None:
        while self.running:
            self.server = max(self.server, _rss_mb(self.pid))
            kids = sum(_rss_mb(c) for c in _children(self.pid))
            self.children = max(self.children, kids)
            time.sleep(0.2)


def junk_csv(path: Path, megabytes: int) -> None:
    """A patients.csv that looks like the template but is megabytes of nonsense rows."""
    row = "J{:09d},Nowhere-{:d},junk indication text that goes on,1899-13-45,maybe,\n"
    with path.open("w") as out:
        out.write("patient_id,site,indication,intake_date,status,reason\n")
        i = 0
        while out.tell() < megabytes * 1024 * 1024:
            out.write(row.format(i, i % 97))
            i += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--upload-mb", type=int, default=50)
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose app.py runs")
    args = parser.parse_args()

    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    from kapviz.db.engine import make_engine
    from kapviz.db.migrate import upgrade
    from kapviz.demo import generate_clinic
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, start_app

    folder = Path(tempfile.mkdtemp(prefix="kapviz-bench-upload-"))
    url = f"sqlite:///{folder}/kapviz.db"
    engine = make_engine(url)
    upgrade(engine)
    generate_clinic(engine, patients=args.patients, seed=7)
    junk = folder / "patients.csv"
    junk_csv(junk, args.upload_mb)
    env = {"KAPVIZ_AUTH_MODE": "none", "KAPVIZ_UPLOAD_MAX_MB": str(args.upload_mb + 10)}

    with start_app(url, env, script=args.root / "app.py", timeout=120) as base:
        server_pid = _server_pid(base)
        peak = Peak(server_pid)
        peak.start()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            viewer = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            uploader = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()

            def overview() -> float:
                """Seconds to a finished Overview; inf when it did not finish in 120 s."""
                t0 = time.perf_counter()
                try:
                    viewer.goto(base + "/", timeout=120_000)
                    viewer.locator('[data-testid="stMetric"]').first.wait_for(timeout=120_000)
                    viewer.locator(IDLE).wait_for(state="attached", timeout=120_000)
                except PlaywrightTimeout:
                    return float("inf")
                return time.perf_counter() - t0

            overview()  # warm the caches
            before = [overview() for _ in range(3)]
            uploader.goto(base + "/data", timeout=120_000)
            uploader.locator(IDLE).wait_for(state="attached", timeout=120_000)
            t0 = time.perf_counter()
            uploader.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
                str(junk)
            )
            main = uploader.locator('[data-testid="stMain"]')

            def answered() -> str | None:
                text = " ".join(main.inner_text().split())
                found = ANSWER.search(text) or re.search("Traceback", text)
                return text[max(found.start() - 60, 0) : found.end() + 80] if found else None

            during = []
            while answered() is None and time.perf_counter() - t0 < 600:
                during.append(overview())
            while answered() is None:
                time.sleep(0.2)
            upload_seconds = time.perf_counter() - t0
            verdict = answered()
            browser.close()
        peak.running = False
    print(f"app from {args.root}; demo clinic {args.patients} patients; junk CSV "
          f"{junk.stat().st_size / 1024 / 1024:.0f} MB")  # fmt: skip
    print(f"viewer's Overview before: median {statistics.median(before):.2f} s "
          f"({', '.join(f'{t:.2f}' for t in before)})")  # fmt: skip
    if during:
        print(f"viewer's Overview during the upload: median {statistics.median(during):.2f} s, "
              f"max {max(during):.2f} s over {len(during)} loads")  # fmt: skip
    print(f"upload answered after {upload_seconds:.1f} s: {verdict}")
    print(f"peak RSS: server {peak.server:.0f} MB, its child processes {peak.children:.0f} MB")
    return 0


def _server_pid(base: str) -> int:
    """The streamlit process listening on the base URL's port (a child of this process)."""
    port = base.rsplit(":", 1)[1]
    for pid in _children(os.getpid()):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if port.encode() in cmd:
            return pid
    raise RuntimeError("streamlit server process not found")


if __name__ == "__main__":
    raise SystemExit(main())
