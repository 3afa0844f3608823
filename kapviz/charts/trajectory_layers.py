"""The layers of trajectory charts: axis placement, severity and phase bands (layout
shapes), mean ± 95% CI traces, the spaghetti trace of course lines and the model band.

Shared by the trajectory figures (`kapviz.charts.trajectories`) and the waterfall
(`kapviz.charts.waterfall`); nothing is computed here beyond placing points on the axis.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from kapviz import instruments
from kapviz.charts.payload import compact
from kapviz.charts.theme import PALETTE, PHASE_COLORS, SEVERITY_COLORS
from kapviz.domain import PHASE_LABELS, PHASES
from kapviz.metrics.trajectory_tables import MIN_COURSES

SESSION_AXIS_TITLE = "When the score was taken, relative to the course's doses"
DAYS_AXIS_TITLE = "Days since first dose (baseline window, weekly, then 4-weekly bins)"
MEAN_COLOR = PALETTE[0]
MODEL_COLOR = PALETTE[5]
LINE_COLOR = "rgba(90, 100, 120, 0.10)"
"""Course lines: light enough that the cohort mean reads through 500 of them."""


def score_axis_title(instrument_id: str) -> str:
    """Y-axis title naming the scale, e.g. "PHQ-9 total (0–27, higher = worse)"."""
    inst = instruments.get(instrument_id)
    direction = "higher = worse" if inst.higher_is_worse else "higher = better"
    return f"{inst.id} total ({inst.total_min}–{inst.total_max}, {direction})"


def _positions(orders: list[pd.Series]) -> dict[int, int]:
    """Session-axis order → plotted position, skipping points no frame uses (no gaps)."""
    present = sorted({int(o) for s in orders for o in s.dropna()})
    return {order: i for i, order in enumerate(present)}


def _x(frame: pd.DataFrame, axis: str, positions: dict[int, int]) -> np.ndarray:
    if axis == "session":
        return frame["order"].map(positions).to_numpy(dtype=float)
    return frame["x"].to_numpy(dtype=float)


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r}, {g}, {b}, {alpha:.3f})"


# Bands and reference lines are plain layout shapes and annotations, set in one
# update_layout call: plotly's add_vrect/add_hrect re-process the whole figure on each
# call (~0.1 s apiece, most of the time to build a trajectory figure).


def _band(x0, x1, y0, y1, *, horizontal: bool, color: str) -> dict:
    """A filled rectangle across the plot (horizontal: across the width, else the height)."""
    span = {"xref": "x domain", "x0": 0, "x1": 1} if horizontal else {"yref": "y domain"}
    return {
        "type": "rect",
        "xref": "x",
        "x0": x0,
        "x1": x1,
        "yref": "y",
        "y0": y0,
        "y1": y1,
        **span,
        "fillcolor": color,
        "line": {"width": 0},
        "layer": "below",
    }


def _label(text: str, *, font: dict, **place) -> dict:
    return {"text": text, "showarrow": False, "font": font, **place}


def _severity_bands(instrument_id: str) -> tuple[list[dict], list[dict]]:
    """Shade the instrument's severity bands, lightest for the mildest band."""
    inst = instruments.get(instrument_id)
    n = len(inst.bands)
    shapes, labels = [], []
    for i, band in enumerate(inst.bands):
        alpha = 0.02 + 0.07 * (i / (n - 1) if n > 1 else 1.0)
        y0 = band.low - 0.5 if band.low > inst.total_min else inst.total_min
        y1 = band.high + 0.5 if band.high < inst.total_max else inst.total_max
        color = _rgba(SEVERITY_COLORS["severe"], alpha)
        shapes.append(_band(None, None, y0, y1, horizontal=True, color=color))
        # Outside the plot, right of it: inside, the top band's label met the last phase's.
        labels.append(
            _label(
                band.label,
                font={"size": 10, "color": "#7A7F8A"},
                xref="x domain",
                x=1,
                xanchor="left",
                xshift=4,
                yref="y",
                y=y1,
                yanchor="top",
            )
        )
    return shapes, labels


def _phase_bands(
    axis: str,
    positions: dict[int, int],
    phase_of: dict[int, str],
    *,
    baseline_window_days: int,
) -> tuple[list[dict], list[dict]]:
    """Shade each phase's stretch of the axis in its colour (days axis: the baseline window)."""

    def top_left(text: str, x0: float, font: dict) -> dict:
        return _label(
            text, font=font, xref="x", x=x0, xanchor="left", yref="y domain", y=1, yanchor="top"
        )

    if axis == "days":
        x0 = -baseline_window_days
        window = _band(
            x0, 0, 0, 1, horizontal=False, color=_rgba(PHASE_COLORS["preparation"], 0.12)
        )
        first_dose = {
            "type": "line",
            "xref": "x",
            "x0": 0,
            "x1": 0,
            "yref": "y domain",
            "y0": 0,
            "y1": 1,
            "line": {"color": PHASE_COLORS["dosing"], "dash": "dot"},
        }
        return [window, first_dose], [top_left("baseline window", x0, {"size": 10})]
    shapes, labels = [], []
    for phase in PHASES:
        spots = [pos for order, pos in positions.items() if phase_of.get(order) == phase]
        if not spots:
            continue
        x0, x1 = min(spots) - 0.5, max(spots) + 0.5
        color = PHASE_COLORS[phase]
        shapes.append(_band(x0, x1, 0, 1, horizontal=False, color=_rgba(color, 0.08)))
        # A one-point phase is named by its tick label; a label there met its neighbour's.
        if len(spots) > 1:
            labels.append(top_left(PHASE_LABELS[phase], x0, {"size": 10, "color": color}))
    return shapes, labels


def _hline(y: float, line: dict) -> dict:
    return {
        "type": "line",
        "xref": "x domain",
        "x0": 0,
        "x1": 1,
        "yref": "y",
        "y0": y,
        "y1": y,
        "line": line,
    }


TOO_FEW_COLOR = "#A3A8B4"


def _mean_traces(
    table: pd.DataFrame,
    x: np.ndarray,
    *,
    name: str,
    color: str,
    show: bool,
    min_courses: int = MIN_COURSES,
    unit: str = "",
):
    """Mean line with a shaded 95% CI; hover shows n, mean, CI, median and IQR.

    Points of fewer than `min_courses` courses are not part of the line nor its band: they
    are grey markers of their own trace ("too few"), their n in the hover.
    """
    courses = table["courses"].to_numpy(dtype=float)
    enough = courses >= min_courses
    custom = np.column_stack(
        [
            table["point"].astype(str),
            table["courses"],
            table["ci_low"].round(1),
            table["ci_high"].round(1),
            table["median"].round(1),
            table["q1"].round(1),
            table["q3"].round(1),
        ]
    )
    ci_x, ci_y = _ci_polygons(
        x, table["ci_low"].to_numpy(float), table["ci_high"].to_numpy(float), enough
    )
    band = go.Scatter(
        x=ci_x,
        y=ci_y,
        mode="lines",
        fill="toself",
        fillcolor=_rgba(color, 0.18),
        line={"width": 0},
        hoverinfo="skip",
        name=f"{name} 95% CI",
        legendgroup=name,
        showlegend=False,
    )
    mean = table["mean"].to_numpy(float)
    line = go.Scatter(
        x=x,
        y=np.where(enough, mean, np.nan),
        mode="lines+markers",
        line={"color": color, "width": 3},
        marker={"size": 7, "color": color},
        connectgaps=False,
        name=name,
        legendgroup=name,
        showlegend=show,
        customdata=custom,
        hovertemplate=(
            f"<b>%{{customdata[0]}}</b><br>mean %{{y:.1f}}{unit} (95% CI "
            "%{customdata[2]} to %{customdata[3]})"
            "<br>median %{customdata[4]} (IQR %{customdata[5]} to %{customdata[6]})"
            "<br>n = %{customdata[1]} courses<extra></extra>"
        ),
    )
    few = ~enough
    too_few = go.Scatter(
        x=x[few],
        y=mean[few],
        mode="markers",
        marker={"size": 8, "color": "white", "line": {"color": TOO_FEW_COLOR, "width": 1.5}},
        name=f"Too few courses (< {min_courses}): not a result",
        legendgroup="too-few",
        showlegend=show and bool(few.any()),
        customdata=custom[few],
        hovertemplate=(
            "<b>%{customdata[0]}</b><br>too few courses to read: n = %{customdata[1]}"
            f"<br>mean %{{y:.1f}}{unit}<extra></extra>"
        ),
    )
    return band, line, too_few


def _ci_polygons(
    x: np.ndarray, low: np.ndarray, high: np.ndarray, shown: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One closed outline per run of consecutive shown points with a CI, runs separated by
    NaN (fill "toself" closes each run apart): a band never bridges a "too few" gap."""
    ok = shown & np.isfinite(low) & np.isfinite(high)
    # A run of one point would be an outline of no width: give it a fifth of the spacing.
    steps = np.diff(np.sort(x[np.isfinite(x)]))
    half = 0.2 * (float(np.min(steps[steps > 0])) if (steps > 0).any() else 1.0)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    start = None
    for i in range(len(ok) + 1):
        if i < len(ok) and ok[i]:
            start = i if start is None else start
            continue
        if start is not None:
            if xs:
                xs.append(np.array([np.nan]))
                ys.append(np.array([np.nan]))
            run = x[start:i]
            if len(run) == 1:
                run = np.array([run[0] - half, run[0] + half])
                top, bottom = np.repeat(high[start], 2), np.repeat(low[start], 2)
            else:
                top, bottom = high[start:i], low[start:i]
            xs.append(np.concatenate([run, run[::-1]]))
            ys.append(np.concatenate([top, bottom[::-1]]))
            start = None
    if not xs:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(xs), np.concatenate(ys)


def _n_row(
    table: pd.DataFrame,
    x: np.ndarray,
    *,
    min_courses: int = MIN_COURSES,
    y: float = 0.0,
    vertical: bool = False,
    axes: str = "",
    name: bool = True,
) -> list[dict]:
    """A thin row of n (courses) at the foot of the plot, one per point; "too few" in grey.

    Inside the plot's lowest strip (the y range leaves room for it below the scale), so
    that it lines up with the points without colliding with tick labels or the axis title.
    `vertical`: numbers turned upright, for the days axis whose weekly bins are too close
    for side-by-side numbers on a narrow screen.
    """
    xref, yref = f"x{axes}", f"y{axes} domain"
    notes = [
        _label(
            "n",
            font={"size": 9, "color": "#5F6470"},
            xref=f"x{axes} domain",
            x=0,
            xanchor="right",
            xshift=-4,
            yref=yref,
            y=y,
            yanchor="bottom",
        )
    ][: 1 if name else 0]
    for pos, n in zip(x, table["courses"].to_numpy(dtype=int), strict=True):
        if np.isnan(pos):
            continue
        few = n < min_courses
        notes.append(
            _label(
                f"{n:,}",
                font={"size": 9, "color": TOO_FEW_COLOR if few else "#5F6470"},
                bgcolor="rgba(255, 255, 255, 0.75)",  # readable over course lines
                textangle=-90 if vertical else 0,
                xref=xref,
                x=float(pos),
                xanchor="center",
                yref=yref,
                y=y,
                yanchor="bottom",
            )
        )
    return notes


def _spaghetti_trace(
    lines: pd.DataFrame, axis: str, positions: dict[int, int], courses_total: int
) -> go.Scatter:
    """All course lines as ONE trace, courses separated by gaps (NaN), built from numpy.

    Numpy arrays rather than Python lists: Streamlit copies the figure on every rerun, and
    a list of [patient, course] pairs per point made that copy the slowest part of a rerun.
    """
    shown = int(lines["course_id"].nunique())
    course = lines["course_id"].to_numpy(dtype=object)
    # Each course's points, then one gap row before the next course starts.
    new_course = np.r_[False, course[1:] != course[:-1]]
    slots = np.arange(len(lines)) + np.cumsum(new_course)
    size = int(slots[-1]) + 1 if len(lines) else 0
    xs, ys = np.full(size, np.nan), np.full(size, np.nan)
    custom = np.full((size, 2), None, dtype=object)
    xs[slots] = _x(lines, axis, positions)
    ys[slots] = lines["total"].to_numpy(dtype=float).round(2)
    custom[slots, 0] = lines["patient_id"].to_numpy(dtype=object)
    custom[slots, 1] = course
    if shown < courses_total:
        label = f"Individual courses ({shown:,} of {courses_total:,}, random sample)"
    else:
        label = f"Individual courses ({shown:,})"
    return go.Scatter(
        x=compact(xs),
        y=compact(ys),
        mode="lines+markers",
        line={"color": LINE_COLOR, "width": 1},
        marker={"size": 3, "color": LINE_COLOR},
        connectgaps=False,
        name=label,
        customdata=custom,
        hovertemplate=(
            "patient %{customdata[0]} · course %{customdata[1]}<br>total %{y}"
            "<br>click to open in the Case explorer<extra></extra>"
        ),
    )


def _band_traces(band: pd.DataFrame, x: np.ndarray) -> tuple[go.Scatter, go.Scatter]:
    """Model-based mean (dashed) with its 95% confidence band."""
    ci_x = np.concatenate([x, x[::-1]])
    ci_y = np.concatenate([band["ci_high"].to_numpy(float), band["ci_low"].to_numpy(float)[::-1]])
    area = go.Scatter(
        x=ci_x,
        y=ci_y,
        mode="lines",
        fill="toself",
        fillcolor=_rgba(MODEL_COLOR, 0.15),
        line={"width": 0},
        hoverinfo="skip",
        name="Mixed model 95% CI",
        legendgroup="model",
        showlegend=False,
    )
    line = go.Scatter(
        x=x,
        y=band["mean"].to_numpy(float),
        mode="lines",
        line={"color": MODEL_COLOR, "width": 2, "dash": "dash"},
        name="Mixed model (95% CI)",
        legendgroup="model",
        customdata=np.column_stack(
            [band["point"].astype(str), band["ci_low"].round(1), band["ci_high"].round(1)]
        ),
        hovertemplate=(
            "<b>%{customdata[0]}</b><br>model mean %{y:.1f}"
            " (95% CI %{customdata[1]}–%{customdata[2]})<extra></extra>"
        ),
    )
    return area, line


def _session_ticks(fig: go.Figure, positions: dict[int, int], labels: dict[int, str], **kw):
    fig.update_xaxes(
        tickmode="array",
        tickvals=list(positions.values()),
        ticktext=[labels.get(order, str(order)) for order in positions],
        **kw,
    )
