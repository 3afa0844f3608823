"""Roles → pages, and scoping of the requested filters to what a viewer may see."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import date

import pytest

from kapviz.auth.scope import (
    ANALYST,
    CLINICIAN,
    DIRECTOR,
    DISPLAY,
    NO_CLINICIAN,
    NO_SITE,
    PAGE_KEYS,
    ROLES,
    SUPERVISOR,
    ScopedFilters,
    Viewer,
    first_page,
    matches_nothing,
    may_export_rows,
    may_open,
    pages_for,
    scope_filters,
    shows_patient_ids,
    suppresses_small_cells,
    visible_sites,
)
from kapviz.filters import Filters

#                 overview trajectories safety case_explorer data audit explore
ROLE_TABLE = {
    DIRECTOR: (1, 1, 1, 1, 1, 1, 1),
    SUPERVISOR: (1, 1, 1, 1, 0, 0, 1),
    CLINICIAN: (0, 0, 0, 1, 0, 0, 0),
    ANALYST: (1, 1, 1, 0, 0, 0, 1),
    DISPLAY: (1, 1, 1, 0, 0, 0, 0),
}


@pytest.mark.parametrize("role", ROLES)
def test_role_pages_table(role):
    """Each role opens exactly the pages of the table in issue 9 (the Data page works on the
    whole database, so it is a director's, like Audit)."""
    viewer = Viewer("u", role, sites=("North",), clinician="C1")
    allowed = tuple(int(may_open(viewer, page)) for page in PAGE_KEYS)
    assert allowed == ROLE_TABLE[role]
    assert pages_for(role) == {p for p, ok in zip(PAGE_KEYS, allowed, strict=True) if ok}


def test_unknown_page_and_role_refused():
    """An unknown page is never allowed; an unknown role cannot be built."""
    assert not may_open(Viewer("d", DIRECTOR), "secret")
    with pytest.raises(ValueError, match="unknown role"):
        Viewer("x", "admin")
    with pytest.raises(ValueError, match="unknown role"):
        pages_for("root")


@pytest.mark.parametrize(
    ("role", "ids", "rows", "suppress"),
    [
        (DIRECTOR, True, True, False),
        (SUPERVISOR, True, True, False),
        (CLINICIAN, True, True, False),
        (ANALYST, False, False, True),
        (DISPLAY, False, False, True),
    ],
)
def test_row_level_permissions(role, ids, rows, suppress):
    """Only analysts lose patient ids and row-level exports, and get suppressed counts."""
    viewer = Viewer("u", role)
    assert shows_patient_ids(viewer) is ids
    assert may_export_rows(viewer) is rows
    assert suppresses_small_cells(viewer) is suppress


@pytest.mark.parametrize(
    ("role", "assigned", "requested", "expected"),
    [
        (DIRECTOR, (), (), ()),
        (DIRECTOR, (), ("North",), ("North",)),
        (ANALYST, (), ("North", "South"), ("North", "South")),
        (SUPERVISOR, ("North", "East"), (), ("North", "East")),
        (SUPERVISOR, ("North", "East"), ("East", "South"), ("East",)),
        (SUPERVISOR, ("North",), ("South",), (NO_SITE,)),
        (SUPERVISOR, (), (), (NO_SITE,)),
        (SUPERVISOR, (), ("North",), (NO_SITE,)),
    ],
    ids=[
        "director-all",
        "director-requested",
        "analyst-requested",
        "supervisor-none-requested-gets-assigned",
        "supervisor-intersection",
        "supervisor-empty-intersection-is-nothing",
        "supervisor-without-sites-sees-nothing",
        "supervisor-without-sites-requesting",
    ],
)
def test_scope_sites(role, assigned, requested, expected):
    """Requested sites are intersected with the assigned ones; empty means nothing."""
    requested_filters = Filters(sites=requested, routes=("iv",), start=date(2026, 1, 1))
    scoped = scope_filters(Viewer("u", role, sites=assigned), requested_filters)
    assert isinstance(scoped, ScopedFilters)
    assert scoped.sites == expected
    assert scoped.routes == ("iv",) and scoped.start == date(2026, 1, 1)
    assert scoped.clinician is None
    assert matches_nothing(scoped) is (expected == (NO_SITE,))


@pytest.mark.parametrize(
    ("code", "expected"), [("C1", "C1"), (None, NO_CLINICIAN), ("", NO_CLINICIAN)]
)
def test_clinician_scoped_to_own_patients(code, expected):
    """A clinician's filters name their own code; without one they match nothing."""
    scoped = scope_filters(Viewer("c", CLINICIAN, clinician=code), Filters())
    assert scoped.clinician == expected
    assert matches_nothing(scoped) is (expected == NO_CLINICIAN)
    assert scoped.describe().endswith("own patients only")


def test_scoping_twice_only_narrows():
    """Scoped filters scoped again keep their restriction; a director cannot widen them."""
    once = scope_filters(Viewer("s", SUPERVISOR, sites=("North",)), Filters(sites=("South",)))
    assert scope_filters(Viewer("d", DIRECTOR), once).sites == (NO_SITE,)
    clin = scope_filters(Viewer("c", CLINICIAN, clinician="C1"), Filters())
    assert scope_filters(Viewer("d", DIRECTOR), clin).clinician == "C1"


def test_no_site_cannot_be_a_real_site():
    """The sentinels hold a NUL character, which no PostgreSQL text value or import can."""
    assert "\x00" in NO_SITE and "\x00" in NO_CLINICIAN


def test_scoped_filters_are_hashable_and_frozen():
    """Scoped filters key caches like Filters do and cannot be edited after scoping."""
    scoped = scope_filters(Viewer("s", SUPERVISOR, sites=["North"]), Filters())
    assert hash(scoped) == hash(scope_filters(Viewer("s", SUPERVISOR, sites=("North",)), Filters()))
    with pytest.raises(FrozenInstanceError):
        scoped.sites = ("South",)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("role", "assigned", "expected"),
    [
        (DIRECTOR, (), ("East", "North", "South")),
        (SUPERVISOR, ("South", "Gone"), ("South",)),
        (SUPERVISOR, (), ()),
        (ANALYST, (), ("East", "North", "South")),
    ],
)
def test_visible_sites(role, assigned, expected):
    """The site filter offers only the sites a viewer may see, in the database's order."""
    viewer = Viewer("u", role, sites=assigned)
    assert visible_sites(viewer, ("East", "North", "South")) == expected


def test_page_keys_cover_the_navigation():
    """Every page of the app's menu has a key here, so no page escapes the role table."""
    from kapviz.ui.nav import PAGES

    stems = {p.path.removeprefix("pages/").removesuffix(".py") for p in PAGES}
    assert stems <= set(PAGE_KEYS)
    assert {p.key for p in PAGES} == stems


@pytest.mark.parametrize(
    ("role", "page"),
    [(DIRECTOR, "overview"), (SUPERVISOR, "overview"), (CLINICIAN, "case_explorer"),
     (ANALYST, "overview")],
)  # fmt: skip
def test_first_page(role, page):
    """Where a role lands when the default page is not theirs: the first of theirs."""
    assert first_page(role) == page
