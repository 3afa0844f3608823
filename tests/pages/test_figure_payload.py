"""Each page's figure payload at the 300-patient demo clinic stays within its bound.

The figure JSON (`st.plotly_chart`'s spec) is what the browser downloads and parses before
it draws; a chart that starts sending every point of every course, float64 where integers
do, or one trace per course, shows here first (issue 22: first view ≤ 3 s in the browser).
Measure with `python benchmarks/bench_browser.py --db URL --payload`.
"""

from __future__ import annotations

import json

import pytest
import streamlit as st

from kapviz.db.engine import make_engine
from kapviz.demo import generate_clinic
from tests.pages.conftest import run_app

KIB = 1024
BOUNDS = {
    "pages/overview.py": 64 * KIB,
    "pages/trajectories.py": 230 * KIB,
    "pages/safety.py": 60 * KIB,
    "pages/case_explorer.py": 76 * KIB,
    "pages/data.py": 8 * KIB,
    "pages/audit.py": 8 * KIB,
}
"""About 1.25× the payload measured at 300 patients after trimming (bytes of figure JSON)."""


@pytest.fixture(scope="module")
def demo_300(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('payload') / 'demo.db'}"
    generate_clinic(make_engine(url), patients=300, seed=7)
    return url


@pytest.mark.parametrize("page", list(BOUNDS))
def test_figure_payload_within_bound(page: str, demo_300: str, monkeypatch) -> None:
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", demo_300)
    monkeypatch.setenv("KAPVIZ_AUTH_MODE", "none")
    st.cache_data.clear()
    st.cache_resource.clear()
    query = {"patient": "DEMO-00001"} if page.endswith("case_explorer.py") else {}
    at = run_app(page, **query)
    specs = [chart.proto.spec for chart in at.get("plotly_chart")]
    total = sum(len(spec.encode()) for spec in specs)
    assert total <= BOUNDS[page], f"{page}: {total / KIB:.1f} KiB of figure JSON"
    if page.endswith(("overview.py", "trajectories.py", "safety.py", "case_explorer.py")):
        assert specs, "the page drew no chart: the bound would prove nothing"
    for spec in specs:
        for trace in json.loads(spec)["data"]:
            for axis in ("x", "y"):
                values = trace.get(axis)
                # Long numeric arrays travel as typed arrays, not JSON number lists.
                if isinstance(values, list) and len(values) > 200:
                    assert not all(isinstance(v, (int, float)) for v in values), page
