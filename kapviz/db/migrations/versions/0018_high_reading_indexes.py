"""high readings: indexes of vital signs by systolic and by diastolic value

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 20:30:00

The Overview's alerts tile reads the sessions with a blood-pressure reading at or above the
excursion limits (settings). Without an index on the values, each cold load scanned every
vital sign of the clinic (5.6 million at 100,000 patients); with (systolic, session_id) and
(diastolic, session_id), the sessions of the high readings are two index-only range scans,
as many entries as there are high readings (kapviz.db.queries.vitals, `reaching`).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_vitals_systolic", "vitals", ["systolic", "session_id"])
    op.create_index("ix_vitals_diastolic", "vitals", ["diastolic", "session_id"])


def downgrade() -> None:
    op.drop_index("ix_vitals_diastolic", table_name="vitals")
    op.drop_index("ix_vitals_systolic", table_name="vitals")
