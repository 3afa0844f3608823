"""Latency of the upload reader's child process: start-up and a tiny template read.

    python benchmarks/bench_upload_child.py --repeat 5

For each round, `kapviz.io.uploads.parse_in_child` reads the three-file valid template of
tests/io/fixtures into an empty SQLite database, under the default KAPVIZ_UPLOAD_MEMORY_MB.
Prints the time of each read (start of the child, its imports, the read, the dry run) and the
child's memory counters at the end of the read. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIXTURE = ROOT / "tests" / "io" / "fixtures" / "template_valid"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from kapviz.config import Settings
    from kapviz.db.engine import make_engine
    from kapviz.db.migrate import upgrade
    from kapviz.io import uploads

    files = [uploads.Upload(p.name, p.read_bytes()) for p in sorted(FIXTURE.glob("*.csv"))]
    limit = Settings().upload_memory_mb * 1024 * 1024
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/empty.db"
        upgrade(make_engine(url))
        times = []
        for i in range(args.repeat):
            start = time.perf_counter()
            result = uploads.parse_in_child(files, url, memory_limit_bytes=limit)
            times.append(time.perf_counter() - start)
            assert result.validated.ok
            print(f"read {i + 1}: {times[-1]:.2f} s")
    print(f"median {statistics.median(times):.2f} s, min {min(times):.2f} s")


if __name__ == "__main__":
    main()
