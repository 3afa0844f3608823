"""course attribute rollup: each course's breakdown groups for the Python API and Explore

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 20:20:00

rollup_course_attributes keeps each course's group in every breakdown dimension but the
baseline band (site, indication, clinician, route, dose band, sex, age band), its completed
doses, first dose date and whether it has a session (kapviz.db.explore_rollups), so that
the outcome measures are counted in SQL by those groups. The stored rollups are marked
stale (rollup_state emptied): the new table is empty until the next build, which start-up
runs for stale rollups (kapviz.db.rollups.rebuild_if_stale); until then the API reads live.
rollup_dose_flags keeps each dose's highest blood pressures and lowest MOAA/S score, from
which the BP excursion and sedation rates are counted in SQL with the settings' thresholds.
rollup_course_measured keeps each course's doses measured per outcome instrument (the
measurement completion's numerator).
ix_sessions_clinician lists the clinicians with a session (the page's clinician choices) by
one index probe per clinician instead of a scan of every session.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollup_course_attributes",
        sa.Column("course_id", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("site", sa.String(120), nullable=False),
        sa.Column("indication", sa.String(80), nullable=True),
        sa.Column("clinician", sa.String(120), nullable=False),
        sa.Column("route", sa.String(32), nullable=False),
        sa.Column("dose_band", sa.String(32), nullable=False),
        sa.Column("sex", sa.String(32), nullable=False),
        sa.Column("age_band", sa.String(16), nullable=False),
        sa.Column("doses", sa.Integer(), nullable=False),
        sa.Column("first_dose", sa.Date(), nullable=True),
        sa.Column("has_sessions", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("course_id", name="pk_rollup_course_attributes"),
    )
    op.create_table(
        "rollup_dose_flags",
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("course_id", sa.String(64), nullable=False),
        sa.Column("max_systolic", sa.Float(), nullable=True),
        sa.Column("max_diastolic", sa.Float(), nullable=True),
        sa.Column("min_moaas", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("session_id", name="pk_rollup_dose_flags"),
    )
    op.create_index("ix_rollup_dose_flags_course_id", "rollup_dose_flags", ["course_id"])
    op.create_table(
        "rollup_course_measured",
        sa.Column("course_id", sa.String(64), nullable=False),
        sa.Column("instrument", sa.String(32), nullable=False),
        sa.Column("measured", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("course_id", "instrument", name="pk_rollup_course_measured"),
    )
    op.create_index("ix_sessions_clinician", "sessions", ["clinician"])
    op.execute("DELETE FROM rollup_state")


def downgrade() -> None:
    op.execute("DELETE FROM rollup_state")
    op.drop_index("ix_sessions_clinician", table_name="sessions")
    op.drop_table("rollup_course_measured")
    op.drop_index("ix_rollup_dose_flags_course_id", table_name="rollup_dose_flags")
    op.drop_table("rollup_dose_flags")
    op.drop_table("rollup_course_attributes")
