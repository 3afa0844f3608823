"""Safety charts: traces, values, axis titles and labels read from fig.to_dict()."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import pytest

from kapviz.charts import safety as ch
from kapviz.charts.theme import SEVERITY_COLORS
from kapviz.config import Settings
from kapviz.metrics.monitoring import u_chart as u_chart_table
from kapviz.metrics.side_effects import (
    effect_rates,
    effect_rates_by,
    long_term_vs_cumulative_dose,
)
from kapviz.metrics.stats import wilson_interval
from tests.metrics.safety_data import EFFECTS, SESSIONS, N, effects_frame


def values(field: object) -> list:
    """A figure-dict array as a list: plotly 7 stores numpy data as {"dtype", "bdata"}."""
    if isinstance(field, dict) and "bdata" in field:
        raw = np.frombuffer(base64.b64decode(field["bdata"]), dtype=field["dtype"])
        if "shape" in field:
            shape = field["shape"]
            dims = [int(d) for d in shape.split(",")] if isinstance(shape, str) else shape
            return raw.reshape(dims).tolist()
        return raw.tolist()
    return list(field)


def _traces(fig) -> dict[str, dict]:
    return {t.get("name"): t for t in fig.to_dict()["data"]}


RATES = effect_rates(SESSIONS, EFFECTS)


def test_frequency_bars_patient_rates_with_wilson_errors():
    """Bars are % of patients, most common on top, error bars reach the Wilson limits."""
    fig = ch.side_effect_frequency(RATES, kind="patient")
    bar = _traces(fig)["This clinic: % of patients"]
    # dizziness 2/2 and nausea 2/2 patients; reversed so the first row is drawn on top.
    assert bar["y"] == ["dizziness", "nausea"]
    assert values(bar["x"]) == pytest.approx([100.0, 100.0])
    low, _ = wilson_interval(2, 2)
    assert values(bar["error_x"]["arrayminus"]) == pytest.approx([100 - low * 100] * 2)
    assert values(bar["error_x"]["array"]) == pytest.approx([0.0, 0.0])
    layout = fig.to_dict()["layout"]
    assert layout["xaxis"]["title"]["text"] == "% of patients"


def test_frequency_session_rates_have_no_reference_markers():
    """Session rates: 3/3 nausea, 2/3 dizziness; the label counts patients, so no markers."""
    fig = ch.side_effect_frequency(RATES, kind="session")
    traces = _traces(fig)
    bar = traces["This clinic: % of dosing sessions"]
    assert bar["y"] == ["dizziness", "nausea"]
    assert values(bar["x"]) == pytest.approx([200 / 3, 100.0])
    low, high = wilson_interval(2, 3)
    assert values(bar["error_x"]["arrayminus"])[0] == pytest.approx(200 / 3 - low * 100)
    assert values(bar["error_x"]["array"])[0] == pytest.approx(high * 100 - 200 / 3)
    assert ch.REFERENCE_NAME not in traces


def test_frequency_reference_markers_labelled_as_trial_figures():
    """Label markers: dizziness 29%, nausea 28% of patients, named as esketamine trial figures."""
    fig = ch.side_effect_frequency(RATES, kind="patient", reference=True)
    ref = _traces(fig)[ch.REFERENCE_NAME]
    assert ref["name"] == "Esketamine label trial figures (TRD, short-term pooled)"
    assert ref["y"] == ["dizziness", "nausea"]
    assert values(ref["x"]) == [29, 28]
    assert ch.REFERENCE_NAME not in _traces(ch.side_effect_frequency(RATES, reference=False))


def test_frequency_top_and_bad_kind():
    """`top` keeps the most common effects; an unknown rate kind is an error."""
    fig = ch.side_effect_frequency(RATES, kind="session", top=1)
    assert _traces(fig)["This clinic: % of dosing sessions"]["y"] == ["nausea"]
    with pytest.raises(ValueError, match="kind"):
        ch.side_effect_frequency(RATES, kind="record")


def test_severity_stack_counts_and_colours():
    """One stacked trace per severity; nausea 1/1/1 and dizziness 0/1/1 sessions."""
    fig = ch.severity_stack(RATES)
    traces = _traces(fig)
    assert list(traces) == ["mild", "moderate", "severe"]
    assert fig.to_dict()["layout"]["barmode"] == "stack"
    expected = {"mild": [0, 1], "moderate": [1, 1], "severe": [1, 1]}
    for severity, counts in expected.items():
        assert traces[severity]["y"] == ["dizziness", "nausea"]
        assert values(traces[severity]["x"]) == counts
        assert traces[severity]["marker"]["color"] == SEVERITY_COLORS[severity]


def test_heatmap_effect_by_dose_number():
    """z is % of sessions per dose number: dose 1 both 100%, dose 2 nausea 100% dizziness 0%."""
    fig = ch.effect_session_heatmap(effect_rates_by(SESSIONS, EFFECTS, by="session_number"))
    heat = fig.to_dict()["data"][0]
    assert values(heat["x"]) == [1, 2]
    # rows sorted by total sessions ascending so the most common is on top: dizziness 2, nausea 3
    assert values(heat["y"]) == ["dizziness", "nausea"]
    assert values(heat["z"]) == [[100.0, 0.0], [100.0, 100.0]]
    assert values(heat["customdata"]) == [[2, 1], [2, 1]]


CURVE = pd.DataFrame(
    {
        "minute": [-10, 0, 40, -10, 0, 40],
        "measure": ["systolic"] * 3 + ["diastolic"] * 3,
        "n": [4, 4, 3, 4, 4, 3],
        "median": [128.0, 130.0, 146.0, 80.0, 81.0, 91.0],
        "q1": [120.0, 122.0, 138.0, 75.0, 76.0, 85.0],
        "q3": [135.0, 137.0, 155.0, 85.0, 86.0, 97.0],
    }
)


def test_bp_curve_median_iqr_and_axes():
    """Median line and closed IQR polygon per measure; axes named with units."""
    fig = ch.bp_curve(CURVE, settings=Settings())
    traces = _traces(fig)
    median = traces["Systolic median"]
    assert values(median["x"]) == [-10, 0, 40]
    assert values(median["y"]) == [128.0, 130.0, 146.0]
    band = traces["Systolic IQR"]
    assert values(band["x"]) == [-10, 0, 40, 40, 0, -10]
    assert values(band["y"]) == [135.0, 137.0, 155.0, 138.0, 122.0, 120.0]
    assert values(traces["Diastolic median"]["y"]) == [80.0, 81.0, 91.0]
    layout = fig.to_dict()["layout"]
    assert layout["xaxis"]["title"]["text"] == "Minutes from dose"
    assert layout["yaxis"]["title"]["text"] == "Blood pressure (mmHg)"
    lines = [s["y0"] for s in layout["shapes"] if s.get("y0") == s.get("y1")]
    assert sorted(lines) == [110, 180]


@pytest.mark.parametrize("position", ["top left", "top right", "bottom left", "bottom right"])
@pytest.mark.parametrize("font", [None, {"size": 10, "color": "#D7301F"}])
def test_hline_is_what_add_hline_draws(position, font):
    """`hline` gives the very shape and label of Figure.add_hline (set at once instead)."""
    import plotly.graph_objects as go

    line = {"color": "#D55E00", "dash": "dot", "width": 1}
    reference = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    extra = {} if font is None else {"annotation_font": font}
    reference.add_hline(
        y=180, line=line, annotation_text="x ≥180", annotation_position=position, **extra
    )
    reference.add_hline(y=90, line=line)
    reference.add_vline(x=0, line=line)
    ours = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    first, note = ch.hline(180, line=line, text="x ≥180", position=position, font=font)
    second, none = ch.hline(90, line=line)
    assert none == []
    ours.update_layout(shapes=[first, second, ch.vline(0, line=line)], annotations=note)
    assert ours.to_dict() == reference.to_dict()


def test_bp_curve_lines_as_add_hline_drew_them():
    """The excursion lines, their labels and the dose line equal the add_hline/add_vline
    figure the chart drew before (shapes and annotations, in order)."""
    import plotly.graph_objects as go

    cfg = Settings()
    reference = go.Figure()
    for measure, value in (
        ("systolic", cfg.bp_excursion_systolic),
        ("diastolic", cfg.bp_excursion_diastolic),
    ):
        reference.add_hline(
            y=value,
            line={"color": ch.MEASURE_COLORS[measure], "dash": "dot", "width": 1},
            annotation_text=f"{measure} excursion ≥{value}",
            annotation_position="top left",
        )
    reference.add_vline(x=0, line={"color": "#8C8C8C", "dash": "dash", "width": 1})
    layout = ch.bp_curve(CURVE, settings=cfg).to_dict()["layout"]
    want = reference.to_dict()["layout"]
    assert layout["shapes"] == want["shapes"]
    assert layout["annotations"] == want["annotations"]
    assert "annotations" not in ch.bp_curve(CURVE).to_dict()["layout"]


U_TABLE = pd.DataFrame(
    {
        "month": pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01"]),
        "events": [2, 12, 1],
        "dosing_sessions": [20, 20, 40],
        "rate": [10.0, 60.0, 2.5],
        "centre": [18.75] * 3,
        "ucl": [47.8, 47.8, 39.3],
        "lcl": [0.0, 0.0, 0.0],
        "is_out": [False, True, False],
    }
)


def test_u_chart_lines_and_marked_points():
    """Centre line, step limits and the one point above its UCL marked separately."""
    fig = ch.u_chart(U_TABLE)
    traces = _traces(fig)
    assert values(traces["Events per 100 sessions"]["y"]) == [10.0, 60.0, 2.5]
    assert values(traces["Centre line (ū)"]["y"]) == [18.75] * 3
    assert traces["Upper limit (3σ)"]["line"]["shape"] == "hvh"
    assert values(traces["Upper limit (3σ)"]["y"]) == [47.8, 47.8, 39.3]
    assert values(traces["Lower limit (3σ)"]["y"]) == [0.0, 0.0, 0.0]
    marked = traces["Outside the limits"]
    assert values(marked["y"]) == [60.0]
    assert marked["marker"]["color"] == ch.OUT_OF_LIMITS_COLOR
    assert fig.to_dict()["layout"]["yaxis"]["title"]["text"] == ch.U_AXIS_TITLE
    # The last month's slanted label overhangs the plot: shown, not hidden (it was cut).
    assert fig.to_dict()["layout"]["xaxis"]["ticklabeloverflow"] == "allow"


def test_long_term_bars_by_band():
    """One bar trace per long-term term with % of sessions per cumulative band (3 sessions:
    drawn here with min_sessions=1, below `MIN_BAND_SESSIONS` they would be "too few")."""
    effects = effects_frame([("A-D2", 1, "urinary symptoms", "mild", N, False)])
    table = long_term_vs_cumulative_dose(SESSIONS, effects)
    fig = ch.long_term_vs_cumulative_dose(table, min_sessions=1)
    traces = _traces(fig)
    assert list(traces) == ["urinary symptoms", "cognitive impairment"]
    # A-D2 is the third session overall but A's second: 70 mg cumulative, all in "<250 mg".
    assert traces["urinary symptoms"]["x"] == ["<250 mg"]
    assert values(traces["urinary symptoms"]["y"]) == pytest.approx([100 / 3])
    assert values(traces["cognitive impairment"]["y"]) == [0.0]
    assert fig.to_dict()["layout"]["barmode"] == "group"


def test_u_chart_reads_the_metric_frame():
    """The metric's frame plots as is: March, 5 session × effect events in 3 sessions → 166.7."""
    fig = ch.u_chart(u_chart_table(SESSIONS, EFFECTS))
    point = _traces(fig)["Events per 100 sessions"]
    assert values(point["y"]) == pytest.approx([500 / 3])
    assert values(point["customdata"]) == [[5, 3]]


@pytest.mark.parametrize(
    "build",
    [
        lambda e: ch.side_effect_frequency(effect_rates(SESSIONS, e)),
        lambda e: ch.severity_stack(effect_rates(SESSIONS, e)),
        lambda e: ch.effect_session_heatmap(effect_rates_by(SESSIONS, e, by="session_number")),
        lambda e: ch.long_term_vs_cumulative_dose(long_term_vs_cumulative_dose(SESSIONS, e)),
        lambda e: ch.u_chart(u_chart_table(SESSIONS.iloc[0:0], e)),
    ],
    ids=["frequency", "severity", "heatmap", "long_term", "u_chart"],
)
def test_charts_build_from_empty_metrics(build):
    """No side effects (or no dosing sessions): every chart still builds a valid figure."""
    assert "data" in build(EFFECTS.iloc[0:0]).to_dict()


def _long_term_table(rows: list[tuple[str, str, int, int]]) -> pd.DataFrame:
    """A `long_term_vs_cumulative_dose` frame from (band, term, sessions, dosing_sessions)."""
    table = pd.DataFrame.from_records(
        rows, columns=["cumulative_band", "term", "sessions", "dosing_sessions"]
    )
    table["rate"] = table["sessions"] / table["dosing_sessions"]
    pairs = zip(table["sessions"], table["dosing_sessions"], strict=True)
    limits = [wilson_interval(k, n) for k, n in pairs]
    table["ci_low"] = [low for low, _ in limits]
    table["ci_high"] = [high for _, high in limits]
    return table


# 40 and 20 sessions reach the minimum (20 exactly counts); 5 sessions at ≥4000 mg do not.
LONG_TERM = _long_term_table(
    [
        ("<250 mg", "urinary symptoms", 2, 40),
        ("<250 mg", "cognitive impairment", 0, 40),
        ("250–<500 mg", "urinary symptoms", 1, 20),
        ("250–<500 mg", "cognitive impairment", 4, 20),
        ("≥4000 mg", "urinary symptoms", 1, 5),
        ("≥4000 mg", "cognitive impairment", 0, 5),
    ]
)


def test_long_term_band_with_too_few_sessions_is_labelled_not_drawn():
    """The 5-session ≥4000 mg band (1 of 5 = 20%, Wilson 4–62%) gets no bar, only the
    "n<20: too few sessions" label at its place, and stays last on the axis."""
    assert ch.MIN_BAND_SESSIONS == 20
    fig = ch.long_term_vs_cumulative_dose(LONG_TERM)
    traces = _traces(fig)
    assert list(traces) == ["urinary symptoms", "cognitive impairment", "Too few sessions"]
    for term in ("urinary symptoms", "cognitive impairment"):
        assert traces[term]["type"] == "bar"
        assert traces[term]["x"] == ["<250 mg", "250–<500 mg"]
    label = traces["Too few sessions"]
    assert label["type"] == "scatter" and label["mode"] == "text"
    assert label["x"] == ["≥4000 mg"]
    assert label["text"] == ["n<20: too few sessions"]
    assert "customdata" not in label  # no count of the small band reaches the figure
    xaxis = fig.to_dict()["layout"]["xaxis"]
    assert xaxis["categoryorder"] == "array"
    assert xaxis["categoryarray"] == ["<250 mg", "250–<500 mg", "≥4000 mg"]
    assert "annotations" not in fig.to_dict()["layout"]


def test_long_term_bands_with_enough_sessions_unchanged():
    """The drawn bands keep their rates, Wilson error bars and hover counts: urinary 2/40 = 5%
    and 1/20 = 5%, cognitive 0/40 = 0% and 4/20 = 20%."""
    bars = _traces(ch.long_term_vs_cumulative_dose(LONG_TERM))
    urinary, cognitive = bars["urinary symptoms"], bars["cognitive impairment"]
    assert values(urinary["y"]) == pytest.approx([5.0, 5.0])
    assert values(cognitive["y"]) == pytest.approx([0.0, 20.0])
    low, high = wilson_interval(4, 20)
    assert values(cognitive["error_y"]["array"])[1] == pytest.approx(high * 100 - 20)
    assert values(cognitive["error_y"]["arrayminus"])[1] == pytest.approx(20 - low * 100)
    assert values(urinary["customdata"]) == [[2, 40], [1, 20]]
    # The same as drawing only those bands with no minimum at all.
    enough = LONG_TERM[LONG_TERM["cumulative_band"] != "≥4000 mg"]
    plain = _traces(ch.long_term_vs_cumulative_dose(enough, min_sessions=0))
    for term in ("urinary symptoms", "cognitive impairment"):
        for field in ("x", "y", "customdata"):
            assert values(bars[term][field]) == values(plain[term][field])
        for field in ("array", "arrayminus"):
            assert values(bars[term]["error_y"][field]) == pytest.approx(
                values(plain[term]["error_y"][field])
            )


def test_long_term_all_bands_too_few():
    """The 3-session test clinic at the default minimum: no bars at all, "<250 mg" labelled,
    and a 0–100% axis rather than one centred on the label's 0."""
    fig = ch.long_term_vs_cumulative_dose(long_term_vs_cumulative_dose(SESSIONS, EFFECTS))
    traces = fig.to_dict()["data"]
    assert [t["type"] for t in traces] == ["scatter"]
    assert traces[0]["x"] == ["<250 mg"]
    assert traces[0]["text"] == ["n<20: too few sessions"]
    assert list(fig.to_dict()["layout"]["yaxis"]["range"]) == [0, 100]
    kept = ch.long_term_vs_cumulative_dose(
        long_term_vs_cumulative_dose(SESSIONS, EFFECTS), min_sessions=3
    )
    assert _traces(kept)["urinary symptoms"]["x"] == ["<250 mg"]
    assert "Too few sessions" not in _traces(kept)
