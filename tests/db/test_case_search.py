"""Finding cases by the start of an id (kapviz.db.case_search) on the hand clinic, SQLite
and PostgreSQL: exact prefixes of patient or course ids, within the scope, bounded."""

from __future__ import annotations

from kapviz.db import case_search
from kapviz.filters import Filters


def test_find_by_patient_or_course_prefix(clinic):
    everyone = Filters()
    assert case_search.find(clinic, everyone, "", limit=50) == ["P1", "P2", "P3", "P4", "P5"]
    assert case_search.find(clinic, everyone, "P", limit=3) == ["P1", "P2", "P3"]
    assert case_search.find(clinic, everyone, " P2 ", limit=50) == ["P2"]
    assert case_search.find(clinic, everyone, "P3-C1", limit=50) == ["P3"]
    assert case_search.find(clinic, everyone, "P4-", limit=50) == ["P4"]
    # Exact and case-sensitive; LIKE's wildcards are matched as characters.
    for text in ("p1", "P%", "P_", "1", "P1-C2", "\\"):
        assert case_search.find(clinic, everyone, text, limit=50) == [], text


def test_find_keeps_to_the_scope(clinic):
    north = Filters(sites=("North",))
    assert case_search.find(clinic, north, "", limit=50) == ["P1", "P2"]
    assert case_search.find(clinic, north, "P3", limit=50) == []
    assert case_search.find(clinic, north, "P3-C1", limit=50) == []
    own = Filters(clinician="CL-S1")  # P3 and P4 (P5 has no session)
    assert case_search.find(clinic, own, "P", limit=50) == ["P3", "P4"]
    assert case_search.known(clinic, own, ["P1", "P4", "nobody", ""]) == ["P4"]
    assert case_search.any_patient(clinic, own)
    assert not case_search.any_patient(clinic, Filters(sites=("West",)))
