"""The app's database: one cached engine per URL, brought to the current schema on start.

Reads go to KAPVIZ_READ_DATABASE_URL (a streaming replica) when set, writes and the reads
that must see their own write to the primary (`engine()`).

On the embedded default database an empty file is filled with the synthetic demo clinic
on first start, so a fresh clone shows a working dashboard with no setup. Rollups left stale
by a process killed between an import's commit and their rebuild are rebuilt on start.
"""

from __future__ import annotations

import logging
import os

import streamlit as st
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from kapviz.config import Settings, load_settings
from kapviz.db import rollups
from kapviz.db.engine import make_engine
from kapviz.db.migrate import upgrade
from kapviz.db.models import Patient

log = logging.getLogger(__name__)


# One entry per KAPVIZ_* environment: a server has one; 8 bounds a process that switches.
@st.cache_resource(max_entries=8, show_spinner=False)
def _settings(env: tuple[tuple[str, str], ...]) -> Settings:
    return load_settings(dict(env))


def settings() -> Settings:
    """Settings in force, re-read only when a KAPVIZ_* variable changes."""
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("KAPVIZ_")))
    return _settings(env)


def database_url() -> str:
    return settings().database_url


# One engine (connection pool) per database URL, no TTL: a pool lives as long as the server.
@st.cache_resource(max_entries=8, show_spinner="Preparing the database…")
def _primary(url: str) -> Engine:
    """Engine for `url`, migrated; the embedded default gets the demo clinic when empty."""
    engine = make_engine(url)
    upgrade(engine)
    cfg = settings()
    if url == cfg.database_url and cfg.is_embedded_default:
        with engine.connect() as conn:
            has_patients = conn.execute(select(func.count()).select_from(Patient)).scalar_one()
        if not has_patients:
            from kapviz.demo import generate_clinic

            log.info("empty embedded database: generating the demo clinic")
            generate_clinic(engine, patients=cfg.demo_patients, seed=cfg.demo_seed)
    try:
        rollups.rebuild_if_stale(engine)
    except SQLAlchemyError:  # derived data: the pages read live until the next rebuild
        log.exception("rollups not rebuilt at start-up")
    return engine


@st.cache_resource(max_entries=8, show_spinner=False)
def _replica(url: str) -> Engine:
    """Engine of a read replica: never migrated or written (a hot standby refuses writes);
    it gets the schema by replaying the primary's."""
    return make_engine(url)


def read_url() -> str | None:
    """KAPVIZ_READ_DATABASE_URL when set (and not the primary itself), else None."""
    cfg = settings()
    return cfg.read_database_url if cfg.read_database_url not in ("", cfg.database_url) else None


def engine_for(url: str) -> Engine:
    """The engine that READS the data of `url`: the read replica when `url` is the configured
    database and KAPVIZ_READ_DATABASE_URL is set, else `url` itself (migrated).

    Cached reads are keyed on the primary's URL and the data version the replica reports, so
    a replica that lags shows an older version consistently, never a mix.
    """
    primary = _primary(url)  # the schema is current before anything reads
    replica = read_url()
    if replica is not None and url == settings().database_url:
        return _replica(replica)
    return primary


def engine() -> Engine:
    """The primary: every write, and the reads that must see this user's own change just made
    (an import's summary, an account after its sign-in, the audit trail)."""
    return _primary(database_url())


def read_engine() -> Engine:
    """The engine the pages read from (the replica when one is configured)."""
    return engine_for(database_url())
