"""A supervisor's sites must be sites of the database: a typo (`Nroth`) would otherwise give
an account that sees nothing, silently. Accounts are sometimes made before a site's data are
imported, so `--allow-new-site` lets a name through deliberately."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select

from kapviz.db.models import Site


class UnknownSiteError(ValueError):
    """A site named for an account is not in the database."""


def check_sites_exist(conn: Connection, sites: Sequence[str], *, allow_new: bool) -> None:
    """Raise UnknownSiteError naming the sites not in the database and the known ones."""
    if not sites or allow_new:
        return
    known = set(conn.execute(select(Site.name)).scalars())
    missing = [s for s in sites if s not in known]
    if missing:
        listed = ", ".join(sorted(known)) if known else "none yet"
        raise UnknownSiteError(
            f"no site named {', '.join(repr(m) for m in missing)} in this database "
            f"(sites: {listed}); check the spelling, or give --allow-new-site if its data "
            "are not imported yet"
        )
