"""Who may see what: roles, the pages each may open, and the filters a viewer's queries run with.

Roles (issue 9):
- director: every site, every page (the only role with the Data and Audit pages: imports
  write to any site and the full export, table counts and data-quality lists cover the whole
  database, so that page cannot be narrowed to a supervisor's sites).
- supervisor: the sites assigned to them; the aggregate pages, Explore and the Case explorer.
- clinician: the case-level page (Case explorer), for the patients they treat only.
- analyst: aggregate pages only (Overview, Trajectories, Safety, Explore); no patient ids, no case
  explorer, no row-level exports.
- display: a wall screen (kapviz.auth.display): what an analyst sees, signed in by a token in
  its URL instead of a person, never signed out for being idle.

Scoping never widens: a viewer whose sites do not meet the requested ones gets `NO_SITE`, a
site name no database can hold, so the query matches nothing rather than everything.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kapviz.filters import Filters

DIRECTOR = "director"
SUPERVISOR = "supervisor"
CLINICIAN = "clinician"
ANALYST = "analyst"
DISPLAY = "display"
ROLES: tuple[str, ...] = (DIRECTOR, SUPERVISOR, CLINICIAN, ANALYST, DISPLAY)
AGGREGATE_ONLY_ROLES: frozenset[str] = frozenset({ANALYST, DISPLAY})
"""Roles that see aggregates only: no patient ids, no row-level exports, small cells hidden."""

# Page keys: the file stem of each page under pages/ (kapviz.ui.nav.PAGES).
OVERVIEW = "overview"
TRAJECTORIES = "trajectories"
SAFETY = "safety"
CASE_EXPLORER = "case_explorer"
DATA = "data"
AUDIT = "audit"
EXPLORE = "explore"
PAGE_KEYS: tuple[str, ...] = (OVERVIEW, TRAJECTORIES, SAFETY, CASE_EXPLORER, DATA, AUDIT, EXPLORE)
AGGREGATE_PAGES: frozenset[str] = frozenset({OVERVIEW, TRAJECTORIES, SAFETY})

ROLE_PAGES: dict[str, frozenset[str]] = {
    DIRECTOR: frozenset(PAGE_KEYS),
    SUPERVISOR: AGGREGATE_PAGES | {CASE_EXPLORER, EXPLORE},
    CLINICIAN: frozenset({CASE_EXPLORER}),
    ANALYST: AGGREGATE_PAGES | {EXPLORE},
    DISPLAY: AGGREGATE_PAGES,
}

# A NUL character cannot be stored in a PostgreSQL text column and no import writes one, so
# no site and no clinician can ever carry these names: filtering on them matches nothing.
NO_SITE = "\x00no-site"
NO_CLINICIAN = "\x00no-clinician"


@dataclass(frozen=True)
class Viewer:
    """The signed-in person: role, assigned sites (supervisors), clinician code (clinicians)."""

    username: str
    role: str
    sites: tuple[str, ...] = ()
    clinician: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; expected one of {', '.join(ROLES)}")
        object.__setattr__(self, "sites", tuple(self.sites))


@dataclass(frozen=True)
class ScopedFilters(Filters):
    """Filters after scoping (the type says the viewer's scope has been applied); the
    clinician scope itself is the `Filters.clinician` field."""


def pages_for(role: str) -> frozenset[str]:
    """Page keys a role may open (navigation shows only these)."""
    if role not in ROLE_PAGES:
        raise ValueError(f"unknown role {role!r}")
    return ROLE_PAGES[role]


def first_page(role: str) -> str:
    """The page a role lands on when the default page is not theirs (menu order)."""
    allowed = pages_for(role)
    return next(p for p in PAGE_KEYS if p in allowed)


def may_open(viewer: Viewer, page: str) -> bool:
    """True when the viewer's role may open the page (unknown pages: never)."""
    return page in pages_for(viewer.role)


def shows_patient_ids(viewer: Viewer) -> bool:
    """Analysts see aggregates only: no patient or session ids in tables, hovers or exports."""
    return viewer.role not in AGGREGATE_ONLY_ROLES


def may_export_rows(viewer: Viewer) -> bool:
    """Row-level (per patient/session) exports: not for analysts."""
    return viewer.role not in AGGREGATE_ONLY_ROLES


def suppresses_small_cells(viewer: Viewer) -> bool:
    """Analyst views show aggregate counts with small-cell suppression."""
    return viewer.role in AGGREGATE_ONLY_ROLES


def allowed_sites(viewer: Viewer) -> tuple[str, ...] | None:
    """Sites the viewer may see: None means every site; an empty tuple means none."""
    if viewer.role == SUPERVISOR:
        return viewer.sites
    return None


def visible_sites(viewer: Viewer, all_sites: tuple[str, ...]) -> tuple[str, ...]:
    """The options of the site filter: every site, or the assigned ones that exist."""
    allowed = allowed_sites(viewer)
    if allowed is None:
        return tuple(all_sites)
    return tuple(s for s in all_sites if s in allowed)


def scope_filters(viewer: Viewer, filters: Filters) -> ScopedFilters:
    """The filters a viewer's queries run with: requested sites within the allowed ones.

    No requested sites means "all I may see"; requested sites outside the allowed ones are
    dropped; an empty intersection becomes `(NO_SITE,)`, which matches nothing. Clinicians
    get their own clinician code (or `NO_CLINICIAN` when they have none).
    """
    allowed = allowed_sites(viewer)
    sites = tuple(filters.sites)
    if allowed is not None:
        sites = tuple(s for s in sites if s in allowed) if sites else tuple(allowed)
        if not sites:
            sites = (NO_SITE,)
    clinician = None
    if viewer.role == CLINICIAN:
        clinician = viewer.clinician or NO_CLINICIAN
    base = {
        "sites": sites,
        "indications": filters.indications,
        "routes": filters.routes,
        "start": filters.start,
        "end": filters.end,
    }
    if isinstance(filters, ScopedFilters):
        # Scoping twice can only narrow: a clinician restriction already in place stays.
        clinician = clinician or filters.clinician
        return replace(filters, clinician=clinician, **base)
    return ScopedFilters(clinician=clinician, **base)


def matches_nothing(filters: Filters) -> bool:
    """True when scoping left nothing to show (pages can say so instead of drawing empties)."""
    return filters.sites == (NO_SITE,) or filters.clinician == NO_CLINICIAN
