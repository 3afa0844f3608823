"""Trajectories: how symptom scores move through preparation, dosing and integration."""

import streamlit as st

from kapviz import instruments
from kapviz.metrics import trajectory_tables
from kapviz.metrics.trajectory_tables import CohortMeasure
from kapviz.ui import clinicians as clinician_view
from kapviz.ui import course_counts, data, page, redact, widgets
from kapviz.ui import outcome_context as context_view
from kapviz.ui import trajectories as view
from kapviz.ui.db import settings

filters = page.setup(
    "Trajectories",
    "Symptom scores of the cohort through the course, with outcome rates by the rules stated "
    "under each tile.",
)
window = settings().baseline_window_days
outcomes = data.outcomes(filters)
present = set(outcomes["instrument"].unique())
available = [i for i in instruments.OUTCOME_INSTRUMENTS if i in present]
if not available:
    widgets.empty_state(
        "No symptom scores match these filters.", hint="Widen the filters in the sidebar."
    )
    st.stop()

left, mid, right = st.columns([3, 3, 2])  # room for "Days since first dose" at 1400 px
chosen = left.multiselect(
    "Instruments", available, default=available[:1], key="traj_instrument", bind="query-params"
)
axis_label = mid.segmented_control(
    "Time axis",
    ["Course phase", "Days since first dose"],
    default="Course phase",
    key="traj_axis",
    bind="query-params",
)
axis = "days" if axis_label == "Days since first dose" else "session"
measure_label = st.radio(
    "Cohort line",
    list(view.MEASURES),
    key="traj_measure",
    horizontal=True,
    help=view.MEASURE_HELP,
)
measure = view.MEASURES.get(measure_label, CohortMeasure.CHANGE)
with right:
    show_lines = st.toggle("Individual courses", value=True, key="traj_lines")
    show_model = st.toggle("Model-based trajectory", value=True, key="traj_model")
if not chosen:
    widgets.empty_state("Choose at least one instrument.")
    st.stop()

rates = view.rates(filters)
redact.suppression_caption()
for instrument in chosen:
    st.subheader(instruments.get(instrument).name)
    view.outcome_tiles(rates[rates["instrument"] == instrument].iloc[0], window_days=window)

    v = view.view(filters, instrument, axis)
    fitted = view.model(filters, instrument) if show_model else None
    fig = redact.deidentify_figure(
        view.trajectory_figure(
            filters,
            instrument,
            axis,
            show_lines=show_lines,
            show_model=show_model,
            measure=measure,
        )
    )
    event = st.plotly_chart(
        fig, theme=None, key=f"traj_chart_{instrument}", on_select="rerun", selection_mode="points"
    )
    picked = view.selected_customdata(fig, event, trace_prefix="Individual courses")
    if picked:
        st.switch_page("pages/case_explorer.py", query_params={"patient": picked[0][0]})
    notes = [view.composition_note(measure)]
    notes += view.model_notes(fitted, axis, measure) if fitted is not None else []
    if show_lines and redact.shows_ids():
        notes.append("Click a point of a course line to open that case in the Case explorer.")
    st.caption(" ".join(notes))
    st.caption(
        course_counts.counts_note(
            rates[rates["instrument"] == instrument].iloc[0],
            measure=measure,
            lines_total=v.lines_of(measure)[1],
            model_courses=fitted.n_courses if fitted is not None and fitted.ok else None,
            count=redact.count_label,
        )
    )
    with st.expander("Points, attrition and the numbers behind the chart"):
        redact.aggregate_table(
            view.points_table(v, measure),
            counts=["courses"],
            blank=["share", "mean", "ci_low", "ci_high", "median", "q1", "q3"],
            download=f"trajectory-{instrument}-{axis}.csv",
            key=f"traj_points_{instrument}",
            hide_index=True,
            column_config={
                "courses": st.column_config.NumberColumn("Courses", help="Contributing here"),
                "too_few": st.column_config.CheckboxColumn(
                    "Too few",
                    help=f"Fewer than {trajectory_tables.MIN_COURSES} courses: not a result",
                ),
                "share": st.column_config.NumberColumn(
                    "Retained",
                    format="%.0f%%",
                    help="Courses with a score here, % of courses with any score",
                ),
                "mean": st.column_config.NumberColumn("Mean", format="%.1f"),
                "ci_low": st.column_config.NumberColumn("95% CI low", format="%.1f"),
                "ci_high": st.column_config.NumberColumn("95% CI high", format="%.1f"),
            },
        )
        if fitted is not None and fitted.warnings:
            st.caption("Model fit messages: " + "; ".join(fitted.warnings))

    by = st.segmented_control(
        "Compare by", list(view.GROUPINGS), default="None", key=f"traj_by_{instrument}"
    )
    if view.GROUPINGS.get(by or "None"):
        st.plotly_chart(
            view.multiples_figure(filters, instrument, axis, by, measure),
            theme=None,
            key=f"traj_multiples_{instrument}",
        )

    context_view.trajectories_section(filters, instrument)
    mine = outcomes[outcomes["instrument"] == instrument]
    wf = redact.deidentify_figure(view.waterfall_figure(filters, instrument))
    wf_event = st.plotly_chart(
        wf,
        theme=None,
        key=f"traj_waterfall_{instrument}",
        on_select="rerun",
        selection_mode=("points", "box"),
    )
    selected = {c[1] for c in view.selected_customdata(wf, wf_event, trace_prefix="Courses")}
    table = mine[mine["course_id"].isin(selected)] if selected else mine
    if selected:
        st.caption(
            f"{len(selected)} course{'' if len(selected) == 1 else 's'} selected on the "
            "waterfall; clear the selection to see all."
        )
    else:
        st.caption(view.course_table_caption(table))
        table = table.head(view.MAX_TABLE_ROWS)
    redact.row_table(
        view.course_table(table),
        hide_index=True,
        key=f"traj_table_{instrument}",
        column_order=view.COURSE_TABLE_COLUMNS,
        column_config=view.course_table_config(),
    )
clinician_view.section(filters, chosen)
