"""Memory over data versions: the server's resident memory across many small imports.

    python benchmarks/bench_memory.py --patients 1000 --imports 50

Builds the demo clinic in a temporary SQLite file, then, in this one process (the caches of
a Streamlit server are process-wide, as here), runs the Overview, Safety and Trajectories
pages with AppTest, writes a small change (one patient, as a small import does, so the data
version changes), and runs them again, `--imports` times. Prints the resident memory (VmRSS)
after each round: with old data versions dropped from the caches it levels off; when they
are kept it climbs with every version. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGES = ["pages/overview.py", "pages/safety.py", "pages/trajectories.py"]


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory (VmRSS, MB) of a process: this one, or another by its id."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--imports", type=int, default=50)
    parser.add_argument("--every", type=int, default=5, help="print every N rounds")
    args = parser.parse_args()

    from sqlalchemy import insert

    from kapviz.db.engine import make_engine
    from kapviz.db.migrate import upgrade
    from kapviz.db.models import Patient
    from kapviz.demo import generate_clinic

    folder = tempfile.mkdtemp(prefix="kapviz-bench-memory-")
    url = f"sqlite:///{folder}/kapviz.db"
    engine = make_engine(url)
    upgrade(engine)
    generate_clinic(engine, patients=args.patients, seed=7)
    os.environ["KAPVIZ_DATABASE_URL"] = url
    os.environ["KAPVIZ_AUTH_MODE"] = "none"

    import logging

    from streamlit.testing.v1 import AppTest

    logging.getLogger("streamlit").setLevel(logging.ERROR)

    from kapviz.ui import data

    def run_pages() -> float:
        t0 = time.perf_counter()
        for page in PAGES:
            at = AppTest.from_file(str(ROOT / page), default_timeout=600)
            at.run()
            if at.exception:
                raise RuntimeError(f"{page}: {at.exception[0].message}")
        return time.perf_counter() - t0

    site = None
    with engine.connect() as conn:
        site = conn.exec_driver_sql("SELECT name FROM sites LIMIT 1").scalar_one()
    print(f"demo clinic of {args.patients} patients; pages: {', '.join(PAGES)}")
    print(f"{'round':>5} {'RSS MB':>8} {'pages s':>8}")
    seconds = run_pages()
    first = rss_mb()
    print(f"{0:>5} {first:>8.0f} {seconds:>8.2f}")
    figures = [first]
    for i in range(1, args.imports + 1):
        now = datetime.now()
        with engine.begin() as conn:
            conn.execute(insert(Patient).values(patient_id=f"BENCH-{i}", site=site, updated_at=now))
        data.forget_version()  # as after the version's time to live
        seconds = run_pages()
        figures.append(rss_mb())
        if i % args.every == 0 or i == args.imports:
            print(f"{i:>5} {figures[-1]:>8.0f} {seconds:>8.2f}")
    half = len(figures) // 2
    print(
        f"RSS: start {figures[0]:.0f} MB, after {half} versions {figures[half]:.0f} MB, "
        f"after {args.imports} {figures[-1]:.0f} MB; growth over the second half "
        f"{figures[-1] - figures[half]:+.0f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
