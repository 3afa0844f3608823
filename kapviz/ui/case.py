"""Case explorer widgets: the picker with deep links, status badges, presentation mode."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from kapviz.auth import audit
from kapviz.charts.rooms import for_presentation
from kapviz.filters import Filters
from kapviz.meeting import agenda, step_case
from kapviz.metrics.case import MAX_COMPARE
from kapviz.report.case import CaseSummary, render
from kapviz.ui import auth, data, exports
from kapviz.ui.db import engine
from kapviz.ui.session import username
from kapviz.url_flags import is_on

PRESENTATION_CSS = Path(__file__).with_name("present.css")
"""Presentation mode's style sheet: full width, no sidebar, larger type."""


MAX_MATCHES = 50
"""Patients a case picker offers at once: the search's first matches in id order (and the
cases already chosen), never the whole clinic."""
SEARCH_KEY = "case_search"


def _search_text() -> str:
    # Read from session state, so that the meeting picker drawn above the search box
    # offers the same matches in the same run.
    return str(st.session_state.get(SEARCH_KEY) or "").strip()


def _matches(filters: Filters) -> list[str]:
    """The patients the search box finds in scope (the first MAX_MATCHES without text)."""
    return data.find_patients(filters, _search_text(), limit=MAX_MATCHES)


def _offered(filters: Filters, chosen: list[str]) -> list[str]:
    """A picker's options: the search's matches and those of `chosen` that are in scope
    (a link's or an earlier choice's cases stay offered whatever is searched)."""
    return sorted(set(_matches(filters)) | set(data.known_patients(filters, chosen)))


def _chosen(key: str) -> list[str]:
    """A picker's cases from the URL and from this session, before the widget is drawn."""
    held = st.session_state.get(key)
    if isinstance(held, str):
        held = [held]
    return [*st.query_params.get_all(key), *(held or [])]


def pick_case(filters: Filters) -> tuple[str | None, str | None]:
    """Patient and course chosen by the user or by `?patient=…&course=…` links; the
    patient among the search box's matches in scope (kapviz.db.case_search)."""
    requested = st.query_params.get("patient")
    if requested and not data.known_patients(filters, [requested]):
        # In the viewer's scope (kapviz.ui.auth.check_case_link) but outside the filters.
        st.warning(
            f"Patient {auth.as_code(requested)} does not match the sidebar filters "
            f"({filters.describe()}): clear a filter to open this case.",
            icon=":material/filter_alt:",
        )
    search, left, right = st.columns([2, 2, 2])
    search.text_input(
        "Find a patient",
        key=SEARCH_KEY,
        placeholder="Patient or course id, or its start",
        help="Lists the patients in your scope whose id, or one of whose course ids, "
        f"begins with this text (case-sensitive; the first {MAX_MATCHES}). Press Enter, "
        "then choose in Patient.",
    )
    ids = _offered(filters, _chosen("patient"))
    found = len(_matches(filters))
    patient_id = left.selectbox(
        "Patient (pseudonymous id)",
        ids,
        index=None,
        key="patient",
        bind="query-params",
        placeholder=f"Choose among {found:,} match{'es' if found != 1 else ''}…"
        if found
        else "No match: change the search",
    )
    if found >= MAX_MATCHES:
        search.caption(f"The first {MAX_MATCHES} matches: type more of the id to narrow.")
    if not patient_id:
        return None, None
    courses = sorted(data.sessions(filters, patient_id=patient_id)["course_id"].unique())
    course_id = right.selectbox(
        "Course",
        courses,
        index=len(courses) - 1 if courses else None,
        key="course",
        bind="query-params",
        help="A patient may have several treatment courses (re-induction).",
    )
    return patient_id, course_id


def presented(fig: go.Figure) -> go.Figure:
    """A copy of `fig` with larger type for presentation mode (the figure is not changed;
    kapviz.charts.rooms.for_presentation)."""
    return for_presentation(fig)


def show_figure(fig, *, key: str, presenting: bool = False) -> None:
    """A chart on the page; larger type in presentation mode (the figure is not changed).

    Figures of a CaseView are drawn for their mode already: pass them as they are.
    """
    st.plotly_chart(presented(fig) if presenting else fig, theme=None, key=key)


def verdict_icon(verdict: bool | None) -> str:
    return {True: ":material/check_circle:", False: ":material/cancel:"}.get(
        verdict, ":material/remove:"
    )


def status_block(lines: list) -> None:
    """Outcome verdicts with their rules in words."""
    for label, verdict, text in lines:
        if verdict is None:
            st.markdown(f"{verdict_icon(verdict)} **{label}:** {text}")
        else:
            word = "yes" if verdict else "no"
            st.markdown(f"{verdict_icon(verdict)} **{label}: {word}** — {text}")


def _present_changed() -> None:
    if st.session_state.get("present"):
        st.query_params["present"] = "1"
    else:
        st.query_params.pop("present", None)


def presentation_mode() -> bool:
    """Large type, no sidebar, nothing beyond the pseudonymous id (`?present=1`, also
    true/yes/on: kapviz.url_flags; the toggle writes `present=1` back to the URL)."""
    # The URL is the truth (a link with or without ?present=…); the toggle writes it back.
    st.session_state["present"] = is_on(st.query_params.get("present"))
    on = st.toggle(
        "Presentation mode",
        key="present",
        on_change=_present_changed,
        help="For team meetings: larger type, no sidebar, one case per screen.",
    )
    if on:
        st.html(f"<style>{PRESENTATION_CSS.read_text(encoding='utf-8')}</style>")
    return bool(on)


def meeting_picker(filters: Filters) -> list[str]:
    """The cases of this meeting, in presenting order, bound to `?meeting=` (one link for the
    whole meeting); shared by next/previous and the meeting pack."""
    ids = _offered(filters, _chosen("meeting"))
    with st.expander("Meeting: cases to present", icon=":material/groups:"):
        chosen = st.multiselect(
            "Cases of the meeting, in order (pseudonymous ids)",
            ids,
            key="meeting",
            bind="query-params",
            placeholder="Add from the matches of Find a patient…",
            help="Presentation mode steps through these with Next case (or Page Down, as "
            "a presentation clicker sends) and Previous case (Page Up); the meeting pack "
            "prints them in this order.",
        )
    return agenda(chosen)


def _go_to(case_id: str | None) -> None:
    if case_id:
        st.session_state["patient"] = case_id
        st.session_state.pop("course", None)  # the new case's latest course


def case_steps(meeting: list[str], current: str) -> None:
    """Previous / next case of the meeting (buttons, Page Up / Page Down)."""
    if not meeting:
        return
    before, after = step_case(meeting, current, -1), step_case(meeting, current, 1)
    where = f"case {meeting.index(current) + 1} of {len(meeting)}" if current in meeting else ""
    left, middle, right = st.columns([2, 3, 2], vertical_alignment="center")
    left.button(
        "Previous case",
        icon=":material/arrow_back:",
        disabled=before is None,
        on_click=_go_to,
        args=(before,),
        shortcut="PageUp",
        key="meeting-previous",
    )
    middle.markdown(f"**Meeting:** {where or 'this case is not on the list'}")
    right.button(
        "Next case",
        icon=":material/arrow_forward:",
        icon_position="right",
        disabled=after is None,
        on_click=_go_to,
        args=(after,),
        shortcut="PageDown",
        key="meeting-next",
        type="primary",
    )


def compare_picker(filters: Filters, *, patient_id: str) -> list[str]:
    """Up to MAX_COMPARE patient ids to compare (the current case first), bound to `?compare=`."""
    ids = _offered(filters, [patient_id, *_chosen("compare")])
    chosen = st.multiselect(
        "Cases to compare (pseudonymous ids)",
        ids,
        default=[patient_id] if patient_id in ids else None,
        key="compare",
        bind="query-params",
        max_selections=MAX_COMPARE,
        placeholder="Add from the matches of Find a patient…",
        help=f"Up to {MAX_COMPARE} cases side by side on the same axes; other cases: "
        "search for them with Find a patient above.",
    )
    return list(chosen)


def printed(summaries: list[CaseSummary], *, fmt: str, file_name: str) -> Callable[[], bytes]:
    """A deferred download printing these cases (kapviz.report.case.render) that records
    each printed case as a case view, and the file as an export, in the audit trail.

    Streamlit runs it on the click, outside the script run: it carries the viewer's name and
    the engine. A failed audit write raises: no rows, no file.
    """
    who, eng = username(), engine()

    def produce() -> bytes:
        now = datetime.now()
        payload = render(summaries, fmt=fmt, printed_at=now)
        with eng.begin() as conn:
            for summary in summaries:
                audit.record(
                    conn,
                    username=who,
                    action=audit.VIEW_CASE,
                    target=summary.patient_id,
                    detail={"course": summary.course_id, "printed": file_name},
                    at=now,
                )
        return payload

    patients = [s.patient_id for s in summaries]
    return exports.audited(produce, target=file_name, detail={"patients": patients})


def export_buttons(summary: CaseSummary) -> None:
    """HTML and PDF downloads of the case summary, printed only on a click (static charts
    drawn by the system Chromium); each is an export and a case view in the audit trail."""
    stem = f"case-{summary.patient_id}-{summary.course_id}"
    left, right = st.columns(2)
    left.download_button(
        "Case summary (HTML)",
        printed([summary], fmt="html", file_name=f"{stem}.html"),
        file_name=f"{stem}.html",
        mime="text/html",
        icon=":material/download:",
        on_click="ignore",
        key="export-html",
    )
    right.download_button(
        "Case summary (PDF)",
        printed([summary], fmt="pdf", file_name=f"{stem}.pdf"),
        file_name=f"{stem}.pdf",
        mime="application/pdf",
        icon=":material/picture_as_pdf:",
        on_click="ignore",
        key="export-pdf",
    )
