"""Safety: who needs attention, which side effects are common or severe, blood pressure."""

import streamlit as st

from kapviz.ui import evidence as evidence_view
from kapviz.ui import page, redact, widgets, worklist
from kapviz.ui import safety as view

filters = page.setup(
    "Safety",
    "Side effects, vital signs and alerts across completed dosing sessions (cancelled and "
    "missed sessions never count).",
)
if view.totals(filters).dosing_sessions == 0:
    widgets.empty_state(
        "No completed dosing sessions match these filters.",
        hint="Widen the filters in the sidebar.",
    )
    st.stop()

t = view.tiles(filters)
window = view.window_label(filters)
widgets.wrap_metric_labels()
cols = st.columns(6)
cols[0].metric(
    f"Completed dosing sessions ({window})",
    redact.count_label(t.dosing_sessions),
    help="Completed dosing sessions in the filters.",
)
cols[1].metric(f"Patients dosed ({window})", redact.count_label(t.patients_dosed))
cols[2].metric(
    f"Adverse events per 100 dosing sessions ({window})",
    f"{100 * t.events / t.dosing_sessions:.1f}",
    help="An adverse event is one side-effect term recorded on one completed dosing session, "
    "counted once. The Overview's tile of the same name counts the last 30 days.",
)
cols[3].metric(
    f"Dosing sessions with a BP excursion ({window})", redact.count_label(t.excursion_sessions)
)
cols[4].metric(f"Serious adverse events ({window})", redact.count_label(t.serious_events))
cols[5].metric(
    "Patients needing attention (now)",
    redact.count_label(t.attention_patients),
    help="Active patients on the alerts worklist below, whatever the dates. Inactive patients "
    "(no completed session for the days set by KAPVIZ_INACTIVE_DAYS) are listed apart below.",
)
inactive_note = worklist.inactive_note(t.inactive_patients)
if inactive_note:
    cols[5].caption(inactive_note)

# --- Alerts worklist --------------------------------------------------------------------
st.subheader("Alerts: patients who need attention now")
work = worklist.worklist(filters)
lookback = view.lookback_days()
st.caption(
    f"In order: serious adverse events in the last {lookback} days; PHQ-9 item 9 above 0 on "
    "the patient's latest PHQ-9 that has item answers (any date; a later total-only PHQ-9 "
    f"does not clear it and is named); BP excursions, severe side effects, urinary and "
    f"cognitive complaints in the last {lookback} days. Newest first within each. Alerts "
    "ignore the date filter. " + worklist.new_since_note(work.previous_visit)
)
if work.active.empty:
    st.success("No open alerts for active patients.", icon=":material/check_circle:")
else:
    worklist.worklist_table(work)
if not work.inactive.empty:
    inactive = redact.count_label(work.inactive["patient_id"].nunique())
    with st.expander(
        f"Inactive patients with alerts: {inactive}"
        f" (no completed session in the last {worklist.inactive_days()} days)",
        expanded=False,
    ):
        worklist.inactive_table(work.inactive)
with st.expander("Thresholds in force"):
    st.dataframe(view.thresholds(), hide_index=True, key="safety_thresholds")

# --- Side-effect frequency and severity ------------------------------------------------
st.subheader("Side effects")
redact.suppression_caption()
if view.rates(filters).empty:
    widgets.empty_state("No side effects recorded on these dosing sessions.")
else:
    left, right = st.columns([3, 2])
    with left:
        kind_label = st.segmented_control(
            "Rate", ["Patients", "Sessions"], default="Patients", key="safety_rate_kind"
        )
        kind = "session" if kind_label == "Sessions" else "patient"
        reference = st.toggle(
            "Esketamine label trial figures (TRD, short-term pooled)",
            value=True,
            key="safety_reference",
            disabled=kind != "patient",
            help="Trial reference markers compare % of patients only.",
        )
        choice = view.FigureChoice(rate=view.Rate(kind), reference=reference)
        st.plotly_chart(
            view.figure(filters, view.Figure.FREQUENCY, choice), theme=None, key="safety_freq"
        )
    with right:
        st.plotly_chart(
            view.figure(filters, view.Figure.SEVERITY, view.FigureChoice(rate=view.Rate(kind))),
            theme=None,
            key="safety_severity",
        )
    st.plotly_chart(
        view.figure(
            filters,
            view.Figure.HEATMAP,
            view.FigureChoice(max_number=view.heatmap_max_number(filters)),
        ),
        theme=None,
        key="safety_heatmap",
    )
    by = st.segmented_control(
        "Compare session rates by",
        list(view.GROUPINGS),
        default="Route",
        key="safety_by",
    )
    by_group = view.rates_by(filters, by or "Route")
    st.dataframe(
        by_group,
        hide_index=True,
        key="safety_rates_by",
        column_config={
            "Side effect": st.column_config.TextColumn(pinned=True),
            **{c: st.column_config.NumberColumn(format="%.1f%%") for c in by_group.columns[1:]},
        },
    )
    st.caption("% of completed dosing sessions in each group with ≥1 record of the effect.")
    st.plotly_chart(view.figure(filters, view.Figure.LONG_TERM), theme=None, key="safety_long_term")

# --- Blood pressure -------------------------------------------------------------------
st.subheader("Blood pressure")
left, right = st.columns([3, 2])
with left:
    st.plotly_chart(view.figure(filters, view.Figure.BP), theme=None, key="safety_bp")
with right:
    st.metric("Sessions with an excursion", redact.count_label(t.excursion_sessions))
    st.metric("Sessions with a large rise", redact.count_label(t.rise_sessions))
    st.metric("Sessions needing pre-dose review", redact.count_label(t.predose_review_sessions))
evidence_view.bp_reference(filters)
flagged = redact.deidentify(view.excursions(filters))
if not flagged.empty:
    st.dataframe(
        flagged,
        hide_index=True,
        key="safety_excursions",
        column_order=[
            "started_at",
            "patient_id",
            "route",
            "pre_systolic",
            "pre_diastolic",
            "max_systolic",
            "max_diastolic",
            "rise_systolic",
            "rise_diastolic",
            "is_excursion",
            "is_rise",
            "needs_predose_review",
            "link",
        ],  # fmt: skip
        column_config={
            "started_at": st.column_config.DatetimeColumn(
                "Session", format="YYYY-MM-DD HH:mm", pinned=True
            ),
            "patient_id": st.column_config.TextColumn("Patient", pinned=True),
            "route": "Route",
            "pre_systolic": st.column_config.NumberColumn("Pre SBP", format="%d"),
            "pre_diastolic": st.column_config.NumberColumn("Pre DBP", format="%d"),
            "max_systolic": st.column_config.NumberColumn("Max SBP", format="%d"),
            "max_diastolic": st.column_config.NumberColumn("Max DBP", format="%d"),
            "rise_systolic": st.column_config.NumberColumn("Rise SBP", format="%+d"),
            "rise_diastolic": st.column_config.NumberColumn("Rise DBP", format="%+d"),
            "is_excursion": st.column_config.CheckboxColumn("Excursion"),
            "is_rise": st.column_config.CheckboxColumn("Large rise"),
            "needs_predose_review": st.column_config.CheckboxColumn("Pre-dose review"),
            "link": st.column_config.LinkColumn("Case", display_text="open case"),
        },
    )

# --- Adverse events over time ------------------------------------------------------------
st.subheader("Adverse events over time")
st.plotly_chart(
    view.figure(filters, view.Figure.U, view.FigureChoice(today=view.last_day(filters))),
    theme=None,
    key="safety_u",
)
out = int(view.u_chart(filters)["is_out"].sum())
st.caption(
    "u-chart: centre line = all events ÷ all sessions; limits ±3σ for each month's sessions. "
    + (f"{out} month(s) outside the limits." if out else "No month outside the limits.")
)

# --- Sedation, dissociation, monitoring -----------------------------------------------------
st.subheader("Sedation, dissociation and monitoring")
cols = st.columns(4)
counts = view.totals(filters)
sed = counts.sedation
cols[0].metric(
    "Sedation flags (MOAA/S)",
    f"{sed['sedation']:,}",
    help="MOAA/S at or below the sedation threshold during a dosing session",
)
cols[1].metric("Loss of consciousness", f"{sed['loss_of_consciousness']:,}")
cols[2].metric(
    "Esketamine: short monitoring",
    f"{counts.short_monitoring:,}",
    help="Observation shorter than the REMS minimum",
)
cols[3].metric("Esketamine: not recorded", f"{counts.unrecorded_monitoring:,}")
st.caption(
    f"Of {sed['scores']:,} MOAA/S scores taken during dosing sessions (0 = loss of consciousness) "
    f"and {counts.esketamine_sessions:,} completed esketamine sessions."
)
cadss = view.cadss(filters)
if not cadss.empty:
    st.markdown("**CADSS dissociation by dose number** (0–92, higher = more dissociation)")
    redact.aggregate_table(
        cadss,
        counts=["n"],
        blank=["mean", "ci_low", "ci_high", "median"],
        download="cadss-by-dose-number.csv",
        hide_index=True,
        key="safety_cadss",
        column_config={
            "session_number": st.column_config.NumberColumn("Dose number"),
            "n": st.column_config.NumberColumn("Scores"),
            "mean": st.column_config.NumberColumn("Mean", format="%.1f"),
            "ci_low": st.column_config.NumberColumn("95% CI low", format="%.1f"),
            "ci_high": st.column_config.NumberColumn("95% CI high", format="%.1f"),
            "median": st.column_config.NumberColumn("Median", format="%.1f"),
        },
    )
widgets.filters_caption(filters)
