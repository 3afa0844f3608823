"""Filters: the clinician scope is a typed field that `is_empty` and `describe` see."""

from datetime import date

import pytest

from kapviz.filters import Filters


@pytest.mark.parametrize(
    ("filters", "empty"),
    [
        (Filters(), True),
        (Filters(sites=("North",)), False),
        (Filters(start=date(2026, 1, 1)), False),
        (Filters(clinician="CL-1"), False),
        (Filters(clinician=""), False),  # a scope with an empty code still restricts
    ],
)
def test_is_empty_sees_every_restriction(filters, empty):
    assert filters.is_empty is empty


def test_describe_names_the_own_patients_scope():
    assert Filters(clinician="CL-1").describe() == (
        "all sites, indications, routes and dates; own patients only"
    )
    assert Filters(sites=("North",)).describe() == "sites: North"
