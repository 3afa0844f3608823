"""Published reference figures: the file, the one-line display and the matcher."""

from __future__ import annotations

import pandas as pd
import pytest

from kapviz.evidence.clinic import clinic_figure
from kapviz.evidence.registry import (
    ClinicFigure,
    ReferenceFileError,
    by_measure,
    matching,
    parse_references,
    references,
    why_none,
)
from kapviz.vocabulary import REFERENCE_RATES


def _ids(refs) -> list[str]:
    return [r.id for r in refs]


def test_file_holds_every_domain_figure():
    """DOMAIN §4b's figures, as numbers, and the label rates from kapviz.vocabulary."""
    by_id = {r.id: r for r in references()}
    assert by_id["orka-1-phq9-response"].value == 0.536
    assert by_id["orka-1-phq9-remission"].value == 0.289
    assert (by_id["orka-1-phq9-response"].n, by_id["orka-1-phq9-response"].days) == (
        537,
        (14.0, 31.0),
    )
    assert by_id["hull-2022-phq9-response"].value == 0.628
    assert by_id["hull-2022-gad7-remission"].value == 0.313
    assert by_id["hull-2022-gad7-response"].doses == (4.0, 4.0)
    assert by_id["transform-2-madrs-response"].comparator == 0.520
    assert by_id["sustain-1-relapse"].value == 0.267
    assert (by_id["yale-bp-peak-rise"].value, by_id["yale-bp-peak-rise"].value_diastolic) == (
        16.0,
        11.0,
    )
    assert by_id["yale-bp-severe-hypertension"].value == 0.0098
    labels = [r for r in references() if r.measure == "side_effect"]
    assert len(labels) == len(REFERENCE_RATES)
    assert by_id["label-dissociation"].value == 0.41


def test_one_line_with_population_and_size():
    ref = {r.id: r for r in references()}["orka-1-phq9-response"]
    assert ref.line() == (
        "ORKA-1 (real-world IV ketamine for depression, 178 practices; IV; n = 537 patients): "
        "PHQ-9 response, 14–31 days after the first infusion (about 6 infusions): 53.6%"
    )
    bp = {r.id: r for r in references()}["yale-bp-peak-rise"]
    assert bp.line().endswith("+16.0/+11.0 mmHg")
    assert "n = 2,342 infusions" in bp.line()
    t2 = {r.id: r for r in references()}["transform-2-madrs-remission"]
    assert t2.line().endswith("52.5% vs 31% placebo + oral antidepressant")


@pytest.mark.parametrize(
    ("clinic", "expected"),
    [
        pytest.param(
            ClinicFigure("PHQ-9", "response", frozenset({"iv"}), 28.0, 6.0),
            ["orka-1-phq9-response"],
            id="iv-at-four-weeks-orka",
        ),
        pytest.param(
            ClinicFigure("PHQ-9", "response", frozenset({"iv"}), 38.0, 6.0),
            ["orka-1-phq9-response"],
            id="a-week-past-the-window-still-comparable",
        ),
        pytest.param(
            ClinicFigure("PHQ-9", "response", frozenset({"iv"}), 39.0, 8.0),
            [],
            id="more-than-a-week-past-none",
        ),
        pytest.param(
            ClinicFigure("PHQ-9", "remission", frozenset({"sublingual"}), 90.0, 5.0),
            ["hull-2022-phq9-remission"],
            id="sublingual-by-dose-count",
        ),
        pytest.param(
            ClinicFigure("PHQ-9", "response", frozenset({"iv", "sublingual"}), 28.0, 4.0),
            [],
            id="mixed-routes-none",
        ),
        pytest.param(
            ClinicFigure("GAD-7", "response", frozenset({"iv"}), 28.0, 6.0),
            [],
            id="no-iv-gad7-figure",
        ),
        pytest.param(
            ClinicFigure("MADRS", "response", frozenset({"intranasal"}), 28.0, 8.0),
            ["transform-2-madrs-response"],
            id="esketamine-day-28",
        ),
        pytest.param(
            ClinicFigure("PCL-5", "response", frozenset({"iv"}), 28.0, 6.0),
            [],
            id="no-pcl5-figure",
        ),
        pytest.param(
            ClinicFigure("PHQ-9", "response", frozenset(), None, None),
            [],
            id="nothing-known-none",
        ),
    ],
)
def test_matching(clinic, expected):
    assert _ids(matching(clinic)) == expected


def test_why_none_names_the_studies_and_the_reason():
    text = why_none(ClinicFigure("PHQ-9", "response", frozenset({"iv", "oral"}), 120.0, 6.0))
    assert text.startswith("Published PHQ-9 response figures (ORKA-1: IV, 14–31 days")
    assert "routes (IV, Oral) differ" in text
    assert "median 120 days" in text
    assert why_none(ClinicFigure("PCL-5", "response", frozenset({"iv"}), 20.0, 4.0)) is None


def test_by_measure_filters_routes():
    assert _ids(by_measure("bp_peak_rise")) == ["yale-bp-peak-rise"]
    assert _ids(by_measure("bp_peak_rise", routes=["sublingual"])) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[reference]]\nid = 'x'\n", "reference x: missing or bad field"),
        ("[[reference", "not valid TOML"),
    ],
)
def test_bad_files_name_the_entry(text, message):
    with pytest.raises(ReferenceFileError, match=message):
        parse_references(text)


def test_bad_route_and_measure():
    base = (
        "[[reference]]\nid='a'\nstudy='S'\ncitation='C'\npopulation='P'\nn=1\n"
        "n_unit='patients'\ninstrument='PHQ-9'\nvalue=0.5\ntime_point='day 1'\n"
    )
    with pytest.raises(ReferenceFileError, match="unknown route"):
        parse_references(base + "routes=['rectal']\nmeasure='response'\n")
    with pytest.raises(ReferenceFileError, match="unknown measure"):
        parse_references(base + "routes=['iv']\nmeasure='happiness'\n")


def test_clinic_figure_from_outcomes():
    """Two evaluable IV courses with endpoints 14 and 30 days after the first dose (2 and 4
    doses by then), one not evaluable (ignored): median 22 days, 3 doses, routes {iv}."""
    t0 = pd.Timestamp("2026-01-05 09:00")
    outcomes = pd.DataFrame(
        {
            "course_id": ["A", "B", "C"],
            "instrument": ["PHQ-9"] * 3,
            "evaluable": [True, True, False],
            "first_dose_at": [t0, t0, t0],
            "endpoint_at": [t0 + pd.Timedelta(days=14), t0 + pd.Timedelta(days=30), pd.NaT],
        }
    )
    dose_times = [t0 + pd.Timedelta(days=d) for d in (0, 7, 0, 7, 14, 21)]
    doses = pd.DataFrame(
        {
            "course_id": ["A", "A", "B", "B", "B", "B"],
            "started_at": pd.Series(dose_times).astype("datetime64[us]"),
            "dose_number": [1, 2, 1, 2, 3, 4],
        }
    )
    first = pd.DataFrame({"course_id": ["A", "B", "C"], "route": ["iv", "iv", "oral"]})
    figure = clinic_figure(outcomes, doses, first, instrument="PHQ-9", measure="response")
    assert figure == ClinicFigure("PHQ-9", "response", frozenset({"iv"}), 22.0, 3.0)
    assert _ids(matching(figure)) == ["orka-1-phq9-response"]


def test_why_none_for_two_measures_in_one_line():
    clinic = ClinicFigure("PHQ-9", "response", frozenset({"iv"}), 147.0, 6.0)
    text = why_none(clinic, measures=["response", "remission"])
    assert text.startswith("Published PHQ-9 response and remission figures (ORKA-1: IV, ")
    assert text.count("ORKA-1") == 1
    assert "routes" not in text  # IV is one of the studies' routes: only the time differs
    assert "(median 147 days, 6 dosing sessions after the first dose)" in text


def test_could_match_by_route_only():
    from kapviz.evidence.registry import could_match

    assert could_match("PHQ-9", frozenset({"iv"}))
    assert not could_match("PHQ-9", frozenset({"iv", "oral"}))
    assert not could_match("PHQ-9", frozenset())


def test_clinic_figure_without_doses():
    t0 = pd.Timestamp("2026-01-05 09:00")
    outcomes = pd.DataFrame(
        {
            "course_id": ["A"],
            "instrument": ["PHQ-9"],
            "evaluable": [True],
            "first_dose_at": [t0],
            "endpoint_at": [t0 + pd.Timedelta(days=20)],
        }
    )
    first = pd.DataFrame({"course_id": ["A"], "route": ["iv"]})
    figure = clinic_figure(outcomes, None, first, instrument="PHQ-9", measure="response")
    assert (figure.endpoint_days, figure.endpoint_doses) == (20.0, None)
