"""Safety charts: side-effect frequency with Wilson CIs, severity mix, effect × dose number,
blood pressure over minutes from dose, the monthly u-chart and long-term complaints.

Inputs are the frames of `kapviz.metrics.side_effects`, `vitals` and `safety`; rates arrive
as fractions 0–1 and are drawn as percentages. Nothing is computed here beyond placing
points on the axis.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from kapviz.charts.partial import (
    StartDay,
    mark_partial_month,
    month_tick_step,
    partial_notes,
    partial_start,
)
from kapviz.charts.theme import PALETTE, SEVERITY_COLORS, TITLE_ONLY_TOP_PX, apply_theme
from kapviz.config import Settings
from kapviz.domain import SEVERITIES
from kapviz.metrics.periods import partial_month
from kapviz.vocabulary import REFERENCE_RATES

REFERENCE_NAME = "Esketamine label trial figures (TRD, short-term pooled)"
"""Legend name of the reference markers: they are trial figures, not this clinic's."""

REFERENCE_COLOR = "#000000"
BAR_COLOR = PALETTE[0]
MEASURE_COLORS: dict[str, str] = {"systolic": PALETTE[5], "diastolic": PALETTE[0]}
MINUTES_AXIS_TITLE = "Minutes from dose"
BP_AXIS_TITLE = "Blood pressure (mmHg)"
U_AXIS_TITLE = "Adverse events per 100 dosing sessions"
OUT_OF_LIMITS_COLOR = "#D7301F"
LEGEND_TOP_MARGIN = 95
"""Top margin (px) that fits the title above a one-row horizontal legend."""

RATE_KINDS: dict[str, str] = {"patient": "patients", "session": "dosing sessions"}
"""Which rate `side_effect_frequency` draws → the denominator it names."""


_LABEL_PLACES: dict[str, tuple[int, str, str]] = {
    "top left": (0, "left", "bottom"),
    "top right": (1, "right", "bottom"),
    "bottom left": (0, "left", "top"),
    "bottom right": (1, "right", "top"),
}


def hline(
    y: float,
    *,
    line: dict,
    text: str | None = None,
    position: str = "top right",
    font: dict | None = None,
) -> tuple[dict, list[dict]]:
    """The shape and label `Figure.add_hline` draws across the first subplot, as dicts.

    Why: each add_hline/add_vline call re-validates the figure's layout (~50 ms); the
    charts set their lines at once with `update_layout(shapes=…, annotations=…)`.
    """
    shape = {"type": "line", "line": line, "xref": "x domain", "x0": 0, "x1": 1}
    shape |= {"yref": "y", "y0": y, "y1": y}
    if text is None:
        return shape, []
    x, xanchor, yanchor = _LABEL_PLACES[position]
    note = {"text": text, "showarrow": False, "xref": "x domain", "x": x, "xanchor": xanchor}
    note |= {"yref": "y", "y": y, "yanchor": yanchor}
    if font is not None:
        note["font"] = font
    return shape, [note]


def vline(x: float, *, line: dict) -> dict:
    """The shape `Figure.add_vline` draws (no label) down the first subplot, as a dict."""
    return {"type": "line", "line": line, "xref": "x", "x0": x, "x1": x} | {
        "yref": "y domain",
        "y0": 0,
        "y1": 1,
    }


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r}, {g}, {b}, {alpha:.3f})"


def _themed(fig: go.Figure, title: str) -> go.Figure:
    """Apply the theme with room above the plot for both the title and the legend."""
    apply_theme(fig, title=title)
    fig.update_layout(
        margin={"t": LEGEND_TOP_MARGIN},
        title={"yref": "container", "y": 0.99, "yanchor": "top"},
        legend={"y": 1.01},
    )
    return fig


def _pct(values: pd.Series) -> np.ndarray:
    """Fractions 0–1 as percentages (floats, NaN kept)."""
    return values.astype("float64").to_numpy() * 100.0


def effect_order(rates: pd.DataFrame, *, kind: str = "patient", top: int | None = None) -> list:
    """Effects, most frequent first by the rate drawn (patients or sessions; ties: more
    sessions, then by name):
    the frequency bars and the severity chart beside them list effects in this one order."""
    if kind not in RATE_KINDS:
        raise ValueError(f"kind must be one of {sorted(RATE_KINDS)}, not {kind!r}")
    keys = list(dict.fromkeys([f"{kind}s", "sessions", "term"]))
    table = rates.sort_values(keys, ascending=[k == "term" for k in keys], kind="stable")
    terms = table["term"].tolist()
    return terms if top is None else terms[:top]


def side_effect_frequency(
    rates: pd.DataFrame, *, kind: str = "patient", reference: bool = True, top: int | None = None
) -> go.Figure:
    """Horizontal bars of % of patients (or dosing sessions) per effect with 95% Wilson CIs.

    `rates` is `effect_rates(...)`. With `reference` and `kind="patient"`, black markers show
    the esketamine label's % of patients (REFERENCE_RATES) for the effects it lists; the
    label counts patients, so no markers are drawn against session rates.
    """
    table = rates.set_index("term").loc[effect_order(rates, kind=kind, top=top)].reset_index()
    table = table.iloc[::-1]  # plotly draws the first category at the bottom
    rate = _pct(table[f"{kind}_rate"])
    low = _pct(table[f"{kind}_ci_low"])
    high = _pct(table[f"{kind}_ci_high"])
    denominator = RATE_KINDS[kind]
    total = "patients_dosed" if kind == "patient" else "dosing_sessions"
    fig = go.Figure(
        go.Bar(
            x=rate,
            y=table["term"].tolist(),
            orientation="h",
            name=f"This clinic: % of {denominator}",
            # A light bar, so the 95% CI whisker reads across it, not only beyond its end.
            marker={"color": _rgba(BAR_COLOR, 0.45), "line": {"color": BAR_COLOR, "width": 1}},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": high - rate,
                "arrayminus": rate - low,
                "color": "#1F2430",
                "thickness": 1.6,
                "width": 5,
            },
            customdata=np.column_stack([table[f"{kind}s"], table[total], low, high]),
            hovertemplate=(
                "%{y}: %{x:.1f}% (%{customdata[0]} of %{customdata[1]})"
                "<br>95% CI %{customdata[2]:.1f}–%{customdata[3]:.1f}%<extra></extra>"
            ),
        )
    )
    if reference and kind == "patient":
        by_term = {row.term: row for row in REFERENCE_RATES}
        shown = [t for t in table["term"] if t in by_term]
        if shown:
            fig.add_trace(
                go.Scatter(
                    x=[by_term[t].esketamine_pct for t in shown],
                    y=shown,
                    mode="markers",
                    name=REFERENCE_NAME,
                    marker={
                        "symbol": "line-ns-open",
                        "size": 18,
                        "color": REFERENCE_COLOR,
                        "line": {"width": 2.5, "color": REFERENCE_COLOR},
                    },
                    customdata=[by_term[t].placebo_pct for t in shown],
                    hovertemplate=(
                        "%{y}: %{x:g}% of patients on esketamine, %{customdata:g}% on placebo"
                        "<br>(label trial figures, TRD short-term pooled)<extra></extra>"
                    ),
                )
            )
    _themed(fig, f"Side effects: % of {denominator} with ≥1 record (95% CI)")
    fig.update_xaxes(title_text=f"% of {denominator}", rangemode="tozero", ticksuffix="%")
    fig.update_yaxes(title_text=None, showgrid=False)
    fig.update_layout(height=max(260, 60 + 26 * len(table)))
    return fig


def severity_stack(
    rates: pd.DataFrame, *, kind: str = "patient", top: int | None = None
) -> go.Figure:
    """Stacked horizontal bars: sessions with each effect by its highest severity that session.

    `rates` is `effect_rates(...)` (columns term, mild, moderate, severe); effects in the
    order of the frequency bars of the same `kind` (`effect_order`).
    """
    table = rates.set_index("term").loc[effect_order(rates, kind=kind, top=top)].reset_index()
    table = table.iloc[::-1]
    fig = go.Figure(
        [
            go.Bar(
                x=table[severity].to_numpy(),
                y=table["term"].tolist(),
                orientation="h",
                name=severity,
                marker_color=SEVERITY_COLORS[severity],
                hovertemplate=f"%{{y}}: %{{x}} sessions {severity}<extra></extra>",
            )
            for severity in SEVERITIES
        ]
    )
    _themed(fig, "Severity: sessions by the effect's highest severity")
    fig.update_layout(barmode="stack", height=max(260, 60 + 26 * len(table)))
    fig.update_xaxes(title_text="Dosing sessions", rangemode="tozero")
    fig.update_yaxes(title_text=None, showgrid=False)
    return fig


UPRIGHT_DOSES = 10
"""Up to this many dose columns, the heatmap's labels stand upright on two lines (15 overlapped
at 1024 px)."""


def effect_session_heatmap(by_number: pd.DataFrame, *, max_number: int | None = None) -> go.Figure:
    """Heatmap of % of dosing sessions with each effect (rows) by dose number (columns).

    `by_number` is `effect_rates_by(..., by="session_number")`; hover names the denominator.
    """
    table = by_number
    if max_number is not None:
        table = table[table["session_number"] <= max_number]
    z = table.pivot(index="term", columns="session_number", values="rate") * 100.0
    n = table.pivot(index="term", columns="session_number", values="dosing_sessions")
    order = table.groupby("term")["sessions"].sum().sort_values(kind="stable").index
    z, n = z.reindex(order), n.reindex(order)
    fig = go.Figure(
        go.Heatmap(
            z=z.to_numpy(),
            x=[int(c) for c in z.columns],
            y=list(z.index),
            customdata=n.to_numpy(),
            colorscale=[[0.0, "#FFF7EC"], [0.5, SEVERITY_COLORS["moderate"]], [1.0, "#7F0000"]],
            zmin=0,
            # The title runs up the bar's right side: above the bar it sat on the top tick.
            colorbar={"title": {"text": "% of sessions", "side": "right"}, "ticksuffix": "%"},
            hovertemplate=("%{y}, dose %{x}: %{z:.1f}% of %{customdata} sessions<extra></extra>"),
        )
    )
    _themed(fig, "Tolerance: side effects by dose number within the course")
    sessions = table.groupby("session_number")["dosing_sessions"].max().reindex(z.columns)
    # Two short lines under each column while they fit; past UPRIGHT_DOSES columns one line
    # read upwards, as on the monthly response chart (22 two-line labels turned on their
    # side at 1440 px printed each n above its dose number).
    upright = len(z.columns) <= UPRIGHT_DOSES
    fig.update_xaxes(
        title_text="Dose number in course (n = completed dosing sessions at that dose)",
        tickvals=[int(c) for c in z.columns],
        ticktext=[
            f"{int(c)}<br>n={int(k):,}" if upright else f"{int(c)} · n={int(k):,}"
            for c, k in sessions.items()
        ],
        tickangle=0 if upright else -90,
    )
    fig.update_yaxes(title_text=None, showgrid=False)
    # No legend above the plot (the colour bar is beside it): the theme's room for one was a
    # blank band under the title.
    fig.update_layout(height=max(260, 80 + 24 * len(z)), margin={"t": TITLE_ONLY_TOP_PX})
    return fig


def bp_curve(curve: pd.DataFrame, *, settings: Settings | None = None) -> go.Figure:
    """Median blood pressure with its interquartile band over minutes from dose.

    `curve` is `vitals.bp_curve(...)` (minute, measure, n, median, q1, q3). With `settings`,
    dotted lines mark the excursion thresholds.
    """
    fig = go.Figure()
    for measure in ("systolic", "diastolic"):
        part = curve[curve["measure"] == measure].sort_values("minute")
        if part.empty:
            continue
        color = MEASURE_COLORS[measure]
        x = part["minute"].to_numpy()
        fig.add_trace(
            go.Scatter(
                x=np.concatenate([x, x[::-1]]),
                y=np.concatenate([part["q3"].to_numpy(), part["q1"].to_numpy()[::-1]]),
                mode="lines",
                fill="toself",
                fillcolor=_rgba(color, 0.18),
                line={"width": 0},
                name=f"{measure.capitalize()} IQR",
                hoverinfo="skip",
                legendgroup=measure,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=part["median"].to_numpy(),
                mode="lines+markers",
                line={"color": color, "width": 2},
                marker={"size": 5},
                name=f"{measure.capitalize()} median",
                customdata=np.column_stack(
                    [part["q1"].to_numpy(), part["q3"].to_numpy(), part["n"].to_numpy()]
                ),
                hovertemplate=(
                    f"{measure} %{{x}} min: median %{{y:.0f}} mmHg"
                    "<br>IQR %{customdata[0]:.0f}–%{customdata[1]:.0f}, "
                    "%{customdata[2]} readings<extra></extra>"
                ),
                legendgroup=measure,
            )
        )
    shapes, notes = [], []
    if settings is not None:
        for measure, value in (
            ("systolic", settings.bp_excursion_systolic),
            ("diastolic", settings.bp_excursion_diastolic),
        ):
            shape, note = hline(
                value,
                line={"color": MEASURE_COLORS[measure], "dash": "dot", "width": 1},
                text=f"{measure} excursion ≥{value}",
                position="top left",
            )
            shapes.append(shape)
            notes += note
    shapes.append(vline(0, line={"color": "#8C8C8C", "dash": "dash", "width": 1}))
    _themed(fig, "Blood pressure over the session (median and IQR)")
    fig.update_xaxes(title_text=MINUTES_AXIS_TITLE)
    fig.update_yaxes(title_text=BP_AXIS_TITLE)
    fig.update_layout(shapes=shapes, **({"annotations": notes} if notes else {}))
    return fig


U_CHART_COLUMNS = ("month", "events", "dosing_sessions", "rate", "centre", "ucl", "lcl", "is_out")
"""Columns `u_chart` reads (`kapviz.metrics.safety.u_chart`): rates and limits per 100 sessions."""


def u_chart(
    table: pd.DataFrame, *, today: date | None = None, start: StartDay | None = None
) -> go.Figure:
    """Monthly adverse events per 100 dosing sessions: points, centre line, 3-sigma step limits.

    `table` has U_CHART_COLUMNS (rate, centre, ucl, lcl per 100 sessions; is_out bool).
    Points outside the limits are drawn red and larger. With `today`, its month is drawn as
    partial (an open, lighter point, "month to date"): its limits are those of its own
    sessions so far, so it is judged by the same elapsed span; the axis ends at today's month.
    A first month that began after its 1st (`start`: the programme's start, or the date
    range's) is drawn and labelled the same way, "from 13 Jun".
    """
    table = table.sort_values("month", kind="stable")
    month = pd.to_datetime(table["month"])
    out = table["is_out"].astype(bool).to_numpy()
    if today is not None:
        notes = partial_notes(month, today, start)
    else:
        notes = np.full(len(table), "", dtype=object)
    partial = notes != ""
    custom = np.column_stack([table["events"].to_numpy(), table["dosing_sessions"].to_numpy()])
    hover = (
        "%{x|%b %Y}%{text}: %{y:.1f} per 100 sessions"
        "<br>%{customdata[0]} events in %{customdata[1]} sessions<extra></extra>"
    )
    fig = go.Figure()
    for name, y, dash in (
        ("Upper limit (3σ)", table["ucl"], "dash"),
        ("Lower limit (3σ)", table["lcl"], "dash"),
    ):
        fig.add_trace(
            go.Scatter(
                x=month,
                y=y.to_numpy(dtype=float),
                mode="lines",
                line={"shape": "hvh", "color": "#8C8C8C", "dash": dash, "width": 1},
                name=name,
                hoverinfo="skip",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=month,
            y=table["centre"].to_numpy(dtype=float),
            mode="lines",
            line={"color": "#31333F", "width": 1.5},
            name="Centre line (ū)",
            hovertemplate="ū = %{y:.2f} per 100 sessions<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=month,
            y=table["rate"].to_numpy(dtype=float),
            mode="lines+markers",
            line={"color": BAR_COLOR, "width": 1.5},
            marker={
                "size": 7,
                "color": BAR_COLOR,
                "symbol": np.where(partial, "circle-open", "circle").tolist(),
                "opacity": np.where(partial, 0.6, 1.0).tolist(),
            },
            name="Events per 100 sessions",
            customdata=custom,
            text=notes.tolist(),
            hovertemplate=hover,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=month[out],
            y=table["rate"].to_numpy(dtype=float)[out],
            mode="markers",
            marker={"size": 12, "color": OUT_OF_LIMITS_COLOR, "symbol": "circle-open-dot"},
            name="Outside the limits",
            customdata=custom[out],
            text=notes[out].tolist(),
            hovertemplate=hover,
        )
    )
    _themed(fig, "Adverse events per 100 dosing sessions (u-chart, 3σ limits)")
    # The last month's label runs past the plot's edge: Plotly would hide it, not the margin.
    fig.update_xaxes(
        title_text="Month",
        dtick=month_tick_step(month),
        tickformat="%b<br>%Y",
        tickangle=0,
        ticklabeloverflow="allow",
    )
    fig.update_yaxes(title_text=U_AXIS_TITLE, rangemode="tozero")
    if today is not None:
        current = table.loc[partial_month(month, today).to_numpy(), "ucl"]
        first = table.loc[partial_start(month, start), ["ucl", "rate"]].max(axis=1)
        mark_partial_month(
            fig,
            month,
            today,
            y=float(current.iloc[0]) if len(current) else None,
            start=start,
            start_y=float(first.iloc[0]) if len(first) else None,
        )
    return fig


MIN_BAND_SESSIONS = 20
"""Fewest dosing sessions a cumulative-dose band needs for its complaint rates to be drawn.

Why: below it the 95% Wilson interval spans most of the axis (1 of 5 sessions: 4–62%;
0 of 19 still reaches 17%), so a bar reads as a finding it is not. Such a band stays on the
axis, labelled `TOO_FEW_LABEL`, so readers see that patients reach it.
"""

TOO_FEW_LABEL = "n<{n}: too few sessions"
"""Label on a cumulative-dose band below the minimum; says "<n", never the count itself."""

TOO_FEW_COLOR = "#6B7080"


def long_term_vs_cumulative_dose(
    table: pd.DataFrame, *, min_sessions: int = MIN_BAND_SESSIONS
) -> go.Figure:
    """Grouped bars: % of dosing sessions with urinary or cognitive complaints by cumulative dose.

    `table` is `side_effects.long_term_vs_cumulative_dose(...)`, bands already in order.
    Bands with fewer than `min_sessions` dosing sessions get no bars, only a "too few" label
    at their place on the axis (see `MIN_BAND_SESSIONS`).
    """
    bands = list(dict.fromkeys(table["cumulative_band"]))
    sparse = table["dosing_sessions"] < min_sessions
    too_few = list(dict.fromkeys(table.loc[sparse, "cumulative_band"]))
    table = table[~sparse]
    fig = go.Figure()
    for i, (term, part) in enumerate(table.groupby("term", sort=False)):
        rate = _pct(part["rate"])
        fig.add_trace(
            go.Bar(
                x=part["cumulative_band"].tolist(),
                y=rate,
                name=term,
                marker_color=PALETTE[(i + 3) % len(PALETTE)],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": _pct(part["ci_high"]) - rate,
                    "arrayminus": rate - _pct(part["ci_low"]),
                    "thickness": 1.2,
                },
                customdata=np.column_stack(
                    [part["sessions"].to_numpy(), part["dosing_sessions"].to_numpy()]
                ),
                hovertemplate=(
                    f"{term}, %{{x}}: %{{y:.1f}}% "
                    "(%{customdata[0]} of %{customdata[1]} sessions)<extra></extra>"
                ),
            )
        )
    if too_few:
        # A text point (not a layout annotation) so the band is a category on the axis even
        # with no bar in it; no customdata, so no count reaches the figure.
        fig.add_trace(
            go.Scatter(
                x=too_few,
                y=[0.0] * len(too_few),
                mode="text",
                text=[TOO_FEW_LABEL.format(n=min_sessions)] * len(too_few),
                textposition="top center",
                textfont={"size": 11, "color": TOO_FEW_COLOR},
                cliponaxis=False,
                name="Too few sessions",
                showlegend=False,
                hovertemplate=(
                    f"%{{x}}: fewer than {min_sessions} dosing sessions, "
                    "no rate drawn<extra></extra>"
                ),
            )
        )
    _themed(fig, "Long-term risks: bladder and cognitive complaints by cumulative dose")
    fig.update_layout(barmode="group")
    fig.update_xaxes(
        title_text="Patient's cumulative dose before and including the session",
        type="category",
        categoryorder="array",
        categoryarray=bands,
    )
    if bands:  # a bar's width around every band, labels or bars (text alone hugs the edge)
        fig.update_xaxes(range=[-0.5, len(bands) - 0.5])
    fig.update_yaxes(title_text="% of dosing sessions", rangemode="tozero", ticksuffix="%")
    if too_few and table.empty:
        fig.update_yaxes(range=[0, 100])  # only labels: keep the axis from centring on 0
    return fig
