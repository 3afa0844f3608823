"""Arrow reads, sqlite3 reads and sqlite3 writes of one SQLite file in one process, at once.

    python benchmarks/bench_arrow_stress.py --seconds 20
    python benchmarks/bench_arrow_stress.py --seconds 20 --root /path/to/other/checkout

As a server does while an import runs in one session and pages read in others: a writer
thread commits 2,000-row inserts, an Arrow reader (`queries.read_frame`) reads the whole
table again and again, a sqlite3 reader counts it. A read is torn when its row count is not
its largest id (ids are 1..n, never deleted) or when a count goes back. Prints rows written,
reads, torn reads and errors per reader, and the file's integrity check. Not a test:
nothing asserts; the exit status is 1 when anything was torn or failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose kapviz runs")
    args = parser.parse_args()
    sys.path.insert(0, str(args.root))

    from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

    from kapviz.db import queries
    from kapviz.db.engine import make_engine

    folder = tempfile.mkdtemp(prefix="kapviz-arrow-stress-")
    engine = make_engine(f"sqlite:///{folder}/stress.db")
    meta = MetaData()
    table = Table("t", meta, Column("id", Integer, primary_key=True), Column("pad", String))
    meta.create_all(engine)
    stop = time.monotonic() + args.seconds
    written = [0]
    found: dict[str, list[str]] = {"arrow": [], "sqlite3": [], "writer": []}
    reads = {"arrow": 0, "sqlite3": 0}

    def writer() -> None:
        while time.monotonic() < stop:
            try:
                with engine.begin() as conn:
                    conn.execute(insert(table), [{"pad": "x" * 200} for _ in range(2000)])
                written[0] += 2000
            except Exception as exc:  # noqa: BLE001 - every failure is a finding
                found["writer"].append(repr(exc)[:160])

    def arrow_reader() -> None:
        last = 0
        while time.monotonic() < stop:
            try:
                with engine.connect() as conn:
                    frame = queries.read_frame(conn, select(table.c.id, table.c.pad), ["id", "pad"])
                n = len(frame)
                if n < last or (n and int(frame["id"].max()) != n):
                    found["arrow"].append(f"torn: {n} rows, largest id {frame['id'].max()}")
                last = n
                reads["arrow"] += 1
            except Exception as exc:  # noqa: BLE001
                found["arrow"].append(repr(exc)[:160])

    def sqlite3_reader() -> None:
        last = 0
        while time.monotonic() < stop:
            try:
                with engine.connect() as conn:
                    n, top = conn.execute(select(func.count(), func.max(table.c.id))).one()
                if n < last or (n and top != n):
                    found["sqlite3"].append(f"torn: {n} rows, largest id {top}")
                last = n
                reads["sqlite3"] += 1
            except Exception as exc:  # noqa: BLE001
                found["sqlite3"].append(repr(exc)[:160])

    threads = [threading.Thread(target=f) for f in (writer, arrow_reader, sqlite3_reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as conn:
        integrity = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
    print(f"kapviz from {args.root}, {args.seconds:.0f} s: {written[0]:,} rows written")
    for name in ("arrow", "sqlite3"):
        print(f"  {name} reads: {reads[name]}, torn or failed: {len(found[name])}")
    print(f"  writer failures: {len(found['writer'])}; integrity: {integrity}")
    for name, lines in found.items():
        for line in lines[:5]:
            print(f"    {name}: {line}")
    bad = any(found.values()) or integrity != "ok"
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
