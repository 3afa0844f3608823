"""session window: a covering index of sessions by start time; row counts kept current

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-07 21:05:00

The Overview's alerts tile reads the sessions of its look-back (45 days by default) four
times: beside the side effects, beside the high readings, and the sessions with either.
At 100,000 patients the look-back holds about a tenth of all sessions, and with the index on
start time alone PostgreSQL fetched each of them from the table (tens of thousands of
pages per read). With the session's id, course, patient, phase and status in the index,
each read is an index-only range scan of the window.

The alerts' PHQ-9 read looks for the PHQ-9s with item 9 above 0 before the look-back (an
item-9 alert may be raised by one of any date): the partial index of those alone finds them
without going through every PHQ-9 of the clinic.

The data version (kapviz.db.queries.clinic_version, asked by every page and every live
refresh) holds the number of patients and of sessions, so that a deletion changes it. On
PostgreSQL count(*) reads every row (a tenth of a second at 1.8 million sessions); the
table row_counts holds the two numbers, kept by statement triggers (with transition tables:
one update per statement, not per row) on insert, delete and truncate. SQLite counts a
table from its b-tree quickly and keeps count(*).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


COUNTED = ("patients", "sessions")

COUNT_ROWS = """
CREATE FUNCTION kapviz_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE row_counts SET n = n + (SELECT count(*) FROM added) WHERE name = TG_TABLE_NAME;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE row_counts SET n = n - (SELECT count(*) FROM removed) WHERE name = TG_TABLE_NAME;
    ELSE
        UPDATE row_counts SET n = 0 WHERE name = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_index(
        "ix_sessions_window",
        "sessions",
        ["started_at", "session_id", "course_id", "patient_id", "phase", "status"],
    )
    positive = sa.text("suicide_item > 0")
    op.create_index(
        "ix_assessments_item9_recent",
        "assessments",
        ["instrument", "administered_at", "patient_id"],
        postgresql_where=positive,
        sqlite_where=positive,
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE TABLE row_counts (name text PRIMARY KEY, n bigint NOT NULL)")
    op.execute(COUNT_ROWS)
    for name in COUNTED:
        op.execute(f"LOCK TABLE {name} IN SHARE MODE")
        op.execute(f"INSERT INTO row_counts SELECT '{name}', count(*) FROM {name}")
        op.execute(
            f"CREATE TRIGGER {name}_count_added AFTER INSERT ON {name} REFERENCING NEW TABLE"
            " AS added FOR EACH STATEMENT EXECUTE FUNCTION kapviz_count_rows()"
        )
        op.execute(
            f"CREATE TRIGGER {name}_count_removed AFTER DELETE ON {name} REFERENCING OLD TABLE"
            " AS removed FOR EACH STATEMENT EXECUTE FUNCTION kapviz_count_rows()"
        )
        op.execute(
            f"CREATE TRIGGER {name}_count_truncated AFTER TRUNCATE ON {name}"
            " FOR EACH STATEMENT EXECUTE FUNCTION kapviz_count_rows()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in COUNTED:
            for event in ("added", "removed", "truncated"):
                op.execute(f"DROP TRIGGER {name}_count_{event} ON {name}")
        op.execute("DROP FUNCTION kapviz_count_rows()")
        op.execute("DROP TABLE row_counts")
    op.drop_index("ix_assessments_item9_recent", table_name="assessments")
    op.drop_index("ix_sessions_window", table_name="sessions")
