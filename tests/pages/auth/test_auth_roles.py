"""Each role sees exactly its scope on every page: pages, sites, patients, ids (issue 9 §5).

AppTest runs a page file on its own, as a deep link does when it is the first request after
a server start, so these are the deep-link cases; tests/browser/test_auth_browser.py repeats
the essentials through the menu in a real browser.
"""

from __future__ import annotations

import json
import re

import pytest

from kapviz.auth.scope import (
    ANALYST,
    CLINICIAN,
    DIRECTOR,
    DISPLAY,
    NO_SITE,
    ROLE_PAGES,
    ROLES,
    SUPERVISOR,
    ScopedFilters,
)
from tests.pages.auth.conftest import (
    COURSES,
    PAGE_TITLES,
    PATIENTS,
    ROLE_USER,
    audit_rows,
    shown_text,
    sidebar_links,
)

REFUSED = "is not open to your role"


def _key(path: str) -> str:
    return path.removeprefix("pages/").removesuffix(".py")


CASES = [(role, path) for role in ROLES for path in PAGE_TITLES]


@pytest.mark.parametrize(("role", "path"), CASES, ids=[f"{r}-{_key(p)}" for r, p in CASES])
def test_page_access_by_deep_link(run_as, data_calls, role, path):
    """A page of the role opens; any other is refused by a deep link with no data loaded."""
    at = run_as(path, ROLE_USER[role])
    refused = any(REFUSED in e.value for e in at.error)
    if _key(path) in ROLE_PAGES[role]:
        assert not refused
        assert at.title[0].value == PAGE_TITLES[path]
    else:
        assert refused
        assert data_calls == []
        assert not at.dataframe and not at.get("plotly_chart") and not at.metric
        assert not at.sidebar.multiselect  # no filters: not even the site names were read


@pytest.mark.parametrize("role", ROLES)
def test_menu_lists_only_the_roles_pages(run_as, role):
    """The sidebar menu offers exactly the pages the role may open."""
    own = {
        DIRECTOR: "pages/overview.py",
        SUPERVISOR: "pages/overview.py",
        CLINICIAN: "pages/case_explorer.py",
        ANALYST: "pages/overview.py",
        DISPLAY: "pages/overview.py",
    }[role]
    at = run_as(own, ROLE_USER[role])
    expected = [t for p, t in PAGE_TITLES.items() if _key(p) in ROLE_PAGES[role]]
    assert sidebar_links(at) == expected


def _allowed(role: str, filters) -> bool:
    """True when the filters a loader got keep the role inside its scope."""
    assert isinstance(filters, ScopedFilters)
    if role == SUPERVISOR:
        return bool(filters.sites) and set(filters.sites) <= {"North"}
    if role == CLINICIAN:
        return filters.clinician == "CL-S1"
    return filters.clinician is None


SCOPED = [
    (role, path)
    for role in ROLES
    for path in PAGE_TITLES
    if _key(path) in ROLE_PAGES[role] and _key(path) not in ("data", "audit")
]


@pytest.mark.parametrize(("role", "path"), SCOPED, ids=[f"{r}-{_key(p)}" for r, p in SCOPED])
def test_every_loader_gets_the_viewers_scope(run_as, data_calls, role, path):
    """Whatever a page loads, it loads through filters scoped to the viewer (sites for a
    supervisor, own patients for a clinician): no query of any page runs wider."""
    query = {"patient": "P4" if role == CLINICIAN else "P1"} if "case" in path else {}
    at = run_as(path, ROLE_USER[role], **query)
    assert at.title[0].value == PAGE_TITLES[path]
    assert data_calls, "the page loaded nothing"
    wide = [(name, f) for name, f in data_calls if not _allowed(role, f)]
    assert wide == []


def test_supervisor_sees_north_only(run_as):
    """Supervisor of North: site filter offers North only and every number is North's
    (P1's 4 and P2's 3 dosing sessions; South's P4 has 2 more)."""
    at = run_as("pages/safety.py", "sam")
    assert at.sidebar.multiselect(key="site").options == ["North"]
    # South's MDD and GAD patients are not even named in the indication filter.
    assert at.sidebar.multiselect(key="indication").options == ["PTSD", "TRD"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Completed dosing sessions (all dates)"] == "7"
    assert metrics["Patients dosed (all dates)"] == "2"
    director = {m.label: m.value for m in run_as("pages/safety.py", "dora").metric}
    assert director["Completed dosing sessions (all dates)"] == "9"
    assert director["Patients dosed (all dates)"] == "3"


def test_supervisor_site_query_parameter_outside_scope(run_as):
    """`?site=South` is not reachable for North's supervisor: dropped, said so, North shown."""
    at = run_as("pages/safety.py", "sam", site="South")
    assert at.sidebar.multiselect(key="site").value == []
    assert any("not shown: `South`" in c.value for c in at.sidebar.caption)
    assert {m.label: m.value for m in at.metric}["Completed dosing sessions (all dates)"] == "7"
    overview = run_as("pages/overview.py", "sam", site="South")
    assert "South" not in shown_text(overview)


def test_supervisor_case_outside_sites_refused(run_as, auth_url):
    """`?patient=P3` (South) is refused before any data, and the attempt is audited."""
    at = run_as("pages/case_explorer.py", "sam", patient="P3")
    assert any("No patient `P3` in your scope" in e.value for e in at.error)
    assert not at.get("plotly_chart") and not at.dataframe
    rows = audit_rows(auth_url)
    refused = rows[rows["action"] == "view_case"]
    assert refused[["username", "target"]].values.tolist() == [["sam", "P3"]]
    assert refused["detail"].iloc[0].startswith("refused")


def test_supervisor_case_picker_and_compare(run_as):
    """North's supervisor picks among P1 and P2 only; `?compare=P3` does not add P3."""
    at = run_as("pages/case_explorer.py", "sam", patient="P1", compare=["P1", "P3"])
    assert at.selectbox(key="patient").options == ["P1", "P2"]
    assert at.multiselect(key="compare").options == ["P1", "P2"]
    assert at.multiselect(key="compare").value == ["P1"]


def test_search_never_finds_a_case_outside_the_scope(run_as):
    """North's supervisor searching for South's P3 (by id or course id) finds nothing."""
    at = run_as("pages/case_explorer.py", "sam")
    for text in ("P3", "P3-C1", "P"):
        at.text_input(key="case_search").input(text).run()
        assert not at.exception
        assert set(at.selectbox(key="patient").options) <= {"P1", "P2"}
    assert at.selectbox(key="patient").options == ["P1", "P2"]
    clinician = run_as("pages/case_explorer.py", "cleo")
    clinician.text_input(key="case_search").input("P1").run()
    assert clinician.selectbox(key="patient").options == []


def test_clinician_own_patients_only(run_as, auth_url):
    """Clinician CL-S1 picks among their own patients (P3, P4); P1 by link is refused."""
    at = run_as("pages/case_explorer.py", "cleo")
    assert at.selectbox(key="patient").options == ["P3", "P4"]
    assert at.sidebar.multiselect(key="indication").options == ["MDD", "TRD"]
    refused = run_as("pages/case_explorer.py", "cleo", patient="P1")
    assert any("No patient `P1` in your scope" in e.value for e in refused.error)
    shown = run_as("pages/case_explorer.py", "cleo", patient="P4")
    assert shown.selectbox(key="course").value == "P4-C1"
    assert shown.get("plotly_chart")
    # The cohort the case is compared with is the clinician's own patients too.
    assert shown.multiselect(key="compare").options == ["P3", "P4"]


def test_case_view_audited_once_per_session(run_as, auth_url):
    """Opening P1 and rerunning (or coming back to it) writes one view_case row."""
    at = run_as("pages/case_explorer.py", "dora", patient="P1")
    at.run()
    at.run()
    rows = audit_rows(auth_url)
    views = rows[rows["action"] == "view_case"]
    assert views[["username", "target"]].values.tolist() == [["dora", "P1"]]
    assert json.loads(views["detail"].iloc[0]) == {"course": "P1-C1"}
    at.selectbox(key="patient").select("P2").run()
    views = audit_rows(auth_url).query("action == 'view_case'")
    assert views["target"].tolist() == ["P1", "P2"]


def _figure_texts(at) -> list[str]:
    return [json.dumps(json.loads(chart.proto.spec)) for chart in at.get("plotly_chart")]


def test_analyst_trajectories_without_ids(run_as):
    """Analysts: course lines and the waterfall carry no patient or course id, there is no
    per-course table, and the points table shows small counts as "<11"."""
    at = run_as("pages/trajectories.py", "ana")
    figures = _figure_texts(at)
    assert figures
    for text in figures:
        for identifier in PATIENTS + COURSES:
            assert f'"{identifier}"' not in text
    lines = [
        trace
        for chart in at.get("plotly_chart")
        for trace in json.loads(chart.proto.spec)["data"]
        if trace.get("name", "").startswith("Individual courses")
    ]
    # The hand clinic's 3 courses are too few to draw their lines for an analyst at all
    # (test_analyst_trajectories_figures_draw_no_small_counts); lines drawn for larger
    # cohorts lose their ids (tests/ui/test_redact.py).
    assert all("customdata" not in t for t in lines)
    assert all("patient" not in t["hovertemplate"] for t in lines)
    tables = [df.value for df in at.dataframe]
    assert not any("patient_id" in t.columns or "course_id" in t.columns for t in tables)
    points = next(t for t in tables if "courses" in t.columns)
    assert set(points["courses"]) == {"<11"}
    assert points["mean"].isna().all()
    assert any("not shown to analysts" in c.value for c in at.caption)
    director = run_as("pages/trajectories.py", "dora")
    assert any('"P1"' in text for text in _figure_texts(director))


def test_analyst_safety_without_ids_and_small_cells(run_as):
    """Analysts: the alerts worklist and BP table have no patient, course or link column;
    counts below 11 show as "<11" in the tiles and the CADSS table."""
    at = run_as("pages/safety.py", "ana")
    for df in at.dataframe:
        assert not {"patient_id", "course_id", "link"} & set(df.value.columns)
        assert not any(p in df.value.to_csv() for p in PATIENTS)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Completed dosing sessions (all dates)"] == "<11"
    assert metrics["Patients needing attention (now)"] == "<11"
    assert metrics["Serious adverse events (all dates)"] == "0"  # zero identifies nobody
    director = {m.label: m.value for m in run_as("pages/safety.py", "dora").metric}
    assert director["Completed dosing sessions (all dates)"] == "9"


def test_analyst_overview_small_cells(run_as):
    """The not-eligible reasons on the Overview count one patient: "<11" for analysts."""
    text = shown_text(run_as("pages/overview.py", "ana"))
    assert "uncontrolled hypertension (<11)" in text
    assert "uncontrolled hypertension (1)" in shown_text(run_as("pages/overview.py", "dora"))


def test_analyst_overview_tiles_small_cells(run_as):
    """Tile counts below 11 (and their "k of n" help) show as "<11" for analysts, without
    a delta that would give them away; a director sees the numbers."""
    analyst = {m.label: m for m in run_as("pages/overview.py", "ana").metric}
    director = {m.label: m for m in run_as("pages/overview.py", "dora").metric}
    small = [label for label, m in director.items() if m.value.isdigit() and 0 < int(m.value) < 11]
    assert small, "the hand clinic has small counts on the tiles"
    for label in small:
        assert analyst[label].value == "<11"
        assert not analyst[label].delta
    for m in analyst.values():
        now = re.search(r"Now: (\S+) of (\S+)\.", m.help or "")
        for count in now.groups() if now else ():
            assert count == "<11" or count == "0" or int(count.replace(",", "")) >= 11


def _figure_values(at) -> list[float]:
    """Every count-like value the Overview's figures draw (bar heights, funnel widths, hover
    counts in customdata), from their JSON specs."""
    values = []
    for chart in at.get("plotly_chart"):
        for trace in json.loads(chart.proto.spec)["data"]:
            if trace.get("type") in ("bar", "funnel"):
                axis = "x" if trace.get("orientation") == "h" or trace["type"] == "funnel" else "y"
                values += [v for v in trace.get(axis, []) if isinstance(v, int | float)]
            for row in trace.get("customdata") or []:
                cells = row if isinstance(row, list) else [row]
                values += [v for v in cells if isinstance(v, int | float)]
    return values


def test_analyst_overview_charts_draw_no_small_counts(run_as):
    """The hand clinic's counts are all small: a director sees the funnel and the monthly
    volume drawn; an analyst gets the funnel as a table with "<11" and no bar, funnel step
    or hover count from 1 to 10 in any figure, and a caption saying why."""
    director = run_as("pages/overview.py", "dora")
    assert any(0 < v < 11 for v in _figure_values(director))
    analyst = run_as("pages/overview.py", "ana")
    assert not [v for v in _figure_values(analyst) if 0 < v < 11]
    assert "<11" in shown_text(analyst)
    funnel_types = [
        trace.get("type")
        for chart in analyst.get("plotly_chart")
        for trace in json.loads(chart.proto.spec)["data"]
    ]
    assert "funnel" not in funnel_types
    assert any("small-cell suppression" in c.value for c in analyst.caption)
    assert not any("small-cell suppression" in c.value for c in director.caption)


def test_analyst_safety_figures_draw_no_small_counts(run_as):
    """The hand clinic's side-effect, heatmap, BP-curve and u-chart counts are small: drawn
    for a director, left out (with a caption) for an analyst."""
    director = run_as("pages/safety.py", "dora")
    assert any(0 < v < 11 for v in _figure_values(director))
    analyst = run_as("pages/safety.py", "ana")
    assert not [v for v in _figure_values(analyst) if 0 < v < 11]
    assert any("small-cell suppression" in c.value for c in analyst.caption)


def test_analyst_trajectories_figures_draw_no_small_counts(run_as):
    """Trajectory points of fewer than 11 courses, the course lines and the per-course
    waterfall of a cohort that small are not drawn for an analyst; a director sees them."""

    def traces(at) -> list[dict]:
        return [t for c in at.get("plotly_chart") for t in json.loads(c.proto.spec)["data"]]

    def course_counts(at) -> list[int]:
        counts = [
            int(row[1])
            for t in traces(at)
            if (t.get("name") or "").startswith(("Mean", "Too few"))
            for row in t.get("customdata") or []
        ]
        # The n row under the axis shows the same counts.
        counts += [
            int(a["text"].replace(",", ""))
            for c in at.get("plotly_chart")
            for a in json.loads(c.proto.spec)["layout"].get("annotations", [])
            if a.get("yref") == "y domain" and a["text"].replace(",", "").isdigit()
        ]
        return counts

    director = run_as("pages/trajectories.py", "dora")
    assert any(0 < n < 11 for n in course_counts(director))
    assert any(t.get("type") == "bar" and t.get("x") for t in traces(director))
    analyst = run_as("pages/trajectories.py", "ana")
    assert not [n for n in course_counts(analyst) if 0 < n < 11]
    assert not [t for t in traces(analyst) if (t.get("name") or "").startswith("Individual")]
    assert not [t for t in traces(analyst) if t.get("type") == "bar" and t.get("x")]
    assert any("small-cell suppression" in c.value for c in analyst.caption)


def test_clinician_landing_page_refused_with_way_forward(run_as):
    """A clinician opening "/" (Overview) is told so and offered the Case explorer."""
    at = run_as("pages/overview.py", "cleo")
    assert any(REFUSED in e.value for e in at.error)
    assert any("[Case explorer](" in m.value for m in at.markdown)


@pytest.mark.parametrize("path", ["pages/overview.py", "pages/safety.py", "pages/case_explorer.py"])
def test_empty_scope_shows_nothing(run_as, auth_url, data_calls, path):
    """A supervisor whose sites hold no patients is told so, never shown "all"."""
    from kapviz.auth import accounts
    from kapviz.db.engine import make_engine

    with make_engine(auth_url).begin() as conn:
        accounts.set_role(conn, "sam", SUPERVISOR, sites=("West",))
    at = run_as(path, "sam")
    assert any("No patients to show: your scope (sites West)" in i.value for i in at.info)
    # Only the question "any patient in scope?" was asked, scoped to West.
    assert {name for name, _ in data_calls} == {"has_patients", "patient_conditions"}
    assert {f.sites for _, f in data_calls} == {("West",)}
    assert not at.get("plotly_chart") and not at.metric and not at.sidebar.multiselect
    assert NO_SITE not in shown_text(at)


def test_role_change_takes_effect_on_next_run(run_as, auth_url):
    """`users set-role` narrows a signed-in session at its next rerun."""
    from kapviz.auth import accounts
    from kapviz.db.engine import make_engine

    at = run_as("pages/safety.py", "dora")
    assert {m.label: m.value for m in at.metric}["Completed dosing sessions (all dates)"] == "9"
    with make_engine(auth_url).begin() as conn:
        accounts.set_role(conn, "dora", SUPERVISOR, sites=("North",))
    at.run()
    assert {m.label: m.value for m in at.metric}["Completed dosing sessions (all dates)"] == "7"
