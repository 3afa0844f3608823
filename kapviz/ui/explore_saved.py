"""Saved cohorts on the Explore page: keep the view under a name, reopen or delete one.

Stored in the clinic database per user (kapviz.db.saved_cohorts), so they survive a server
restart and follow the user to any server process. While sign-in is off everyone shares the
owner name `DEMO_OWNER`, which no account can take (account names hold no spaces).
Opening one puts its parameters in the URL and the sidebar, as a shared link would.
"""

from __future__ import annotations

import logging

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from kapviz import explore, safe_text
from kapviz.db import saved_cohorts
from kapviz.ui import auth, data
from kapviz.ui import explore as view_ui
from kapviz.ui.db import engine
from kapviz.ui.session import is_on, username

log = logging.getLogger(__name__)

DEMO_OWNER = "no sign-in"
"""The owner of cohorts saved while sign-in is off."""
CONFIRM = "_explore_saved_confirm"
MESSAGE = "_explore_saved_message"
NAME = "explore_saved_name"
PICK = "explore_saved_pick"


def owner() -> str:
    """Whose saved cohorts the page lists and writes."""
    return username() if is_on() else DEMO_OWNER


def _say(kind: str, text: str) -> None:
    st.session_state[MESSAGE] = (kind, text)


def _save(params: dict, overwrite: bool) -> None:
    name = st.session_state.get(NAME) or ""
    try:
        with engine().begin() as conn:
            stored = saved_cohorts.save(conn, owner(), name, params, overwrite=overwrite)
    except saved_cohorts.CohortExists:
        st.session_state[CONFIRM] = saved_cohorts.clean_name(name)
        return
    except saved_cohorts.CohortNameError as exc:
        _say("error", f"Not saved: {exc}.")
        return
    except SQLAlchemyError:
        log.exception("saving a cohort failed")
        _say("error", "Not saved: the database refused the write (the server log has why).")
        return
    st.session_state.pop(CONFIRM, None)
    st.session_state[PICK] = stored
    _say("success", f"Saved as “{safe_text.markdown(stored)}”.")


def _cancel() -> None:
    st.session_state.pop(CONFIRM, None)


def _delete(name: str) -> None:
    try:
        with engine().begin() as conn:
            gone = saved_cohorts.remove(conn, owner(), name)
    except SQLAlchemyError:
        log.exception("deleting a saved cohort failed")
        _say("error", "Not deleted: the database refused the write (the server log has why).")
        return
    st.session_state.pop(PICK, None)
    if gone:
        _say("success", f"Deleted “{safe_text.markdown(name)}”.")


def _open(params: dict) -> None:
    """Put a saved view in the URL (page parameters) and the sidebar's widgets (filters)."""
    view, _ = explore.ExploreView.from_params(params)
    options = data.filter_options()
    sites = set(auth.visible_sites(options["sites"]))
    indications = set(auth.visible_indications(options["indications"]))
    cohort = view.cohort
    st.session_state["site"] = [s for s in cohort.sites if s in sites]
    st.session_state["indication"] = [i for i in cohort.indications if i in indications]
    st.session_state["route"] = [r for r in cohort.routes if r in options["routes"]]
    st.session_state["from"] = cohort.start
    st.session_state["to"] = cohort.end
    for key in view_ui.PAGE_PARAMS:
        if key in params:
            st.query_params[key] = params[key]
        elif key in st.query_params:
            del st.query_params[key]
    st.session_state.pop(view_ui.WRITTEN, None)  # the next run reads the URL
    st.session_state.pop(CONFIRM, None)


def panel(view: explore.ExploreView) -> None:
    """The saved cohorts of this user: open or delete one; save the view on screen."""
    with st.expander("Saved cohorts", icon=":material/bookmarks:"):
        message = st.session_state.pop(MESSAGE, None)
        if message:
            (st.success if message[0] == "success" else st.error)(message[1])
        try:
            with engine().connect() as conn:
                saved = saved_cohorts.list_for(conn, owner())
        except SQLAlchemyError:
            log.exception("listing saved cohorts failed")
            st.error("Saved cohorts cannot be read now (the server log has why).")
            return
        left, right = st.columns(2)
        with left:
            if saved:
                by_name = {s.name: s for s in saved}
                if st.session_state.get(PICK) not in by_name:
                    st.session_state[PICK] = saved[0].name
                name = st.selectbox("Your saved cohorts", list(by_name), key=PICK)
                a, b = st.columns(2)
                a.button(
                    "Open",
                    key="explore_saved_open",
                    on_click=_open,
                    args=(by_name[name].params,),
                    icon=":material/open_in_browser:",
                    width="stretch",
                )
                b.button(
                    "Delete",
                    key="explore_saved_delete",
                    on_click=_delete,
                    args=(name,),
                    icon=":material/delete:",
                    width="stretch",
                )
            else:
                st.caption("No saved cohorts yet: name this view and save it.")
        with right:
            st.text_input(
                "Save this view as",
                key=NAME,
                max_chars=saved_cohorts.MAX_NAME_LENGTH,
                placeholder="e.g. Severe baseline, IM",
            )
            params = view.to_params()
            confirm = st.session_state.get(CONFIRM)
            if confirm:
                st.warning(
                    f"You already have a saved cohort named “{safe_text.markdown(confirm)}”. "
                    "Replace it with this view?"
                )
                a, b = st.columns(2)
                a.button(
                    "Replace", key="explore_saved_replace", on_click=_save, args=(params, True)
                )
                b.button("Cancel", key="explore_saved_cancel", on_click=_cancel)
            else:
                st.button(
                    "Save",
                    key="explore_saved_save",
                    on_click=_save,
                    args=(params, False),
                    icon=":material/bookmark_add:",
                )
