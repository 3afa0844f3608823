"""Overview: the program's state on one screen for a clinical director, refreshing itself."""

import streamlit as st

from kapviz.ui import auth, live, overview, page, redact, widgets
from kapviz.ui import evidence as evidence_view
from kapviz.ui import programme_report as report_view

filters = page.setup("Overview", "The program at a glance, refreshing on its own.")
live.apply_kiosk()
live.refresh_control()
if not live.is_kiosk():
    widgets.share_link("overview")


overview.start_charts(filters)


@st.fragment(run_every=live.refresh_seconds())
def kpi_tiles() -> None:
    """Small and cheap: numbers only, recomputed only when the data version changes."""
    auth.check_idle()
    overview.tiles(overview.kpis(filters, live.now()))
    live.freshness_line()


kpi_tiles()

funnel = overview.funnel(filters)
if funnel["patients"].iloc[0] == 0:
    widgets.empty_state("No patients match these filters.", hint="Clear a filter in the sidebar.")
    st.stop()

figures = overview.charts(filters)
left, right = st.columns(2)
with left:
    if figures.funnel is None:
        st.markdown("**Treatment funnel (patients)**")
        redact.aggregate_table(funnel, counts=["patients"], blank=["lost"], hide_index=True)
    else:
        st.plotly_chart(figures.funnel, theme=None, key="funnel")
    reasons = overview.ineligibility_reasons(filters)
    if not reasons.empty:
        st.caption(
            "Not eligible at intake: "
            + ", ".join(
                f"{r.reason} ({auth.count_label(r.patients)})" for r in reasons.itertuples()
            )
        )
with right:
    st.plotly_chart(figures.volume, theme=None, key="volume")

auth.suppression_caption()
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
    else:
        st.caption("Site comparison needs at least two sites with evaluable courses.")
with right:
    st.markdown(
        "**Reading the trends.** Response counts courses whose PHQ-9 fell by at least half "
        "from baseline, by the month of their endpoint (bars: 95% Wilson intervals). The "
        "adverse-event chart is a u-chart: points outside the 3-sigma limits are more than "
        "month-to-month noise. In the site comparison, a site outside the dashed 95% limits "
        "differs from the program by more than chance at its volume; small sites get wide "
        "limits, so they are not judged on noise."
    )
report_view.download_buttons(filters)
