"""The global filters every page shares (site, date range, route, indication), and the
viewer's clinician scope.

A frozen, hashable value so that cached loaders can key on it. Empty tuples and `None`
dates mean "no restriction".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta


@dataclass(frozen=True)
class Filters:
    """Which part of the program a page looks at.

    Sites and indications select patients; routes select courses that include a dosing
    session by one of those routes; the date range selects courses with any session in it
    (whole courses are kept so that baselines and endpoints stay intact) and pages that
    count events over time count only those inside the range.

    `clinician` is set by the viewer's scope (kapviz.auth.scope), never by a widget: when it
    is not None only patients with a session by that clinician are kept ("own patients").
    """

    sites: tuple[str, ...] = ()
    indications: tuple[str, ...] = ()
    routes: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None
    clinician: str | None = None

    @property
    def is_empty(self) -> bool:
        """True when nothing is restricted: every patient, course and date is kept."""
        return not (
            self.sites
            or self.indications
            or self.routes
            or self.start
            or self.end
            or self.clinician is not None
        )

    @property
    def start_at(self) -> datetime | None:
        """Inclusive lower bound as a datetime (start of the day)."""
        return datetime.combine(self.start, time.min) if self.start else None

    @property
    def end_before(self) -> datetime | None:
        """Exclusive upper bound: the start of the day after `end`."""
        return datetime.combine(self.end + timedelta(days=1), time.min) if self.end else None

    def describe(self) -> str:
        """One line for captions and exports: what the numbers on screen are about."""
        parts = []
        if self.sites:
            parts.append("sites: " + ", ".join(self.sites))
        if self.indications:
            parts.append("indications: " + ", ".join(self.indications))
        if self.routes:
            parts.append("routes: " + ", ".join(self.routes))
        if self.start or self.end:
            parts.append(f"dates: {self.start or '…'} to {self.end or '…'}")
        base = "; ".join(parts) if parts else "all sites, indications, routes and dates"
        return base if self.clinician is None else f"{base}; own patients only"
