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


def test_case_explorer_deep_link(run_page):
    """`?patient=P2` opens P2's course, the cancelled session drawn apart from the others."""
    import json

    at = run_page("pages/case_explorer.py", patient="P2")
    assert at.selectbox(key="course").value == "P2-C1"
    timeline = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = [t["name"] for t in timeline["data"]]
    assert "Cancelled / no-show" in names


def test_no_demo_badge_on_real_data(run_page):
    """The synthetic-data badge shows only for demo data."""
    at = run_page("pages/overview.py")
    assert not any("Synthetic demo data" in str(b.proto) for b in at.get("badge"))


def test_case_explorer_status_numbers(run_page):
    """P1's PHQ-9 status: response 18 → 8 (−55.6 %), no remission, reliable improvement."""
    at = run_page("pages/case_explorer.py", patient="P1")
    texts = [m.value for m in at.markdown]
    assert any("**Response: yes**" in t and "18 → 8 (-55.6%)" in t for t in texts)
    assert any("**Remission: no**" in t and "Endpoint 8" in t for t in texts)
    assert any("**Reliable improvement: yes**" in t and "5.06" in t for t in texts)
    # Timeline, PHQ-9 and GAD-7 trajectories, PHQ-9 items, side-effect strip.
    keys = [c.proto.id for c in at.get("plotly_chart")]
    assert len(keys) == 5
