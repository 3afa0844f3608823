"""The programme report for boards and funders: tables built once, written as PDF or Excel.

`build_report` reads the clinic data in scope (sites, date range) and computes every table
with the same metrics the pages and `summary --json` use; `report_html` lays them out as a
few A4 pages (printed by kapviz.report.pdf) and `report_xlsx` writes the same tables, one
per sheet, numbers as numbers. Small counts are shown as "<11" when `suppress` is set
(the viewer's rule; the command line acts as a director unless told to suppress).
"""

from __future__ import annotations

import html
import io
import math
from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd
import plotly.graph_objects as go
from openpyxl import Workbook
from sqlalchemy import Connection, Engine

from kapviz import instruments, privacy
from kapviz.charts.safety import u_chart as u_chart_figure
from kapviz.charts.time_to_response import ALL_COURSES, response_curves
from kapviz.config import Settings
from kapviz.db import queries
from kapviz.db.aggregates import program as program_sql
from kapviz.domain import PHASE_LABELS, PHASES, ROUTE_LABELS
from kapviz.evidence import registry
from kapviz.evidence.clinic import clinic_figure
from kapviz.filters import Filters
from kapviz.metrics import program
from kapviz.metrics.course_attributes import course_first_doses
from kapviz.metrics.monitoring import sedation_flags, u_chart
from kapviz.metrics.outcomes import course_outcomes, outcome_rates, reason_no_baseline
from kapviz.metrics.quality import PRE_DOSE_WINDOW_DAYS
from kapviz.metrics.safety import serious_events
from kapviz.metrics.scores import completed_doses
from kapviz.metrics.side_effects import effect_rates
from kapviz.metrics.time_to_response import TimeToResponseUnknown, response_times
from kapviz.metrics.time_to_response import time_to_response as km
from kapviz.metrics.vitals import session_vitals

LONG_TERM_TERMS = ("urinary symptoms", "cognitive impairment")
MEASURE_LABELS = (
    ("response", "response"),
    ("remission", "remission"),
    ("reliable_improvement", "reliable improvement"),
    ("reliable_deterioration", "reliable deterioration"),
)


@dataclass(frozen=True)
class Table:
    """One table of the report: its title, a note in words and the frame (numbers)."""

    title: str
    frame: pd.DataFrame
    note: str = ""
    counts: tuple[str, ...] = ()
    """Count columns that small-cell suppression applies to."""
    blank: tuple[str, ...] = ()
    """Columns hidden in a row whose count is suppressed (a rate of three people)."""
    blank_when: tuple[str, ...] = ()
    """The counts whose suppression hides `blank` (default: any of `counts`)."""
    percent: tuple[str, ...] = ()
    """Fraction columns shown as percentages."""
    in_pdf: bool = True
    """False: in the workbook only (the PDF draws it as a figure instead)."""
    sheet: str = ""
    """The workbook sheet's name when the title is too long for one (31 characters)."""


@dataclass(frozen=True)
class ProgrammeReport:
    """Everything the report shows, in page order."""

    generated_at: datetime
    filters: Filters
    data_from: date | None
    data_to: date | None
    suppressed: bool
    threshold: int
    sections: dict[str, list[Table]]
    methods: list[str]
    figures: dict[str, go.Figure] = field(default_factory=dict)
    headline: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per instrument: response_rate, remission_rate (fractions) as in summary --json."""


def _rate_pair(k: int, n: int) -> str:
    return f"{k} of {n}"


def build_report(
    engine: Engine,
    *,
    filters: Filters,
    settings: Settings,
    suppress: bool = False,
    now: datetime | None = None,
) -> ProgrammeReport:
    """Read the data in scope and compute every table of the report."""
    now = now or datetime.now()
    with engine.connect() as conn:
        sessions = queries.sessions(conn, filters)
        patients = queries.patients(conn, filters)
        assessments = queries.assessments(
            conn, filters, instruments=[*instruments.OUTCOME_INSTRUMENTS, "MOAA/S"]
        )
        side_effects = queries.side_effects(conn, filters)
        vitals = queries.vitals(conn, filters)
        funnel = program.funnel_frame(program_sql.funnel_counts(conn, filters))
        started = pd.to_datetime(sessions["started_at"]) if len(sessions) else pd.Series([])
        data_from = started.min().date() if len(started) else None
        data_to = started.max().date() if len(started) else None
        completion = _completion(conn, filters, data_from, data_to)
    window = settings.baseline_window_days
    outcomes = course_outcomes(sessions, assessments, baseline_window_days=window)
    doses = completed_doses(sessions)
    rates = outcome_rates(outcomes)

    sections = {
        "Volume and treatment funnel": _volume(patients, sessions, funnel),
        "Outcomes": _outcomes(rates, outcomes, doses, sessions, window),
        "Time to first response": [_time_to_response(outcomes, doses)],
        "Safety": _safety(sessions, side_effects, vitals, assessments, settings),
        "Measurement completion": [completion],
    }
    headline = {
        row["instrument"]: {
            "response_rate": row["response_rate"],
            "remission_rate": row["remission_rate"],
        }
        for row in rates.to_dict("records")
    }
    figures = {}
    curve = _response_curve(outcomes, doses)
    if curve is not None:
        figures["time_to_response"] = curve
    u = u_chart(sessions, side_effects)
    if len(u):
        figures["u_chart"] = u_chart_figure(u)
    return ProgrammeReport(
        generated_at=now,
        filters=filters,
        data_from=data_from,
        data_to=data_to,
        suppressed=suppress,
        threshold=settings.small_cell_threshold,
        sections=sections,
        methods=methods(settings, suppress=suppress),
        figures=figures,
        headline=headline,
    )


def _volume(patients: pd.DataFrame, sessions: pd.DataFrame, funnel: pd.DataFrame) -> list[Table]:
    done = sessions[sessions["status"] == "completed"]
    by_phase = done["phase"].value_counts()
    volume = pd.DataFrame(
        {
            "measure": [
                "Patients (referred)",
                "Courses with a session",
                *[PHASE_LABELS[p] for p in PHASES],
            ],
            "count": [
                int(len(patients)),
                int(sessions["course_id"].nunique()),
                *[int(by_phase.get(p, 0)) for p in PHASES],
            ],
        }
    )
    dosing = done[done["phase"] == "dosing"]
    routes = (
        dosing["route"]
        .map(lambda r: ROUTE_LABELS.get(r, r) if isinstance(r, str) else "not recorded")
        .value_counts()
        .rename_axis("route")
        .reset_index(name="dosing sessions")
    )
    return [
        Table(
            "Volume",
            volume,
            "Completed sessions per phase; courses of the patients in scope.",
            counts=("count",),
        ),
        Table("Dosing sessions by route", routes, counts=("dosing sessions",)),
        Table(
            "Treatment funnel (patients)",
            funnel,
            "Referred → intake completed → eligible → first dose → course completed; "
            "each step counts patients who reached the one before.",
            counts=("patients",),
            blank=("lost",),
            percent=("lost",),
        ),
    ]


def _outcomes(
    rates: pd.DataFrame,
    outcomes: pd.DataFrame,
    doses: pd.DataFrame,
    sessions: pd.DataFrame,
    window: int,
) -> list[Table]:
    rows, refs = [], []
    first = (
        course_first_doses(sessions)
        if len(sessions)
        else pd.DataFrame(columns=["course_id", "route"])
    )
    evaluability = []
    for r in rates.to_dict("records"):
        evaluability.append(
            {
                "instrument": r["instrument"],
                "courses": r["courses"],
                "evaluable": r["evaluable"],
                "no dose": r["not_evaluable_no_dose"],
                "no baseline": r["not_evaluable_no_baseline"],
                "no endpoint": r["not_evaluable_no_endpoint"],
                "baseline mean": r["baseline_mean"],
                "endpoint mean": r["endpoint_mean"],
                "mean change": r["mean_change"],
            }
        )
        for m, label in MEASURE_LABELS:
            rows.append(
                {
                    "instrument": r["instrument"],
                    "measure": label,
                    "courses": r[f"{m}_n"],
                    "of": r[f"{m}_denominator"],
                    "rate": r[f"{m}_rate"],
                    "95% CI low": r[f"{m}_ci_low"],
                    "95% CI high": r[f"{m}_ci_high"],
                }
            )
        figures = {
            measure: clinic_figure(
                outcomes, doses, first, instrument=r["instrument"], measure=measure
            )
            for measure in ("response", "remission")
        }
        matched = {m: registry.matching(f) for m, f in figures.items()}
        for measure, found in matched.items():
            for ref in found:
                refs.append(
                    {
                        "instrument": r["instrument"],
                        "measure": measure,
                        "clinic rate": r[f"{measure}_rate"],
                        "clinic n": r[f"{measure}_denominator"],
                        "published": ref.value,
                        "reference": ref.line(),
                    }
                )
        if not any(matched.values()):
            why = registry.why_none(figures["response"], measures=("response", "remission"))
            if why:
                refs.append(
                    {
                        "instrument": r["instrument"],
                        "measure": "response, remission",
                        "clinic rate": math.nan,
                        "clinic n": math.nan,
                        "published": math.nan,
                        "reference": why,
                    }
                )
    return [
        Table(
            "Evaluable courses",
            pd.DataFrame(
                evaluability,
                columns=[
                    "instrument",
                    "courses",
                    "evaluable",
                    "no dose",
                    "no baseline",
                    "no endpoint",
                    "baseline mean",
                    "endpoint mean",
                    "mean change",
                ],
            ),
            "Courses with a score of the instrument. Not evaluable: no completed dose, "
            f"{reason_no_baseline(window)}, or no score after the first dose. Means of the "
            "evaluable courses (instrument totals, higher is worse).",
            counts=("courses", "evaluable", "no dose", "no baseline", "no endpoint"),
            blank=("baseline mean", "endpoint mean", "mean change"),
            blank_when=("evaluable",),  # the means are of the evaluable courses
        ),
        Table(
            "Outcome rates",
            pd.DataFrame(
                rows,
                columns=[
                    "instrument",
                    "measure",
                    "courses",
                    "of",
                    "rate",
                    "95% CI low",
                    "95% CI high",
                ],
            ),
            "95% Wilson intervals; each rate has its own denominator (response: evaluable "
            "courses with a defined response; remission: evaluable courses not in remission "
            "at baseline; reliable change: all evaluable courses, instruments with a "
            "Jacobson–Truax threshold).",
            counts=("courses", "of"),
            blank=("rate", "95% CI low", "95% CI high"),
            percent=("rate", "95% CI low", "95% CI high"),
        ),
        Table(
            "Beside published figures",
            pd.DataFrame(
                refs,
                columns=[
                    "instrument",
                    "measure",
                    "clinic rate",
                    "clinic n",
                    "published",
                    "reference",
                ],
            ),
            "A published figure is shown only for the same instrument, a comparable route "
            "and time point; context, never a target.",
            counts=("clinic n",),
            blank=("clinic rate",),
            percent=("clinic rate", "published"),
        ),
    ]


def _time_to_response(outcomes: pd.DataFrame, doses: pd.DataFrame) -> Table:
    rows = []
    for instrument_id in instruments.OUTCOME_INSTRUMENTS:
        mine = outcomes[outcomes["instrument"] == instrument_id]
        if not mine["evaluable"].astype(bool).any():
            continue
        try:
            result = km(response_times(mine, doses))
        except TimeToResponseUnknown:
            continue
        d, k = result.days, result.doses
        rows.append(
            {
                "instrument": instrument_id,
                "courses": d.courses,
                "responders": d.responders,
                "median days": _num(d.median),
                "days CI low": _num(d.median_ci[0]),
                "days CI high": _num(d.median_ci[1]),
                "median dosing session": _num(k.median),
                "sessions CI low": _num(k.median_ci[0]),
                "sessions CI high": _num(k.median_ci[1]),
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "instrument",
            "courses",
            "responders",
            "median days",
            "days CI low",
            "days CI high",
            "median dosing session",
            "sessions CI low",
            "sessions CI high",
        ],
    )
    return Table(
        "Time to first response (Kaplan–Meier)",
        frame,
        "Days (and completed dosing sessions) from the first dose to the first score meeting "
        "the response rule; courses that never respond are censored at their last score. "
        "Median: first time at which half have responded; 95% CI Brookmeyer–Crowley. Empty: "
        "not reached.",
        sheet="Time to first response",
        counts=("courses", "responders"),
        blank=(
            "median days",
            "days CI low",
            "days CI high",
            "median dosing session",
            "sessions CI low",
            "sessions CI high",
        ),
    )


def _response_curve(outcomes: pd.DataFrame, doses: pd.DataFrame) -> go.Figure | None:
    """The Kaplan–Meier curve of the first outcome instrument with courses in it."""
    for instrument_id in instruments.OUTCOME_INSTRUMENTS:
        mine = outcomes[outcomes["instrument"] == instrument_id]
        if not mine["evaluable"].astype(bool).any():
            continue
        try:
            result = km(response_times(mine, doses), group=ALL_COURSES)
        except TimeToResponseUnknown:
            return None
        if result.days.courses:
            return response_curves(
                [], overall=result, scale="days", title=f"{instrument_id}: time to first response"
            )
    return None


def _num(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _safety(
    sessions: pd.DataFrame,
    side_effects: pd.DataFrame,
    vitals: pd.DataFrame,
    assessments: pd.DataFrame,
    settings: Settings,
) -> list[Table]:
    u = u_chart(sessions, side_effects)
    events = int(u["events"].sum()) if len(u) else 0
    dosing = int(u["dosing_sessions"].sum()) if len(u) else 0
    bp = session_vitals(sessions, vitals, settings=settings)
    sedation = sedation_flags(assessments, settings=settings)
    effects = effect_rates(sessions, side_effects)
    long_term = effects[effects["term"].isin(LONG_TERM_TERMS)]
    summary = pd.DataFrame(
        {
            "measure": [
                "Completed dosing sessions",
                "Adverse events",
                "Adverse events per 100 dosing sessions",
                "Serious adverse events",
                "Sessions with a BP excursion",
                "Sessions with a large BP rise",
                "MOAA/S sedation flags",
                "Loss of consciousness (MOAA/S 0)",
            ],
            "value": pd.Series(
                [
                    dosing,
                    events,
                    100 * events / dosing if dosing else math.nan,
                    serious_events(sessions, side_effects),
                    int(bp["is_excursion"].sum()),
                    int(bp["is_rise"].sum()),
                    int(sedation["is_sedation"].sum()),
                    int(sedation["is_loss_of_consciousness"].sum()),
                ],
                dtype=object,  # counts stay whole numbers beside the one rate
            ),
        }
    )
    monthly = u[["month", "events", "dosing_sessions", "rate", "centre", "ucl", "lcl", "is_out"]]
    monthly = monthly.assign(month=pd.to_datetime(monthly["month"]).dt.strftime("%Y-%m")).rename(
        columns={"dosing_sessions": "dosing sessions", "is_out": "outside limits"}
    )
    lt = pd.DataFrame(
        {
            "complaint": long_term["term"].to_numpy(),
            "sessions": long_term["sessions"].astype(int).to_numpy(),
            "patients": long_term["patients"].astype(int).to_numpy(),
            "patient rate": long_term["patient_rate"].astype(float).to_numpy(),
        }
    )
    return [
        Table(
            "Safety summary",
            summary,
            f"Excursion: any reading ≥ {settings.bp_excursion_systolic} systolic or "
            f"≥ {settings.bp_excursion_diastolic} diastolic; large rise: > "
            f"{settings.bp_rise_systolic}/{settings.bp_rise_diastolic} mmHg over pre-dose; "
            f"sedation: MOAA/S ≤ {settings.sedation_moaas_max}.",
        ),
        Table(
            "Adverse events per 100 dosing sessions by month (u-chart)",
            monthly,
            "Centre line = all events ÷ all sessions; limits ±3σ for each month's sessions.",
            sheet="Adverse events by month",
            counts=("events", "dosing sessions"),
            blank=("rate",),
            in_pdf=False,
        ),
        Table(
            "Long-term complaints",
            lt,
            "Urinary (bladder) symptoms and cognitive complaints, which grow with cumulative "
            "dose; patients with ≥1 record among dosed patients.",
            counts=("sessions", "patients"),
            blank=("patient rate",),
            percent=("patient rate",),
        ),
    ]


def _completion(conn: Connection, filters: Filters, start: date | None, end: date | None) -> Table:
    rows = []
    if start is not None and end is not None:
        begin = datetime.combine(start, datetime.min.time())
        stop = datetime.combine(end, datetime.max.time())
        for instrument_id in (instruments.PHQ9.id, instruments.GAD7.id):
            measured, total = program.measurement_completion(
                program_sql.measurement_by_course(
                    conn, filters, start=begin, end=stop, instrument=instrument_id
                )
            )
            rows.append(
                {
                    "instrument": instrument_id,
                    "dosing sessions": total,
                    "with a recent score": measured,
                    "share": measured / total if total else math.nan,
                }
            )
    return Table(
        "Measurement completion",
        pd.DataFrame(
            rows, columns=["instrument", "dosing sessions", "with a recent score", "share"]
        ),
        f"Completed dosing sessions with a score of the instrument in the "
        f"{PRE_DOSE_WINDOW_DAYS} days before the session's start.",
        counts=("dosing sessions", "with a recent score"),
        blank=("share",),
        percent=("share",),
    )


def methods(settings: Settings, *, suppress: bool) -> list[str]:
    """The rules, windows and thresholds in force, in words."""
    lines = [
        "First dose: the start of a course's first completed dosing session. Only completed "
        "sessions count in any denominator.",
        f"Baseline: the latest score on or before the first dose and no more than "
        f"{settings.baseline_window_days} days before it. Endpoint: the latest score after "
        "the first dose within the course. Evaluable: both exist.",
    ]
    for instrument_id in instruments.OUTCOME_INSTRUMENTS:
        inst = instruments.get(instrument_id)
        rule = (
            f"a drop of at least {inst.response_threshold:g} points"
            if inst.response_kind == "points"
            else f"a reduction of at least {inst.response_threshold:.0%}"
        )
        reliable = inst.reliable_change_threshold()
        rc = f"; reliable change ≥ {reliable:.2f} points (Jacobson–Truax)" if reliable else ""
        lines.append(
            f"{instrument_id}: response = {rule} from baseline; remission = endpoint ≤ "
            f"{inst.remission_max}{rc}."
        )
    lines += [
        "Time to first response: Kaplan–Meier from the first dose, censored at the last "
        "score; percent rules count evaluable courses with baseline > 0.",
        f"Blood pressure: pre-dose review at ≥ {settings.bp_review_systolic}/"
        f"{settings.bp_review_diastolic}; excursion at ≥ {settings.bp_excursion_systolic} "
        f"systolic or ≥ {settings.bp_excursion_diastolic} diastolic; large rise > "
        f"{settings.bp_rise_systolic} systolic or > {settings.bp_rise_diastolic} diastolic.",
        f"Sedation: MOAA/S ≤ {settings.sedation_moaas_max}; esketamine observation under "
        f"{settings.esketamine_min_monitoring_min} min is flagged.",
        "Intervals: 95% Wilson for proportions; Brookmeyer–Crowley for medians.",
        (
            f"Small cells: counts from 1 to {settings.small_cell_threshold - 1} are shown as "
            f"'<{settings.small_cell_threshold}' and the rates of those rows left out."
            if suppress
            else "Small cells: not suppressed (report for the programme's director)."
        ),
    ]
    return lines


# --- Suppression ---------------------------------------------------------------------------


def shown(table: Table, *, suppress: bool, threshold: int) -> pd.DataFrame:
    """The table as printed: small counts as "<threshold" and their rows' rates blanked."""
    frame = table.frame
    counts = [c for c in table.counts if c in frame.columns]
    if not suppress or not counts or frame.empty:
        return frame
    missing = frame[counts].isna()
    filled = frame.assign(**{c: frame[c].fillna(0) for c in counts})  # blank is not small
    mask = privacy.suppression_mask(
        filled, threshold=threshold, columns=counts, complementary=False
    )
    out = privacy.suppress_small_cells(
        filled, threshold=threshold, columns=counts, complementary=False
    )
    for column in counts:
        out[column] = out[column].astype(object).where(~missing[column], None)
    triggers = [c for c in table.blank_when if c in counts] or counts
    hidden = mask[triggers].any(axis=1)
    for column in table.blank:
        if column in out.columns:
            out[column] = out[column].astype(object).where(~hidden, None)
    return out


# --- HTML for the PDF ------------------------------------------------------------------------

CSS = """
@page { size: A4; margin: 12mm; }
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 9.5px; color: #222; }
h1 { font-size: 18px; margin: 0 0 4px 0; }
h2 { font-size: 13px; margin: 0 0 6px 0; border-bottom: 1px solid #999; }
h3 { font-size: 11px; margin: 10px 0 3px 0; }
.break { break-before: page; page-break-before: always; height: 0; }
.meta, .note { color: #555; }
table { border-collapse: collapse; width: 100%; margin: 2px 0 4px 0; }
td, th { border: 1px solid #ccc; padding: 1px 3px; text-align: right; vertical-align: top; }
td:first-child, th:first-child { text-align: left; }
td.text { text-align: left; }
th { background: #eef0f3; text-align: left; }
ul { margin: 2px 0; padding-left: 16px; }
"""

PAGES = (
    ("Volume and treatment funnel",),
    ("Outcomes",),
    ("Time to first response", "Measurement completion"),
    ("Safety",),
)
"""Sections per A4 page; the methods close the last page."""


def _cell(value: object, *, percent: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{100 * value:.1f}%" if percent else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


def _html_table(table: Table, report: ProgrammeReport) -> str:
    frame = shown(table, suppress=report.suppressed, threshold=report.threshold)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, row, strict=True):
            value = value.item() if hasattr(value, "item") else value
            css = ' class="text"' if isinstance(value, str) else ""
            cells.append(f"<td{css}>{_cell(value, percent=column in table.percent)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    rows = "".join(body) or f'<tr><td colspan="{len(frame.columns)}">none</td></tr>'
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    return f"<h3>{html.escape(table.title)}</h3><table><tr>{head}</tr>{rows}</table>{note}"


def _headline(report: ProgrammeReport) -> str:
    parts = []
    for instrument_id, values in report.headline.items():
        r, m = values["response_rate"], values["remission_rate"]
        if isinstance(r, float) and not math.isnan(r):
            text = f"{instrument_id} response {100 * r:.1f}%"
            if isinstance(m, float) and not math.isnan(m):
                text += f", remission {100 * m:.1f}%"
            parts.append(text)
    return "; ".join(parts)


PAGE_BREAK = '<div class="break"></div>'
FIGURE_OF_SECTION = {"Time to first response": "time_to_response", "Safety": "u_chart"}


def _figure_html(figure: go.Figure, *, first: bool) -> str:
    """A figure sized and lettered for print (a copy; the report keeps its own)."""
    fig = go.Figure(figure)
    fig.update_layout(
        width=720,
        height=min(int(fig.layout.height or 330), 460),
        font={"size": 10},
        title={"font": {"size": 12}},
        margin={"l": 70, "r": 10, "t": 80, "b": max(70, int(fig.layout.margin.b or 0))},
    )
    fig.update_yaxes(title_standoff=6)
    return fig.to_html(full_html=False, include_plotlyjs=first, config={"staticPlot": True})


def report_html(report: ProgrammeReport) -> str:
    """Self-contained HTML of the report, one section per A4 page."""
    span = f"{report.data_from} to {report.data_to}" if report.data_from else "no sessions in scope"
    pages, plotted = [], False
    for number, names in enumerate(PAGES):
        parts = []
        if number == 0:
            parts.append(
                "<h1>Programme report</h1>"
                f'<p class="meta">Data from {span}; as of '
                f"{report.generated_at:%Y-%m-%d %H:%M}. Scope: "
                f"{html.escape(report.filters.describe())}.</p>"
            )
            if report.headline:
                parts.append(f"<p><b>{html.escape(_headline(report))}.</b></p>")
        for name in names:
            parts.append(f"<h2>{html.escape(name)}</h2>")
            parts += [_html_table(t, report) for t in report.sections[name] if t.in_pdf]
            figure = report.figures.get(FIGURE_OF_SECTION.get(name, ""))
            if figure is not None:
                parts.append(_figure_html(figure, first=not plotted))
                plotted = True
        if number == len(PAGES) - 1:
            parts.append("<h2>Methods</h2><ul>")
            parts += [f"<li>{html.escape(line)}</li>" for line in report.methods]
            parts.append("</ul>")
        pages.append('<section class="page">' + "".join(parts) + "</section>")
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Programme report</title>'
        f"<style>{CSS}</style></head><body>{PAGE_BREAK.join(pages)}</body></html>"
    )


def report_figures(report: ProgrammeReport) -> int:
    """How many plotly figures the HTML holds (the PDF printer waits for them)."""
    return len(report.figures)


# --- Excel -------------------------------------------------------------------------------------


def _sheet_name(title: str, used: set[str]) -> str:
    name = "".join(ch for ch in title if ch not in "[]:*?/\\")[:31]
    base, i = name, 2
    while name in used:
        name = f"{base[:28]} {i}"
        i += 1
    used.add(name)
    return name


def report_xlsx(report: ProgrammeReport) -> bytes:
    """The report's tables, one per sheet, plus an "About" sheet (scope, dates, methods).

    Numbers are written as numbers (percentages as fractions with a % format), text as
    text: a value starting with "=" is stored as a string, never a formula.
    """
    book = Workbook()
    about = book.active
    about.title = "About"
    span = f"{report.data_from} to {report.data_to}" if report.data_from else ""
    for row in (
        ("Programme report",),
        ("Data from", span),
        ("As of", report.generated_at.strftime("%Y-%m-%d %H:%M")),
        ("Scope", report.filters.describe()),
        ("Small cells suppressed", "yes" if report.suppressed else "no"),
        (),
        ("Methods",),
        *[(line,) for line in report.methods],
    ):
        _append(about, list(row), percent=set())
    used = {"About"}
    for tables in report.sections.values():
        for table in tables:
            sheet = book.create_sheet(_sheet_name(table.sheet or table.title, used))
            frame = shown(table, suppress=report.suppressed, threshold=report.threshold)
            _append(sheet, [str(c) for c in frame.columns], percent=set())
            percent = {i for i, c in enumerate(frame.columns) if c in table.percent}
            for values in frame.itertuples(index=False):
                _append(sheet, list(values), percent=percent)
            if table.note:
                _append(sheet, [], percent=set())
                _append(sheet, [table.note], percent=set())
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _append(sheet, values: list, *, percent: set[int]) -> None:  # openpyxl
    row = sheet.max_row + 1 if sheet.max_row > 1 or sheet["A1"].value is not None else 1
    for i, value in enumerate(values):
        value = value.item() if hasattr(value, "item") else value
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        cell = sheet.cell(row=row, column=i + 1)
        if isinstance(value, bool):
            cell.value = value
        elif isinstance(value, int | float):
            cell.value = value
            if i in percent:
                cell.number_format = "0.0%"
        else:
            cell.value = str(value)
            cell.data_type = "s"  # text stays text, even when it starts with "="
