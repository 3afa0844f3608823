"""Overview: the program's state on one screen for a clinical director, refreshing itself."""

import streamlit as st

from kapviz import safe_text
from kapviz.ui import auth, live, nav, overview, page, redact, rooms, widgets
from kapviz.ui import evidence as evidence_view
from kapviz.ui import programme_report as report_view

filters = page.setup("Overview", "The program at a glance, refreshing on its own.")
if live.is_kiosk():
    rooms.kiosk(filters)
    st.stop()
live.refresh_control()
widgets.share_link(nav.url_path(nav.spec("overview")))


overview.start_charts(filters, live.now().date(), now=live.now())


@st.fragment(run_every=live.refresh_seconds())
def kpi_tiles() -> None:
    """Small and cheap: numbers only, recomputed only when the data version changes."""
    auth.check_idle()
    now = live.now()
    as_of = overview.data_as_of(auth.newest_record_at(), now.date())
    overview.tiles(overview.kpis(filters, now), as_of=as_of)
    live.freshness_line()


kpi_tiles()
notes = overview.range_notes(filters)
if notes.tiles:
    st.caption(notes.tiles)

funnel = overview.funnel(filters)
nobody_referred = funnel["patients"].iloc[0] == 0
if nobody_referred and not (filters.start or filters.end):
    widgets.empty_state("No patients match these filters.", hint="Clear a filter in the sidebar.")
    st.stop()

figures = overview.charts(filters, live.now().date(), now=live.now())
left, right = st.columns(2)
with left:
    if nobody_referred:
        widgets.empty_state("Nobody was referred in the date range.")
    elif figures.funnel is None:
        st.markdown("**Treatment funnel (patients)**")
        redact.aggregate_table(funnel, counts=["patients"], blank=["lost"], hide_index=True)
    else:
        st.plotly_chart(figures.funnel, theme=None, key="funnel")
    if notes.funnel:
        st.caption(notes.funnel)
    reasons = overview.ineligibility_reasons(filters)
    if not reasons.empty:
        st.caption(
            "Not eligible at intake: "
            + ", ".join(
                f"{safe_text.markdown(r.reason)} ({redact.count_label(r.patients)})"
                for r in reasons.itertuples()
            )
        )
with right:
    st.plotly_chart(figures.volume, theme=None, key="volume")

redact.suppression_caption()
left, right = st.columns(2)
with left:
    if figures.response is None:
        widgets.empty_state("No evaluable PHQ-9 courses yet for a monthly response rate.")
    else:
        st.plotly_chart(figures.response, theme=None, key="response-trend")
with right:
    st.plotly_chart(figures.u_chart, theme=None, key="ae-u-chart")
evidence_view.beside_rates(filters, "PHQ-9", endpoints_only=True)
left, right = st.columns(2)
with left:
    if figures.sites is not None:
        st.plotly_chart(figures.sites, theme=None, key="site-funnel")
        if notes.sites:
            st.caption(notes.sites)
    else:
        st.caption("Site comparison needs at least two sites with evaluable courses.")
with right:
    st.markdown(
        "**Reading the trends.** Response counts courses whose PHQ-9 fell by at least half "
        "from baseline, by the month of their endpoint (bars: 95% Wilson intervals). The "
        "adverse-event chart is a u-chart: points outside the 3-sigma limits are more than "
        'month-to-month noise. The current month is drawn lighter and marked "to date"; '
        "so is a first month that began after its 1st (the programme's first session or "
        'the date range\'s start), labelled "from" its first day. '
        "In the site comparison, a site outside the dashed 95% limits (exact binomial; "
        "dotted: 99.8%) differs from the program by more than chance at its volume; small "
        "sites get wide limits, so they are not judged on noise."
    )
report_view.download_buttons(filters)
