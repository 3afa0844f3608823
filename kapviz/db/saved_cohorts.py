"""Saved cohorts: Explore views a user kept by name, stored in the clinic database.

A saved cohort is the page's URL parameters (`kapviz.explore.ExploreView.to_params`) as
JSON text, so choosing it reopens exactly the view that was saved, on any server process.
Names are unique per owner; saving over an existing name needs `overwrite=True` (the page
asks first). The session's lifecycle belongs to the caller: every function takes a
connection, and the writes commit with the caller's transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from kapviz.db.models import SavedCohort

MAX_NAME_LENGTH = 120
"""The name column's width."""

Params = dict[str, str | list[str]]


class CohortNameError(ValueError):
    """A name that cannot be saved (empty or too long)."""


class CohortExists(ValueError):
    """The owner already has a saved cohort of this name (save again with overwrite=True)."""


@dataclass(frozen=True)
class Saved:
    """One saved cohort as the page lists it."""

    name: str
    params: Params
    created_at: datetime


def clean_name(name: str) -> str:
    """The name as stored: trimmed, inner runs of white space as one space."""
    cleaned = " ".join(str(name).split())
    if not cleaned:
        raise CohortNameError("give the cohort a name")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise CohortNameError(f"a name has at most {MAX_NAME_LENGTH} characters")
    return cleaned


def _params(text: str) -> Params:
    value = json.loads(text)
    if not isinstance(value, dict):
        return {}
    out: Params = {}
    for key, item in value.items():
        if isinstance(item, list):
            out[str(key)] = [str(v) for v in item]
        elif item is not None:
            out[str(key)] = str(item)
    return out


def save(
    conn: Connection, owner: str, name: str, params: Params, *, overwrite: bool = False
) -> str:
    """Store `params` under `name` for `owner`; returns the name as stored.

    Raises CohortExists when the name is taken and `overwrite` is false; with `overwrite`
    the existing row keeps its id and takes the new parameters and time.
    """
    name = clean_name(name)
    text = json.dumps(params, sort_keys=True)
    taken = conn.execute(
        select(SavedCohort.id).where(SavedCohort.owner == owner, SavedCohort.name == name)
    ).scalar_one_or_none()
    if taken is not None and not overwrite:
        raise CohortExists(f"a saved cohort named {name!r} exists")
    now = datetime.now()
    if taken is None:
        conn.execute(
            insert(SavedCohort).values(owner=owner, name=name, params=text, created_at=now)
        )
    else:
        conn.execute(
            update(SavedCohort).where(SavedCohort.id == taken).values(params=text, created_at=now)
        )
    return name


def exists(conn: Connection, owner: str, name: str) -> bool:
    """True when `owner` has a saved cohort of this (cleaned) name."""
    found = conn.execute(
        select(SavedCohort.id).where(SavedCohort.owner == owner, SavedCohort.name == name)
    ).first()
    return found is not None


def list_for(conn: Connection, owner: str) -> list[Saved]:
    """The owner's saved cohorts, by name (others' are never listed)."""
    rows = conn.execute(
        select(SavedCohort.name, SavedCohort.params, SavedCohort.created_at)
        .where(SavedCohort.owner == owner)
        .order_by(SavedCohort.name)
    ).all()
    return [Saved(name=r.name, params=_params(r.params), created_at=r.created_at) for r in rows]


def get(conn: Connection, owner: str, name: str) -> Saved | None:
    """One of the owner's saved cohorts, or None."""
    row = conn.execute(
        select(SavedCohort.name, SavedCohort.params, SavedCohort.created_at).where(
            SavedCohort.owner == owner, SavedCohort.name == name
        )
    ).first()
    if row is None:
        return None
    return Saved(name=row.name, params=_params(row.params), created_at=row.created_at)


def remove(conn: Connection, owner: str, name: str) -> bool:
    """Delete one of the owner's saved cohorts; False when there was none of that name."""
    result = conn.execute(
        delete(SavedCohort).where(SavedCohort.owner == owner, SavedCohort.name == name)
    )
    return result.rowcount > 0
