"""The Explore page by role on the hand clinic: analysts see "<11" and no clinician code,
supervisors their sites only, directors everything; saved cohorts are per user.

PHQ-9 response by route: IM 1 of 1, IV 1 of 1, sublingual 0 of 0 (tests/pages/test_explore.py).
"""

from __future__ import annotations

import json

import pandas as pd
from streamlit.testing.v1 import AppTest

from kapviz.db import saved_cohorts
from kapviz.db.engine import make_engine

PAGE = "pages/explore.py"


def _table(at: AppTest) -> pd.DataFrame:
    (frame,) = [d.value for d in at.main.dataframe]
    return frame


def _figure(at: AppTest) -> dict:
    (chart,) = at.get("plotly_chart")
    return json.loads(chart.proto.spec)


def _warnings(at: AppTest) -> str:
    return "\n".join(w.value for w in at.main.warning)


def test_analyst_sees_small_cells_and_no_clinician(run_as):
    """Analysts: counts 1–10 as "<11" with their rates blanked, no clinician widget or
    breakdown (a link asking for one is warned about), no group drawn from a small count,
    no notebook."""
    at = run_as(PAGE, "ana", by=["clinician", "route"])
    assert "clinician" in _warnings(at)
    assert "clinician" not in at.multiselect(key="explore_by").options
    assert at.multiselect(key="explore_by").value == ["route"]
    assert not [m for m in at.main.multiselect if m.key == "explore_clinician"]
    table = _table(at)
    assert table["numerator"].tolist() == ["<11", "<11", "0"]
    assert table["value"].tolist() == ["", "", ""]
    text = table.to_csv() + "\n".join(m.value for m in at.main.markdown)
    assert "CL-" not in text
    assert "n = \\<11 in the denominator" in "\n".join(m.value for m in at.main.markdown)
    # IM and IV rest on one course each: not drawn; sublingual (0 of 0) has no dot anyway.
    assert [t["y"] for t in _figure(at)["data"]] == [["Sublingual"]]
    assert not [b for b in at.get("download_button") if "notebook" in str(b.proto.label)]
    assert "not offered to analysts" in "\n".join(c.value for c in at.main.caption)


def test_director_sees_clinicians(run_as):
    """A director may break down by clinician and sees the codes."""
    at = run_as(PAGE, "dora", by="clinician")
    assert _table(at)["clinician"].tolist() == ["CL-N1", "CL-S1"]
    assert [m for m in at.main.multiselect if m.key == "explore_clinician"]


def test_supervisor_sees_own_sites_only(run_as):
    """A supervisor of North gets North's courses only, whatever the link asks."""
    at = run_as(PAGE, "sam", by="site", site="South")
    assert _table(at)["site"].tolist() == ["North"]


def test_saved_cohorts_are_per_user(run_as, auth_url):
    """One user's saved cohorts are not listed for another."""
    with make_engine(auth_url).begin() as conn:
        saved_cohorts.save(conn, "dora", "Mine", {"measure": "response"})
    assert run_as(PAGE, "dora").selectbox(key="explore_saved_pick").options == ["Mine"]
    at = run_as(PAGE, "sam")
    assert not [s for s in at.main.selectbox if s.key == "explore_saved_pick"]
    assert "No saved cohorts yet" in "\n".join(c.value for c in at.main.caption)
