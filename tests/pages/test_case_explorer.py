"""Case explorer on the hand-written clinic (tests/clinic.py): status, safety, compare, export."""

from __future__ import annotations

import base64

import numpy as np
import plotly.io as pio
import pytest


def _charts(at) -> dict:
    """Plotly specs by their widget key suffix (timeline, scores-PHQ-9, vitals, …)."""
    out = {}
    for chart in at.get("plotly_chart"):
        key = chart.proto.id.split("-", 2)[-1] if chart.proto.id.startswith("$$ID") else ""
        out[key] = pio.from_json(chart.proto.spec, skip_invalid=True)
    return out


def _values(array) -> list:
    """A trace's data array, decoding plotly's typed-array form ({dtype, bdata})."""
    if isinstance(array, dict) and "bdata" in array:
        flat = np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
        shape = array.get("shape")
        if shape:
            flat = flat.reshape([int(n) for n in str(shape).split(",")])
        return flat.tolist()
    return list(array)


def test_deep_link_opens_course(run_page):
    """`?patient=P2` opens P2's course, the cancelled session drawn apart from the others."""
    at = run_page("pages/case_explorer.py", patient="P2")
    assert at.selectbox(key="course").value == "P2-C1"
    timeline = _charts(at)["timeline"]
    names = [t.name for t in timeline.data]
    assert "Cancelled / no-show" in names


def test_status_numbers(run_page):
    """P1's PHQ-9 status: response 18 → 8 (−55.6 %), no remission, reliable improvement."""
    at = run_page("pages/case_explorer.py", patient="P1")
    texts = [m.value for m in at.markdown]
    assert any("**Response: yes**" in t and "18 → 8 (-55.6%)" in t for t in texts)
    assert any("**Remission: no**" in t and "Endpoint 8" in t for t in texts)
    assert any("**Reliable improvement: yes**" in t and "5.06" in t for t in texts)
    assert set(_charts(at)) == {
        "timeline",
        "scores-PHQ-9",
        "scores-GAD-7",
        "phq9-items",
        "effects",
        "vitals",
        "sedation",
        "compare-chart",
    }


def test_safety_tab_numbers(run_page):
    """P1 dose 1: BP 130/80 pre-dose, 182/95 peak, 140/85 last; excursion and severe alerts."""
    at = run_page("pages/case_explorer.py", patient="P1")
    tables = {tuple(d.value.columns): d.value for d in at.dataframe}
    alerts = tables[("Reason", "Detail", "Date", "Course")]
    assert list(alerts["Reason"]) == ["BP excursion", "Severe side effect"]
    assert list(alerts["Detail"]) == ["highest 182/95 mmHg", "dissociation"]
    assert alerts["Date"].nunique() == 1 and list(alerts["Course"]) == ["P1-C1"] * 2
    bp = tables[("Dose", "Date", "Pre-dose", "Peak", "Last", "Flags")]
    first = bp.iloc[0]
    assert (first["Dose"], first["Pre-dose"], first["Peak"], first["Last"]) == (
        1,
        "130/80",
        "182/95",
        "140/85",
    )
    assert first["Flags"] == "excursion, rise"  # 182 ≥ 180; rise 52 > 40
    assert list(bp["Pre-dose"].iloc[1:]) == ["—", "—", "—"]
    vitals = _charts(at)["vitals"]
    peak = next(t for t in vitals.data if t.name == "Systolic peak")
    assert _values(peak.y)[0] == 182
    moaas, cadss = _charts(at)["sedation"].data
    assert _values(moaas.y)[0] == 4 and _values(cadss.y)[0] == 20
    strip = _charts(at)["effects"].data[0]
    assert list(strip.y) == ["dissociation", "nausea"] and _values(strip.z)[0][0] == 3


def test_compare_from_url(run_page):
    """`?compare=` preselects the cases; one panel per case, all on one y range."""
    at = run_page("pages/case_explorer.py", patient="P1", compare=["P1", "P2"])
    assert at.multiselect(key="compare").value == ["P1", "P2"]
    fig = _charts(at)["compare-chart"]
    assert [t.name for t in fig.data if t.name not in ("Baseline", "Endpoint")] == ["P1", "P2"]
    # Baseline and endpoint of both (P1 and P2 are evaluable, both respond).
    assert [t.name for t in fig.data].count("Baseline") == 2
    assert list(fig.layout.yaxis.range) == [-0.5, 27.5]
    assert fig.layout.yaxis2.matches == "y"


def test_presentation_mode_shows_only_the_id(run_page):
    """Presenting: header with the pseudonymous id, no site/clinician names; Compare is
    presented too (the meeting compares cases on the projector)."""
    at = run_page("pages/case_explorer.py", patient="P1", present="true")
    assert [h.value for h in at.header] == ["Case P1 · course P1-C1"]
    assert [t.label for t in at.tabs] == ["Scores", "Safety", "Compare"]
    shown = " ".join(m.value for m in at.markdown) + " ".join(
        c.proto.spec for c in at.get("plotly_chart")
    )
    for name in ("North", "South", "CL-N1", "CL-S1"):
        assert name not in shown


@pytest.mark.parametrize("label", ["Case summary (HTML)", "Case summary (PDF)"])
def test_export_buttons(run_page, label):
    """Both exports are offered on the case."""
    at = run_page("pages/case_explorer.py", patient="P1")
    assert label in [b.proto.label for b in at.get("download_button")]


@pytest.mark.parametrize("patient", ["P3", "P4", "P5"])
def test_other_patients_render(run_page, patient):
    """Ineligible after intake (P3), two doses then dropped out (P4), referred only (P5)."""
    at = run_page("pages/case_explorer.py", patient=patient)
    if patient == "P5":
        assert any("No sessions recorded for P5" in i.value for i in at.info)
        assert not at.get("plotly_chart")
    else:
        assert "timeline" in _charts(at)


def test_rerun_reads_nothing(run_page, monkeypatch):
    """A rerun with unchanged data only draws: no query reads a frame again."""
    from kapviz.db import queries

    at = run_page("pages/case_explorer.py", patient="P1", compare=["P1", "P2"])
    reads = []
    original = queries.read_frame
    monkeypatch.setattr(
        queries, "read_frame", lambda *a, **k: reads.append(a[1]) or original(*a, **k)
    )
    at.run()
    assert not at.exception
    assert reads == []
    assert "scores-PHQ-9" in _charts(at)


def test_postgresql_status_safety_and_band(
    run_page_on_postgresql, run_page, clinic_url, monkeypatch
):
    """PostgreSQL: P1's verdicts and safety tab as on SQLite, and the same score figures
    (the band from the cohort summary read in the background)."""
    from kapviz.ui import background

    started = []
    start = background.start
    monkeypatch.setattr(background, "start", lambda key, *a: started.append(key) or start(key, *a))
    at = run_page_on_postgresql("pages/case_explorer.py", patient="P1")
    assert [key[0] for key in started] == ["case-cohort-summary"]
    assert started[0][1].startswith("postgresql")
    texts = [m.value for m in at.markdown]
    assert any("**Response: yes**" in t and "18 → 8 (-55.6%)" in t for t in texts)
    assert any("**Reliable improvement: yes**" in t and "5.06" in t for t in texts)
    tables = {tuple(d.value.columns): d.value for d in at.dataframe}
    alerts = tables[("Reason", "Detail", "Date", "Course")]
    assert list(alerts["Reason"]) == ["BP excursion", "Severe side effect"]
    on_pg = _charts(at)
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", clinic_url)
    on_sqlite = _charts(run_page("pages/case_explorer.py", patient="P1"))
    assert set(on_pg) == set(on_sqlite)
    for instrument in ("PHQ-9", "GAD-7"):
        pg_fig, sqlite_fig = on_pg[f"scores-{instrument}"], on_sqlite[f"scores-{instrument}"]
        assert [t.name for t in pg_fig.data] == [t.name for t in sqlite_fig.data]
        for a, b in zip(pg_fig.data, sqlite_fig.data, strict=True):
            assert _values(a.y) == _values(b.y)


# --- Finding a case (kapviz.db.case_search): bounded, scoped, links kept ----------------


def test_search_lists_matches_by_patient_or_course_id(run_page):
    """The search box lists the patients whose id, or a course id, begins with the text;
    choosing one opens its course; an unknown text lists nothing and says so."""
    at = run_page("pages/case_explorer.py")
    assert at.selectbox(key="patient").options == ["P1", "P2", "P3", "P4", "P5"]
    at.text_input(key="case_search").input("P4-C").run()
    assert at.selectbox(key="patient").options == ["P4"]
    at.text_input(key="case_search").input("P2").run()
    assert at.selectbox(key="patient").options == ["P2"]
    at.selectbox(key="patient").select("P2").run()
    assert not at.exception
    assert at.selectbox(key="course").value == "P2-C1"
    at.text_input(key="case_search").input("Q%").run()
    assert at.selectbox(key="patient").options == ["P2"]  # the open case stays offered
    assert at.selectbox(key="patient").value == "P2"
    assert at.multiselect(key="compare").options == ["P2"]


def test_search_is_bounded(run_page, monkeypatch):
    """At most MAX_MATCHES ids are sent, with a word saying the list is cut."""
    from kapviz.ui import case

    monkeypatch.setattr(case, "MAX_MATCHES", 2)
    at = run_page("pages/case_explorer.py")
    assert at.selectbox(key="patient").options == ["P1", "P2"]
    assert any("The first 2 matches" in c.value for c in at.caption)
    linked = run_page("pages/case_explorer.py", patient="P4", meeting=["P5", "P3"])
    assert linked.selectbox(key="patient").options == ["P1", "P2", "P4"]
    assert linked.selectbox(key="patient").value == "P4"
    assert linked.multiselect(key="meeting").value == ["P5", "P3"]


def test_linked_case_outside_the_filters_is_named(run_page):
    """`?patient=P3&site=North`: P3 (South) is in scope but not in the filters: said so."""
    at = run_page("pages/case_explorer.py", patient="P3", site="North")
    assert any("does not match the sidebar filters" in w.value for w in at.warning)
    assert at.selectbox(key="patient").options == ["P1", "P2"]
