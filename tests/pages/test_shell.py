"""Every page renders real data from the database, with the shared filters and badge."""

import pytest

PAGES = [
    "pages/overview.py",
    "pages/trajectories.py",
    "pages/safety.py",
    "pages/case_explorer.py",
    "pages/data.py",
]


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_without_exception(run_page, path):
    """Each page runs on its own (as a deep link would) and shows a title."""
    at = run_page(path)
    assert at.title[0].value


@pytest.mark.parametrize("path", [p for p in PAGES if not p.endswith("data.py")])
def test_global_filters_present(run_page, path):
    """The shared sidebar filters are on every analysis page with the database's options."""
    at = run_page(path)
    site = at.sidebar.multiselect(key="site")
    assert site.options == ["North", "South"]
    assert at.sidebar.multiselect(key="route").options == ["IM", "IV", "Sublingual"]


def test_data_page_counts(run_page):
    """The Data page counts the clinic's rows per table."""
    at = run_page("pages/data.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Patients"] == "5"
    assert metrics["Sessions"] == "18"
    assert metrics["Vitals"] == "5"


def test_no_demo_badge_on_real_data(run_page):
    """The synthetic-data badge shows only for demo data."""
    at = run_page("pages/overview.py")
    assert not any("Synthetic demo data" in str(b.proto) for b in at.get("badge"))
