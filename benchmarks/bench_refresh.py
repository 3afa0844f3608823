"""Rollup refresh benchmark: an import's incremental refresh against a full rebuild.

    python benchmarks/bench_refresh.py --db URL [--courses 10]

On an already-built demo clinic with current rollups (e.g. `python -m kapviz demo
--patients 20000 --db URL`): times `rollups.refresh` of the first N courses (as after an
import that touched them; the data are unchanged, so the rows written are the same), the
per-course rows' share of it, then `rollups.rebuild` (as `python -m kapviz rollup`).
Not a test: nothing here asserts. README.md quotes the figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from sqlalchemy import select

    from kapviz.db import queries, rollups
    from kapviz.db.engine import make_engine
    from kapviz.db.models import Course

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--courses", type=int, default=10)
    args = parser.parse_args()
    engine = make_engine(args.db)
    with engine.connect() as conn:
        if not rollups.is_current(conn):
            print("rollups are not current: run python -m kapviz rollup --db URL first")
            return 1
        stmt = select(Course.course_id).order_by(Course.course_id).limit(args.courses)
        courses = conn.execute(stmt).scalars().all()
        was = rollups.stamp(queries.clinic_version(conn))
    t0 = time.perf_counter()
    rollups.refresh(engine, courses, was=was)
    refresh = time.perf_counter() - t0
    with engine.connect() as conn:
        t0 = time.perf_counter()
        rollups.compute_whole(conn, dosing=False)
        whole = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _, rows in rollups.COURSE_ROLLUPS:
            rows(conn, courses)
        per_course = time.perf_counter() - t0
    t0 = time.perf_counter()
    rollups.rebuild(engine)
    rebuild = time.perf_counter() - t0
    print(f"refresh of {len(courses)} courses: {refresh:.2f} s")
    print(f"  whole-table rollups recomputed (funnel, ineligibility, PHQ-9 rows): {whole:.2f} s")
    print(f"  the {len(courses)} courses' per-course rows: {per_course:.2f} s")
    print(f"full rebuild: {rebuild:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
