"""Bring any database to the current schema: create it when empty, upgrade it otherwise.

Alembic owns the schema history (kapviz/db/migrations); nothing here ever drops data.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    assert head is not None
    return head


def upgrade(engine: Engine) -> str:
    """Migrate to the newest schema; returns the revision now in force."""
    if current_revision(engine) != head_revision():
        command.upgrade(alembic_config(engine), "head")
    return head_revision()
