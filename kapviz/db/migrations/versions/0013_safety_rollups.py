"""safety rollups: side-effect and blood-pressure counts per course, and summed

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 16:40:00

Derived tables written after the clinic data (kapviz.db.rollups, kapviz.db.safety_rollups):
per course, the dosing sessions with each side-effect term per dose number and route (with
their highest severity), the doses per dose number and route, and the blood-pressure
readings per time bin and value; and the same summed per site and indication, with the
distinct patients dosed and with each term, which the Safety page reads. Empty until the
next demo generation, import or `python -m kapviz rollup`: until then the page reads live.
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _head() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(120), nullable=False),
        sa.Column("indication", sa.String(80), nullable=True),
    ]


def _counts(*names: str) -> list[sa.Column]:
    return [sa.Column(name, sa.Integer(), nullable=False) for name in names]


def _dose_keys() -> list[sa.Column]:
    return [
        sa.Column("session_number", sa.Integer(), nullable=False),
        sa.Column("route", sa.String(32), nullable=True),
    ]


def _course(*, patient: bool = True) -> list[sa.Column]:
    course = [sa.Column("course_id", sa.String(64), nullable=False)]
    return course + [sa.Column("patient_id", sa.String(64), nullable=False)] if patient else course


def _bp_keys() -> list[sa.Column]:
    return [
        sa.Column("minute", sa.Integer(), nullable=False),
        sa.Column("measure", sa.String(16), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
    ]


SEVERITY = ("sessions", "mild", "moderate", "severe")

TABLES: dict[str, Callable[[], list[sa.Column]]] = {
    "rollup_course_effects": lambda: [
        *_course(),
        *_dose_keys(),
        sa.Column("term", sa.String(40), nullable=False),
        *_counts(*SEVERITY),
    ],
    "rollup_course_doses": lambda: [
        *_course(),
        *_dose_keys(),
        *_counts("dosing_sessions"),
    ],
    "rollup_course_bp_counts": lambda: [*_course(patient=False), *_bp_keys(), *_counts("readings")],
    "rollup_effect_counts": lambda: [
        *_dose_keys(),
        sa.Column("term", sa.String(40), nullable=False),
        *_counts(*SEVERITY),
    ],
    "rollup_effect_patients": lambda: [
        sa.Column("term", sa.String(40), nullable=False),
        *_counts("patients"),
    ],
    "rollup_dose_counts": lambda: [*_dose_keys(), *_counts("dosing_sessions")],
    "rollup_dosed_patients": lambda: _counts("patients"),
    "rollup_bp_counts": lambda: [*_bp_keys(), *_counts("readings")],
}
PER_COURSE = ("rollup_course_effects", "rollup_course_doses", "rollup_course_bp_counts")


def upgrade() -> None:
    for name, columns in TABLES.items():
        op.create_table(
            name, *_head(), *columns(), sa.PrimaryKeyConstraint("id", name=f"pk_{name}")
        )
    for name in PER_COURSE:
        op.create_index(f"ix_{name}_course_id", name, ["course_id"])


def downgrade() -> None:
    for name in PER_COURSE:
        op.drop_index(f"ix_{name}_course_id", table_name=name)
    for name in reversed(list(TABLES)):
        op.drop_table(name)
