"""The Overview under a route filter reads its PHQ-9 outcome rows from the per-course
outcome rollup (the rows equal the live ones: tests/db/test_rollup_outcomes_scope.py)."""

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def run_page(request):
    return request.getfixturevalue(
        "run_page" if request.param == "sqlite" else "run_page_on_postgresql"
    )


def test_route_filter_reads_the_outcome_rollup(run_page, monkeypatch):
    """`?route=iv`: the PHQ-9 outcome rows come from the per-course rollup for the courses
    in scope (kapviz.db.rollups.course_outcomes_in_scope), not computed live; only P1's
    course was dosed IV."""
    import functools

    from kapviz.db import rollups

    calls: dict[str, list] = {"served": []}

    def spy(module, name, into):
        original = getattr(module, name)

        @functools.wraps(original)  # kapviz.ui.data.aggregate finds it by its dotted name
        def recorded(*args, **kwargs):
            result = original(*args, **kwargs)
            calls[into].append(result)
            return result

        monkeypatch.setattr(module, name, recorded)

    spy(rollups, "course_outcomes_in_scope", "served")
    at = run_page("pages/overview.py", route="iv")
    assert not at.exception
    assert len(calls["served"]) == 1
    assert list(calls["served"][0]["course_id"]) == ["P1-C1"]
