"""SQLite reads: Arrow (ADBC, kapviz.db.arrow) against a plain sqlite3 read with vectorised
type conversion, for the largest reads of the pages.

    python -m kapviz demo --patients 5000 --db sqlite:////tmp/demo5000.db
    PYTHONPATH=. nice python benchmarks/bench_sqlite_reads.py sqlite:////tmp/demo5000.db

The plain read runs the same bound statement on the SQLAlchemy connection's sqlite3 cursor
and converts each column as `arrow.fetch_frame` does (pd.to_datetime on whole columns), so
the difference is the DB-API's per-value Python objects against Arrow's columns. Each read
runs 3 times per variant, twice alternated; the medians are printed and the two frames
compared. Not a test: nothing here asserts.
"""

from __future__ import annotations

import statistics
import sys
import time

import pandas as pd
from pandas.testing import assert_frame_equal

from kapviz.db import arrow, queries
from kapviz.db.aggregates import cohort, safety
from kapviz.db.engine import make_engine
from kapviz.filters import Filters


def plain_fetch_frame(conn, stmt, columns):  # same signature as arrow.fetch_frame
    sql, parameters = arrow.bound_sql(stmt, conn.dialect)
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(sql, parameters)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    if not rows:
        return None
    frame = pd.DataFrame(dict(zip(columns, zip(*rows, strict=True), strict=True)))
    for name, column in zip(columns, stmt.selected_columns, strict=True):
        frame[name] = arrow._as_sqlalchemy_would(frame[name], column.type)
    return frame


READS = {
    "sessions": lambda conn: queries.sessions(conn),
    "outcome_scores": lambda conn: cohort.outcome_scores(conn, Filters()),
    "vitals": lambda conn: queries.vitals(conn),
    "doses": lambda conn: safety.doses(conn, Filters()),
    "side_effects": lambda conn: queries.side_effects(conn),
}


def main(url: str) -> None:
    engine = make_engine(url)
    adbc = arrow.fetch_frame
    for name, read in READS.items():
        times: dict[str, list[float]] = {"adbc": [], "plain": []}
        frames = {}
        for variant, fetch in [("adbc", adbc), ("plain", plain_fetch_frame)] * 2:
            arrow.fetch_frame = fetch
            for _ in range(3):
                with engine.connect() as conn:
                    start = time.perf_counter()
                    frames[variant] = read(conn)
                    times[variant].append(time.perf_counter() - start)
        arrow.fetch_frame = adbc
        try:
            assert_frame_equal(frames["adbc"], frames["plain"], check_dtype=False)
            same = "same frame"
        except AssertionError:
            same = "FRAMES DIFFER"
        adbc_s, plain_s = (statistics.median(times[v]) for v in ("adbc", "plain"))
        sys.stdout.write(
            f"{name:15s} rows {len(frames['adbc']):>9,}  adbc {adbc_s:.2f} s"
            f"  plain sqlite3 {plain_s:.2f} s  {same}\n"
        )


if __name__ == "__main__":
    main(sys.argv[1])
