"""Defended: markdown and HTML injection from imported data.

Imported text (site names, ids, indications, clinician codes, ineligibility reasons, upload
file names) is data. Streamlit renders captions, messages and headers as markdown and plotly
renders labels and hover text as HTML-like markup, so such text passes through
`kapviz.safe_text` (markdown / plotly / html) wherever it is shown. These tests import a
clinic whose every free-text field holds a link, an image, a tag or a directive, open every
page as a director and find none of it live: no link to another host, no image, no HTML
element, in page text, chart JSON or the case summary HTML; the same for a FHIR import and
for a REDCap export whose every free-text field is hostile. The browser test
(tests/browser/test_markdown_injection_browser.py) checks the rendered DOM and the network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from kapviz import safe_text
from kapviz.auth import accounts
from kapviz.auth.scope import DIRECTOR
from kapviz.charts.escape import escape_figure_text
from kapviz.cli import main
from kapviz.db.engine import make_engine
from kapviz.io.redcap import SHIPPED_MAPPING
from kapviz.report import case as report
from kapviz.ui import case as case_ui
from kapviz.ui.session import SEEN_KEY, USER_KEY
from tests.pages.auth.conftest import fast_hasher
from tests.security.hostile import HTML, MARKDOWN, MARKUP, write_clinic, write_redcap

ROOT = Path(__file__).resolve().parents[2]

# Markup that would be live in Streamlit markdown: each must be absent from every text the
# page hands to the markdown renderer (kapviz's own sidebar links are relative: `](/`).
UNESCAPED = {
    "link to another host": re.compile(r"(?<!\\)\]\((?!/)"),
    "image": re.compile(r"(?<!\\)!(?<!\\)\["),
    "HTML tag": re.compile(r"(?<!\\)<[A-Za-z/!?]"),
    "autolink": re.compile(r"https?\\?:(\\?/){2}|www\\?\.|\w\\?@\\?\w", re.IGNORECASE),
    "directive": re.compile(r"(?<![\\:])(?::(?:red|blue|green|orange|violet|gray|rainbow)\[)"),
}
# In plotly text: any tag plotly would draw (a link, bold, a span) outside kapviz's own
# hover templates.
PLOTLY_TAG = re.compile(r"<(a|b|i|img|span|br|sup|sub|em|s|u)\b", re.IGNORECASE)
OWN_MARKUP = re.compile(r"</?(?:b|i|em|sup|sub)>|<br\s*/?>", re.IGNORECASE)
"""kapviz's own formatting in its titles and annotations (kapviz.safe_text.plotly_layout)."""
DATA_MARKUP = re.compile(r"<b>(?:North|bold)</b>|<img|<a\s", re.IGNORECASE)
"""Tags that only the hostile clinic's data holds (tests/security/hostile.py)."""


@pytest.mark.parametrize(
    ("text", "markdown"),
    [
        ("[x](http://e.x/a)", "\\[x\\]\\(http\\:\u2060//e.x/a\\)"),
        ("www.e.x a@b.org", "www\u2060.e.x a@\u2060b.org"),
        ("- item", "\\- item"),
        ("12. item", "12\\. item"),
        ("P1-C1 2.5", "P1-C1 2.5"),
        ("![p](i.png)", r"\!\[p\]\(i.png\)"),
        ("<b>", r"\<b\>"),
        (":red[a] $x$", r"\:red\[a\] \$x\$"),
        ("a\nb", "a b"),
        ("North 2", "North 2"),
    ],
)
def test_markdown_escape(text, markdown):
    """Markdown's punctuation is escaped (a list marker only at the start); bare URLs
    and e-mail addresses get an invisible word joiner that stops GFM from linking them."""
    assert safe_text.markdown(text) == markdown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("<a href='http://e.x'>a</a>", "&lt;a href='http://e.x'>a&lt;/a>"),
        ("<b>x</b>", "&lt;b>x&lt;/b>"),
        ("&lt;b&gt;", "&amp;lt;b&amp;gt;"),
        ("<250 mg", "<250 mg"),
        ("n<20: too few", "n<20: too few"),
    ],
)
def test_plotly_escape(text, shown):
    """Tags and entities cannot form; comparisons such as `<250 mg` are left as written."""
    assert safe_text.plotly(text) == shown


@pytest.fixture
def hostile_url(tmp_path, monkeypatch) -> Iterator[str]:
    """The hostile clinic in SQLite with a director account, as the app's database."""
    url = f"sqlite:///{tmp_path}/hostile.db"
    assert main(["import", str(write_clinic(tmp_path / "in", MARKUP)), "--db", url]) == 0
    yield from _served_to_a_director(url, monkeypatch)


def _served_to_a_director(url: str, monkeypatch) -> Iterator[str]:
    """`url` with a director account (dora), as the app's database, caches empty."""
    monkeypatch.setattr(accounts, "_HASHER", fast_hasher())
    with make_engine(url).begin() as conn:
        accounts.add_user(conn, "dora", "director-pass-1", role=DIRECTOR)
    monkeypatch.setenv("KAPVIZ_DATABASE_URL", url)
    monkeypatch.setenv("KAPVIZ_AUTH_MODE", "local")
    st.cache_data.clear()
    st.cache_resource.clear()
    yield url
    st.cache_data.clear()
    st.cache_resource.clear()


def run(path: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=90)
    for key, value in query.items():
        at.query_params[key] = value
    at.session_state[USER_KEY] = "dora"
    at.session_state[SEEN_KEY] = datetime.now()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def markdown_texts(at: AppTest) -> list[str]:
    """Every text of the run that Streamlit renders as markdown (main area and sidebar)."""
    texts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    for kind in (at.title, at.header, at.subheader, at.info, at.error, at.warning, at.success):
        texts += [e.value for e in kind]
    texts += [m.label for m in at.metric] + [e.label for e in at.expander]
    texts += [t.label for t in at.tabs]
    return [str(t) for t in texts]


def plotly_strings(at: AppTest) -> list[str]:
    """Every string in every chart's JSON except kapviz's own hover/text templates."""
    out: list[str] = []

    def walk(node, key=""):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and not key.endswith("template"):
            out.append(node)

    for chart in at.get("plotly_chart"):
        walk(json.loads(chart.proto.spec))
    return out


def assert_nothing_live(at: AppTest, page: str) -> None:
    for text in markdown_texts(at):
        for what, pattern in UNESCAPED.items():
            assert not pattern.search(text), f"{page}: {what} in markdown {text!r}"
    for text in plotly_strings(at):
        assert not DATA_MARKUP.search(text), f"{page}: data's tag in chart text {text!r}"
        assert not PLOTLY_TAG.search(OWN_MARKUP.sub("", text)), f"{page}: tag in {text!r}"


PAGES = [
    ("pages/overview.py", {}),
    ("pages/trajectories.py", {}),
    ("pages/safety.py", {}),
    ("pages/case_explorer.py", {"patient": MARKUP[0]}),
    ("pages/case_explorer.py", {"patient": "P2"}),
    ("pages/data.py", {}),
    ("pages/audit.py", {}),
]


@pytest.mark.parametrize(
    ("path", "query"),
    PAGES,
    ids=["overview", "trajectories", "safety", "case-hostile-id", "case", "data", "audit"],
)
def test_no_markup_from_data_on_any_page(hostile_url, path, query):
    """Every page, opened by a director on the hostile clinic: the data is there, as text."""
    at = run(path, **query)
    assert_nothing_live(at, path)


def test_overview_shows_the_reasons_as_text(hostile_url):
    """The issue's case: the ineligibility reasons appear, escaped, on the Overview, and the
    site names in the charts appear as text that plotly shows literally."""
    at = run("pages/overview.py")
    shown = "\n".join(markdown_texts(at))
    assert safe_text.markdown(MARKDOWN) in shown and safe_text.markdown(HTML) in shown
    charts = "\n".join(plotly_strings(at))
    assert "&lt;b>North&lt;/b>" in charts


def test_case_explorer_header_and_summary(hostile_url, monkeypatch):
    """The Case explorer of a patient whose id is a markdown link/image: the header shows it
    escaped, and the case summary HTML has no image and no link (the report's escape)."""
    summaries: list[report.CaseSummary] = []
    original = case_ui.export_buttons
    monkeypatch.setattr(case_ui, "export_buttons", lambda s: (summaries.append(s), original(s)))
    at = run("pages/case_explorer.py", patient=MARKUP[0], present="true")
    assert_nothing_live(at, "case explorer (presentation)")
    assert any(safe_text.markdown(MARKUP[0]) in h.value for h in at.header)
    assert summaries and summaries[0].patient_id == MARKUP[0]
    page = report.case_summary_html(summaries[0], [""] * len(summaries[0].figures))
    tags = Tags()
    tags.feed(page.split("<script", 1)[0])  # the figures' JSON is checked above
    # Figures are kapviz's own SVGs, inlined as data: images; nothing links or loads from data.
    assert all(a.startswith("data:image/svg+xml;base64,") for a in tags.links if a)
    assert not [a for a in tags.links if "evil" in a or "127.0.0.2" in a]
    assert "![px](http://127.0.0.2:9/pixel.png)" in page  # shown as text, html-escaped
    assert "&lt;img src=x onerror=alert(1)&gt;" in report.case_summary_html(
        report.CaseSummary(
            patient_id=HTML,
            course_id=HTML,
            generated_at=datetime(2026, 1, 1),
            facts=[("Site", HTML)],
            statuses=[],
            figures=[],
        ),
        [],
    )


class Tags(HTMLParser):
    """The element names and link targets of an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.names.add(tag)
        self.links += [v or "" for k, v in attrs if k in ("href", "src")]


def test_figure_escape_covers_late_annotations():
    """Text added to a figure in any trace property or tick label is escaped in place."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(x=["<b>a</b>", "ok"], y=[1, 2], customdata=[["<a href=x>"], ["b"]]))
    fig.add_annotation(text="<img src=x>")
    fig.update_xaxes(categoryarray=["<b>a</b>", "ok"])
    escape_figure_text(fig)
    assert list(fig.data[0].x) == ["&lt;b>a&lt;/b>", "ok"]
    assert fig.data[0].customdata[0][0] == "&lt;a href=x>"
    assert fig.layout.annotations[0].text == "&lt;img src=x>"
    assert list(fig.layout.xaxis.categoryarray) == ["&lt;b>a&lt;/b>", "ok"]


def test_fhir_site_name_is_shown_as_text(hostile_url, tmp_path):
    """The same holds for text from a FHIR import: a Patient's managing organisation (its
    site) that is a markdown link and an HTML image, chosen as the filter, makes nothing live
    (and the Safety page of a site without dosing sessions shows its empty state)."""
    bundle = tmp_path / "fhir.ndjson"
    patient = {
        "resourceType": "Patient",
        "id": "F1",
        "gender": "female",
        "birthDate": "1980-01-01",
        "managingOrganization": {"display": MARKDOWN + " " + HTML},
    }
    bundle.write_text(json.dumps(patient) + "\n")
    assert main(["import", str(bundle), "--db", hostile_url]) == 0
    st.cache_data.clear()
    at = run("pages/safety.py", site=MARKDOWN + " " + HTML)
    assert_nothing_live(at, "safety with a FHIR site")  # no dosing there: an empty state
    site = next(m for m in at.sidebar.multiselect if m.key == "site")
    assert site.value == [MARKDOWN + " " + HTML]  # options are plain text, never markdown


@pytest.fixture
def redcap_url(tmp_path, monkeypatch) -> Iterator[str]:
    """A clinic imported from a REDCap export (shipped mapping) whose record ids, sites,
    indications, clinicians and ineligibility reason are hostile, with a director account."""
    url = f"sqlite:///{tmp_path}/redcap.db"
    export = write_redcap(tmp_path / "in" / "kap_project.csv")
    argv = ["import", str(export), "--redcap-mapping", str(SHIPPED_MAPPING), "--db", url]
    assert main(argv) == 0
    yield from _served_to_a_director(url, monkeypatch)


REDCAP_PAGES = [
    ("pages/overview.py", {}),
    ("pages/trajectories.py", {}),
    ("pages/safety.py", {}),
    ("pages/case_explorer.py", {"patient": MARKDOWN}),
    ("pages/case_explorer.py", {"patient": HTML}),
    ("pages/data.py", {}),
]


@pytest.mark.parametrize(
    ("path", "query"),
    REDCAP_PAGES,
    ids=["overview", "trajectories", "safety", "case-markdown-id", "case-html-id", "data"],
)
def test_no_markup_from_redcap_on_any_page(redcap_url, path, query):
    """Every page on the REDCap clinic, opened by a director: its text is there, as text."""
    at = run(path, **query)
    assert_nothing_live(at, f"{path} (REDCap)")


def test_redcap_text_shown_escaped_and_case_summary_plain(redcap_url, monkeypatch):
    """The REDCap ineligibility reason is on the Overview, escaped; the case summary export
    of a record whose id is a markdown link (its title and heading) loads and links nothing."""
    shown = "\n".join(markdown_texts(run("pages/overview.py")))
    assert safe_text.markdown(MARKDOWN + " " + HTML) in shown
    summaries: list[report.CaseSummary] = []
    original = case_ui.export_buttons
    monkeypatch.setattr(case_ui, "export_buttons", lambda s: (summaries.append(s), original(s)))
    at = run("pages/case_explorer.py", patient=MARKDOWN)
    assert_nothing_live(at, "case explorer (REDCap)")
    assert summaries and summaries[0].patient_id == MARKDOWN
    page = report.case_summary_html(summaries[0], [""] * len(summaries[0].figures))
    tags = Tags()
    tags.feed(page.split("<script", 1)[0])
    assert all(a.startswith("data:image/svg+xml;base64,") for a in tags.links if a)
    assert not tags.names & {"a", "iframe", "script"}
    for raw in ("<img src=x", "<b>bold</b>", "<b>North</b>", "<a href"):
        assert raw not in page, f"the data's {raw!r} is live in the case summary"
    assert "![px](http://127.0.0.2:9/pixel.png)" in page  # the record id, as text
