"""The instrument registry against DOMAIN.md §2 and §5, with hand-computed cases."""

from __future__ import annotations

import dataclasses

import pytest

from kapviz import instruments
from kapviz.config import Settings
from kapviz.domain import Z_95
from kapviz.instruments import (
    OUTCOME_INSTRUMENTS,
    REGISTRY,
    SUICIDALITY_ITEM,
    Band,
    Instrument,
    UnknownInstrument,
    by_loinc,
    get,
    has_suicidality_flag,
    is_loss_of_consciousness,
    is_sedation_flag,
    is_suicidality_flag,
    normalize,
    pcl5_clusters,
    pcl5_provisional_ptsd,
)

ALL_IDS = ("PHQ-9", "GAD-7", "PCL-5", "MADRS", "QIDS-SR16", "BDI-II", "CADSS", "MOAA/S")


# --- registry shape ---------------------------------------------------------------------


def test_registry_ids_in_order() -> None:
    """The registry holds exactly the eight DOMAIN §2 instruments, in table order."""
    assert tuple(REGISTRY) == ALL_IDS
    assert all(REGISTRY[i].id == i for i in ALL_IDS)


def test_outcome_instruments_are_the_six_symptom_scales() -> None:
    """Outcomes are the six symptom scales; CADSS and MOAA/S are safety measures."""
    assert OUTCOME_INSTRUMENTS == ("PHQ-9", "GAD-7", "PCL-5", "MADRS", "QIDS-SR16", "BDI-II")
    assert not REGISTRY["CADSS"].is_outcome
    assert not REGISTRY["MOAA/S"].is_outcome


@pytest.mark.parametrize(
    ("instrument_id", "n_items", "item_max", "total_max"),
    [
        ("PHQ-9", 9, 3, 27),
        ("GAD-7", 7, 3, 21),
        ("PCL-5", 20, 4, 80),
        ("MADRS", 10, 6, 60),
        ("QIDS-SR16", 16, 3, 27),
        ("BDI-II", 21, 3, 63),
        ("CADSS", 23, 4, 92),
        ("MOAA/S", 1, 5, 5),
    ],
)
def test_item_and_total_ranges(
    instrument_id: str, n_items: int, item_max: int, total_max: int
) -> None:
    """Items × range and total range match the DOMAIN §2 table; items and totals start at 0."""
    inst = REGISTRY[instrument_id]
    assert (inst.n_items, inst.item_min, inst.item_max) == (n_items, 0, item_max)
    assert (inst.total_min, inst.total_max) == (0, total_max)


@pytest.mark.parametrize("instrument_id", ALL_IDS)
def test_all_max_items_score_the_total_max(instrument_id: str) -> None:
    """Every item at its maximum scores the instrument's maximum total (QIDS included)."""
    inst = REGISTRY[instrument_id]
    assert inst.score([inst.item_max] * inst.n_items) == inst.total_max
    assert inst.score([inst.item_min] * inst.n_items) == inst.total_min


@pytest.mark.parametrize("instrument_id", [i for i in ALL_IDS if i != "CADSS"])
def test_bands_tile_the_total_range(instrument_id: str) -> None:
    """Bands are contiguous, non-overlapping and cover total_min…total_max exactly."""
    inst = REGISTRY[instrument_id]
    assert inst.bands[0].low == inst.total_min
    assert inst.bands[-1].high == inst.total_max
    for before, after in zip(inst.bands, inst.bands[1:], strict=False):
        assert after.low == before.high + 1


@pytest.mark.parametrize(
    ("instrument_id", "kind", "threshold", "remission_max"),
    [
        ("PHQ-9", "percent", 0.5, 4),
        ("GAD-7", "percent", 0.5, 4),
        ("PCL-5", "points", 10, 32),
        ("MADRS", "percent", 0.5, 10),
        ("QIDS-SR16", "percent", 0.5, 5),
        ("BDI-II", "percent", 0.5, 13),
        ("CADSS", None, None, None),
        ("MOAA/S", None, None, None),
    ],
)
def test_response_and_remission_fields(
    instrument_id: str, kind: str | None, threshold: float | None, remission_max: int | None
) -> None:
    """Response rule and inclusive remission maximum are DOMAIN §2's (none for safety scales)."""
    inst = REGISTRY[instrument_id]
    assert inst.response_kind == kind
    assert inst.response_threshold == threshold
    assert inst.remission_max == remission_max


@pytest.mark.parametrize(
    ("instrument_id", "sd", "r"),
    [
        ("PHQ-9", 5.5, 0.89),
        ("GAD-7", 4.5, 0.92),
        ("PCL-5", 12.4, 0.94),
        ("MADRS", None, None),
        ("QIDS-SR16", None, None),
        ("BDI-II", None, None),
        ("CADSS", None, None),
        ("MOAA/S", None, None),
    ],
)
def test_reliable_change_inputs(instrument_id: str, sd: float | None, r: float | None) -> None:
    """JT SD and r are set for PHQ-9, GAD-7 and PCL-5 only, with DOMAIN §2's values."""
    inst = REGISTRY[instrument_id]
    assert (inst.reliable_sd, inst.reliable_r) == (sd, r)


@pytest.mark.parametrize("instrument_id", ALL_IDS)
def test_every_instrument_names_a_source(instrument_id: str) -> None:
    """Each instrument carries a full name and a citation a clinician can check."""
    inst = REGISTRY[instrument_id]
    assert inst.name and inst.name != inst.id
    assert inst.source


def test_instruments_are_immutable() -> None:
    """Registry entries are frozen so no caller can change a threshold in place."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        REGISTRY["PHQ-9"].remission_max = 9  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Band("x", 0, 1).low = 2  # type: ignore[misc]


def test_only_moaas_is_higher_is_better() -> None:
    """All symptom scales are higher = worse; MOAA/S runs the other way (5 alert)."""
    assert [i for i in REGISTRY.values() if not i.higher_is_worse] == [REGISTRY["MOAA/S"]]


# --- bands -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instrument_id", "total", "label"),
    [
        ("PHQ-9", 0, "minimal"),
        ("PHQ-9", 4, "minimal"),
        ("PHQ-9", 5, "mild"),
        ("PHQ-9", 9, "mild"),
        ("PHQ-9", 10, "moderate"),
        ("PHQ-9", 14, "moderate"),
        ("PHQ-9", 15, "moderately severe"),
        ("PHQ-9", 19, "moderately severe"),
        ("PHQ-9", 20, "severe"),
        ("PHQ-9", 27, "severe"),
        ("GAD-7", 0, "minimal"),
        ("GAD-7", 4, "minimal"),
        ("GAD-7", 5, "mild"),
        ("GAD-7", 9, "mild"),
        ("GAD-7", 10, "moderate"),
        ("GAD-7", 14, "moderate"),
        ("GAD-7", 15, "severe"),
        ("GAD-7", 21, "severe"),
        ("PCL-5", 0, "below cut-off"),
        ("PCL-5", 32, "below cut-off"),
        ("PCL-5", 33, "probable PTSD"),
        ("PCL-5", 80, "probable PTSD"),
        ("MADRS", 0, "normal"),
        ("MADRS", 6, "normal"),
        ("MADRS", 7, "mild"),
        ("MADRS", 19, "mild"),
        ("MADRS", 20, "moderate"),
        ("MADRS", 34, "moderate"),
        ("MADRS", 35, "severe"),
        ("MADRS", 60, "severe"),
        ("QIDS-SR16", 0, "none"),
        ("QIDS-SR16", 5, "none"),
        ("QIDS-SR16", 6, "mild"),
        ("QIDS-SR16", 10, "mild"),
        ("QIDS-SR16", 11, "moderate"),
        ("QIDS-SR16", 15, "moderate"),
        ("QIDS-SR16", 16, "severe"),
        ("QIDS-SR16", 20, "severe"),
        ("QIDS-SR16", 21, "very severe"),
        ("QIDS-SR16", 27, "very severe"),
        ("BDI-II", 0, "minimal"),
        ("BDI-II", 13, "minimal"),
        ("BDI-II", 14, "mild"),
        ("BDI-II", 19, "mild"),
        ("BDI-II", 20, "moderate"),
        ("BDI-II", 28, "moderate"),
        ("BDI-II", 29, "severe"),
        ("BDI-II", 63, "severe"),
        ("MOAA/S", 5, "alert"),
        ("MOAA/S", 4, "lethargic response to name in normal tone"),
        ("MOAA/S", 3, "responds only to name called loudly or repeatedly"),
        ("MOAA/S", 2, "responds only to prodding or shaking"),
        ("MOAA/S", 1, "responds only to painful stimulus"),
        ("MOAA/S", 0, "no response to painful stimulus"),
    ],
)
def test_band_edges(instrument_id: str, total: int, label: str) -> None:
    """Each band edge falls in the band DOMAIN §2 gives it (both ends inclusive)."""
    assert REGISTRY[instrument_id].band(total) == label


@pytest.mark.parametrize(
    ("instrument_id", "total"),
    [("PHQ-9", -1), ("PHQ-9", 28), ("GAD-7", 22), ("PCL-5", 81), ("MADRS", 61), ("MOAA/S", 6)],
)
def test_band_rejects_out_of_range_total(instrument_id: str, total: int) -> None:
    """A total outside the instrument's range is an error, not the nearest band."""
    with pytest.raises(ValueError, match="outside"):
        REGISTRY[instrument_id].band(total)


def test_cadss_has_no_bands() -> None:
    """CADSS measures dissociation during dosing and has no severity bands to report."""
    assert REGISTRY["CADSS"].bands == ()
    with pytest.raises(ValueError, match="no severity bands"):
        REGISTRY["CADSS"].band(10)


# --- scoring -----------------------------------------------------------------------------


def test_qids_sr16_worked_example() -> None:
    """QIDS-SR16 takes domain maxima, not the plain item sum (Rush 2003 rule)."""
    items = [1, 3, 0, 2, 2, 0, 1, 2, 0, 2, 1, 3, 0, 1, 1, 2]
    # sleep max(1, 3, 0, 2) = 3; sad mood item 5 = 2; appetite/weight max(0, 1, 2, 0) = 2;
    # items 10–14 = 2 + 1 + 3 + 0 + 1 = 7; psychomotor max(1, 2) = 2 → 3 + 2 + 2 + 7 + 2 = 16.
    # (The plain sum would be 21, "very severe"; the correct 16 is "severe".)
    assert REGISTRY["QIDS-SR16"].score(items) == 16
    assert REGISTRY["QIDS-SR16"].band(16) == "severe"


@pytest.mark.parametrize(
    ("items", "total"),
    [
        ([3, 3, 3, 3] + [0] * 12, 3),  # four sleep items count once
        ([0] * 4 + [3] + [0] * 11, 3),  # sad mood alone
        ([0] * 5 + [1, 2, 3, 0] + [0] * 7, 3),  # appetite/weight: highest of 6–9
        ([0] * 9 + [1, 1, 1, 1, 1] + [0, 0], 5),  # items 10–14 add up
        ([0] * 14 + [1, 3], 3),  # psychomotor: highest of 15–16
        ([1] * 16, 9),  # 1 + 1 + 1 + 5 + 1
    ],
)
def test_qids_sr16_domain_rules(items: list[int], total: int) -> None:
    """Each QIDS-SR16 domain contributes as DOMAIN §2 specifies (hand-computed totals)."""
    assert REGISTRY["QIDS-SR16"].score(items) == total


@pytest.mark.parametrize(
    ("instrument_id", "items", "total"),
    [
        ("PHQ-9", [0, 1, 2, 3, 0, 1, 2, 3, 1], 13),
        ("GAD-7", [3, 2, 1, 0, 1, 2, 3], 12),
        ("PCL-5", [2] * 10 + [1] * 10, 30),
        ("MADRS", [6, 5, 4, 3, 2, 1, 0, 1, 2, 3], 27),
        ("BDI-II", [1] * 21, 21),
        ("CADSS", [1] * 23, 23),
        ("MOAA/S", [3], 3),
    ],
)
def test_sum_scoring(instrument_id: str, items: list[int], total: int) -> None:
    """Every instrument other than QIDS-SR16 scores the plain sum of its items."""
    assert REGISTRY[instrument_id].score(items) == total


def test_score_accepts_integral_floats() -> None:
    """Item scores read from a data frame as 2.0 are whole numbers and score normally."""
    assert REGISTRY["GAD-7"].score([2.0, 1.0, 0.0, 3.0, 0.0, 0.0, 1.0]) == 7


@pytest.mark.parametrize(
    ("instrument_id", "items", "message"),
    [
        ("PHQ-9", [1] * 8, "needs 9 item scores, got 8"),
        ("PHQ-9", [1] * 10, "needs 9 item scores, got 10"),
        ("PHQ-9", [], "needs 9 item scores, got 0"),
        ("PHQ-9", [0, 0, 4, 0, 0, 0, 0, 0, 0], "item 3 is 4; items range 0–3"),
        ("PHQ-9", [-1, 0, 0, 0, 0, 0, 0, 0, 0], "item 1 is -1"),
        ("GAD-7", [0, 0, 0, 0, 0, 0, 1.5], "item 7 must be a whole number"),
        ("GAD-7", [0, 0, 0, 0, 0, None, 0], "item 6 must be a whole number"),
        ("GAD-7", [0, 0, 0, "2", 0, 0, 0], "item 4 must be a whole number"),
        ("GAD-7", [True, 0, 0, 0, 0, 0, 0], "item 1 must be a whole number"),
        ("GAD-7", [float("nan"), 0, 0, 0, 0, 0, 0], "item 1 must be a whole number"),
        ("PCL-5", [5] + [0] * 19, "item 1 is 5; items range 0–4"),
        ("MADRS", [7] + [0] * 9, "item 1 is 7; items range 0–6"),
        ("QIDS-SR16", [0] * 15, "needs 16 item scores"),
        ("MOAA/S", [6], "item 1 is 6; items range 0–5"),
        ("MOAA/S", "3", "must be a sequence"),
        ("MOAA/S", 3.0, "must be a sequence"),
    ],
)
def test_score_rejects_invalid_items(instrument_id: str, items: object, message: str) -> None:
    """Wrong item counts, out-of-range or non-integer items fail with a message naming them."""
    with pytest.raises(ValueError, match=message):
        REGISTRY[instrument_id].score(items)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("instrument_id", "total", "ok"),
    [
        ("PHQ-9", 0, True),
        ("PHQ-9", 27, True),
        ("PHQ-9", 28, False),
        ("PHQ-9", -1, False),
        ("PCL-5", 80, True),
        ("PCL-5", 81, False),
        ("BDI-II", 63, True),
        ("BDI-II", 64, False),
    ],
)
def test_validate_total_range(instrument_id: str, total: int, ok: bool) -> None:
    """validate_total returns the total inside the range and raises outside it."""
    inst = REGISTRY[instrument_id]
    if ok:
        assert inst.validate_total(total) == total
    else:
        with pytest.raises(ValueError, match=f"{instrument_id} total {total} is outside"):
            inst.validate_total(total)


@pytest.mark.parametrize("total", [2.5, "10", None, True])
def test_validate_total_rejects_non_integers(total: object) -> None:
    """A fractional, text, missing or boolean total is refused rather than coerced."""
    with pytest.raises(ValueError, match="must be a whole number"):
        REGISTRY["PHQ-9"].validate_total(total)  # type: ignore[arg-type]


# --- percent change and response ---------------------------------------------------------


@pytest.mark.parametrize(
    ("baseline", "endpoint", "expected"),
    [(20, 10, -0.5), (10, 15, 0.5), (8, 8, 0.0), (4, 0, -1.0), (0, 3, None), (0, 0, None)],
)
def test_percent_change(baseline: int, endpoint: int, expected: float | None) -> None:
    """Percent change is change / baseline and undefined (None) at baseline 0."""
    assert REGISTRY["PHQ-9"].percent_change(baseline, endpoint) == expected


@pytest.mark.parametrize(
    ("instrument_id", "baseline", "endpoint", "expected"),
    [
        ("PHQ-9", 20, 10, True),  # exactly 50%
        ("PHQ-9", 20, 11, False),  # 45%
        ("PHQ-9", 15, 7, True),  # 8 ≥ 7.5
        ("PHQ-9", 15, 8, False),  # 7 < 7.5
        ("PHQ-9", 1, 0, True),  # 100%
        ("PHQ-9", 10, 12, False),  # worse
        ("PHQ-9", 0, 0, None),  # undefined at baseline 0
        ("PHQ-9", 0, 5, None),
        ("GAD-7", 15, 7, True),
        ("GAD-7", 15, 8, False),
        ("GAD-7", 0, 0, None),
        ("MADRS", 30, 15, True),
        ("MADRS", 30, 16, False),
        ("QIDS-SR16", 16, 8, True),
        ("QIDS-SR16", 16, 9, False),
        ("BDI-II", 29, 14, True),  # 15 ≥ 14.5
        ("BDI-II", 29, 15, False),  # 14 < 14.5
        ("PCL-5", 50, 41, False),  # −9
        ("PCL-5", 50, 40, True),  # −10
        ("PCL-5", 10, 0, True),  # −10 from a low baseline
        ("PCL-5", 5, 0, False),  # 100% but only −5 points
        ("PCL-5", 0, 0, False),  # the points rule is defined at baseline 0
    ],
)
def test_is_response(
    instrument_id: str, baseline: int, endpoint: int, expected: bool | None
) -> None:
    """≥50% reduction (PCL-5: ≥10 points) is response; percent rule undefined at baseline 0."""
    assert REGISTRY[instrument_id].is_response(baseline, endpoint) is expected


@pytest.mark.parametrize("instrument_id", ["CADSS", "MOAA/S"])
def test_safety_scales_have_no_outcome_rules(instrument_id: str) -> None:
    """Asking a safety scale for response or remission is an error, not a silent False."""
    inst = REGISTRY[instrument_id]
    with pytest.raises(ValueError, match="not an outcome"):
        inst.is_response(3, 1)
    with pytest.raises(ValueError, match="not an outcome"):
        inst.is_remission(1)


@pytest.mark.parametrize(
    ("instrument_id", "endpoint", "expected"),
    [
        ("PHQ-9", 4, True),
        ("PHQ-9", 5, False),
        ("PHQ-9", 0, True),
        ("GAD-7", 4, True),
        ("GAD-7", 5, False),
        ("PCL-5", 32, True),
        ("PCL-5", 33, False),
        ("MADRS", 10, True),
        ("MADRS", 11, False),
        ("QIDS-SR16", 5, True),
        ("QIDS-SR16", 6, False),
        ("BDI-II", 13, True),
        ("BDI-II", 14, False),
    ],
)
def test_is_remission_edges(instrument_id: str, endpoint: int, expected: bool) -> None:
    """Remission is endpoint < 5 (PHQ-9, GAD-7), < 33 (PCL-5), ≤ 10, ≤ 5, ≤ 13 per DOMAIN §2."""
    assert REGISTRY[instrument_id].is_remission(endpoint) is expected


# --- reliable change (Jacobson & Truax) ---------------------------------------------------


@pytest.mark.parametrize(
    ("instrument_id", "threshold"),
    [("PHQ-9", 5.06), ("GAD-7", 3.53), ("PCL-5", 8.42)],
)
def test_jt_thresholds(instrument_id: str, threshold: float) -> None:
    """1.96 × SD × √2 × √(1 − r) reproduces DOMAIN §2's 5.06, 3.53 and 8.42."""
    assert round(REGISTRY[instrument_id].reliable_change_threshold(), 2) == threshold


@pytest.mark.parametrize("instrument_id", ["MADRS", "QIDS-SR16", "BDI-II", "CADSS", "MOAA/S"])
def test_jt_threshold_unknown_without_sd_and_r(instrument_id: str) -> None:
    """Instruments without a registry SD and r have no reliable-change threshold (None)."""
    inst = REGISTRY[instrument_id]
    assert inst.reliable_change_threshold() is None
    assert inst.is_reliable_improvement(30, 0) is None
    assert inst.is_reliable_deterioration(0, 30) is None


@pytest.mark.parametrize(
    ("instrument_id", "sd", "r", "threshold"),
    [
        ("PHQ-9", None, 0.84, 6.10),  # 1.96 × 5.5 × 1.41421 × 0.4 = 6.098
        ("PHQ-9", 6.0, None, 5.52),  # 1.96 × 6.0 × 1.41421 × 0.33166 = 5.516
        ("GAD-7", 4.5, 0.92, 3.53),  # explicit defaults change nothing
        ("MADRS", 8.0, 0.9, 7.01),  # 1.96 × 8 × 1.41421 × 0.31623 = 7.012
    ],
)
def test_jt_threshold_overrides(
    instrument_id: str, sd: float | None, r: float | None, threshold: float
) -> None:
    """SD and r are configurable: overrides replace the registry value (hand-computed)."""
    value = REGISTRY[instrument_id].reliable_change_threshold(sd=sd, r=r)
    assert round(value, 2) == threshold


@pytest.mark.parametrize(("sd", "r"), [(0.0, 0.9), (-1.0, 0.9), (5.0, 1.0), (5.0, -0.1)])
def test_jt_threshold_rejects_impossible_inputs(sd: float, r: float) -> None:
    """SD must be positive and reliability r in [0, 1); anything else is a config error."""
    with pytest.raises(ValueError, match="PHQ-9"):
        REGISTRY["PHQ-9"].reliable_change_threshold(sd=sd, r=r)


@pytest.mark.parametrize(
    ("instrument_id", "baseline", "endpoint", "expected"),
    [
        ("PHQ-9", 15, 10, False),  # −5 < 5.06
        ("PHQ-9", 15, 9, True),  # −6 (the NHS Talking Therapies 6)
        ("PHQ-9", 27, 0, True),
        ("PHQ-9", 10, 16, False),  # deterioration is not improvement
        ("GAD-7", 10, 7, False),  # −3 < 3.53
        ("GAD-7", 10, 6, True),  # −4
        ("PCL-5", 50, 42, False),  # −8 < 8.42
        ("PCL-5", 50, 41, True),  # −9
    ],
)
def test_reliable_improvement_integer_edges(
    instrument_id: str, baseline: int, endpoint: int, expected: bool
) -> None:
    """Integer changes: PHQ-9 needs −6, GAD-7 −4, PCL-5 −9 to be reliable improvement."""
    assert REGISTRY[instrument_id].is_reliable_improvement(baseline, endpoint) is expected


@pytest.mark.parametrize(
    ("instrument_id", "baseline", "endpoint", "expected"),
    [
        ("PHQ-9", 10, 15, False),  # +5
        ("PHQ-9", 10, 16, True),  # +6
        ("PHQ-9", 15, 9, False),  # improvement is not deterioration
        ("GAD-7", 5, 8, False),  # +3
        ("GAD-7", 5, 9, True),  # +4
        ("PCL-5", 30, 38, False),  # +8
        ("PCL-5", 30, 39, True),  # +9
    ],
)
def test_reliable_deterioration_integer_edges(
    instrument_id: str, baseline: int, endpoint: int, expected: bool
) -> None:
    """Reliable deterioration mirrors improvement: PHQ-9 +6, GAD-7 +4, PCL-5 +9."""
    assert REGISTRY[instrument_id].is_reliable_deterioration(baseline, endpoint) is expected


def test_reliable_change_with_overrides() -> None:
    """Overridden SD/r move the integer edge (PHQ-9 r .84 → 6.10: −6 no, −7 yes)."""
    phq9 = REGISTRY["PHQ-9"]
    assert phq9.is_reliable_improvement(15, 9, r=0.84) is False
    assert phq9.is_reliable_improvement(15, 8, r=0.84) is True
    assert phq9.is_reliable_deterioration(8, 15, r=0.84) is True
    assert REGISTRY["MADRS"].is_reliable_improvement(30, 23, sd=8.0, r=0.9) is False  # −7
    assert REGISTRY["MADRS"].is_reliable_improvement(30, 22, sd=8.0, r=0.9) is True  # −8


def test_reliable_change_exactly_on_threshold_counts() -> None:
    """A change equal to the threshold is reliable despite float noise (r .5, SD 5/z → 5)."""
    phq9 = REGISTRY["PHQ-9"]
    assert phq9.reliable_change_threshold(sd=5 / Z_95, r=0.5) == pytest.approx(5.0)
    assert phq9.is_reliable_improvement(10, 5, sd=5 / Z_95, r=0.5) is True
    assert phq9.is_reliable_deterioration(5, 10, sd=5 / Z_95, r=0.5) is True
    assert phq9.is_reliable_improvement(10, 6, sd=5 / Z_95, r=0.5) is False


# --- PHQ-9 item 9 --------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "flag"), [(0, False), (1, True), (2, True), (3, True)])
def test_suicidality_flag(value: int, flag: bool) -> None:
    """Any PHQ-9 item 9 answer above 0 raises the suicidality flag."""
    assert is_suicidality_flag(value) is flag


@pytest.mark.parametrize("value", [-1, 4, 1.5, None])
def test_suicidality_flag_rejects_invalid_answers(value: object) -> None:
    """An impossible item 9 answer is an error, never silently "no flag"."""
    with pytest.raises(ValueError, match="PHQ-9 item 9"):
        is_suicidality_flag(value)  # type: ignore[arg-type]


def test_suicidality_item_is_item_9_with_its_loinc_code() -> None:
    """The suicidality item is PHQ-9 item 9 (1-based), LOINC 44260-8."""
    assert SUICIDALITY_ITEM == 9
    assert REGISTRY["PHQ-9"].loinc_items[SUICIDALITY_ITEM - 1] == "44260-8"


@pytest.mark.parametrize(
    ("items", "flag"),
    [
        ([0, 0, 0, 0, 0, 0, 0, 0, 1], True),  # total 1, "minimal", still flagged
        ([3, 3, 3, 3, 3, 3, 3, 3, 0], False),  # total 24, severe, no flag
        ([0] * 9, False),
    ],
)
def test_has_suicidality_flag_ignores_total(items: list[int], flag: bool) -> None:
    """The flag depends on item 9 alone, whatever the total."""
    assert has_suicidality_flag(items) is flag


# --- PCL-5 clusters ------------------------------------------------------------------------


def test_pcl5_clusters_worked_example() -> None:
    """Cluster sums: B items 1–5, C 6–7, D 8–14, E 15–20 (hand-added)."""
    items = [1, 2, 3, 4, 0, 2, 1, 0, 0, 2, 3, 1, 0, 4, 1, 1, 2, 0, 3, 2]
    # B 1+2+3+4+0 = 10; C 2+1 = 3; D 0+0+2+3+1+0+4 = 10; E 1+1+2+0+3+2 = 9; total 32.
    assert pcl5_clusters(items) == {"B": 10, "C": 3, "D": 10, "E": 9}
    assert instruments.PCL5.score(items) == 32


def test_provisional_ptsd_below_total_cut_off() -> None:
    """The DSM-5 cluster rule is separate from the 33 cut-off: total 32 can still qualify."""
    items = [1, 2, 3, 4, 0, 2, 1, 0, 0, 2, 3, 1, 0, 4, 1, 1, 2, 0, 3, 2]
    # Endorsed (≥2): B items 2, 3, 4; C item 6; D items 10, 11, 14; E items 17, 19, 20.
    assert pcl5_provisional_ptsd(items) is True
    assert instruments.PCL5.band(32) == "below cut-off"


def _pcl5(b: int, c: int, d: int, e: int) -> list[int]:
    """PCL-5 items with the first b/c/d/e items of each cluster at 2, the rest at 1."""
    counts = {"B": b, "C": c, "D": d, "E": e}
    items = [1] * 20
    for cluster, numbers in instruments.PCL5_CLUSTERS.items():
        for item in numbers[: counts[cluster]]:
            items[item - 1] = 2
    return items


@pytest.mark.parametrize(
    ("b", "c", "d", "e", "expected"),
    [
        (1, 1, 2, 2, True),  # the minimum
        (5, 2, 7, 6, True),  # everything endorsed
        (0, 1, 2, 2, False),  # no B
        (1, 0, 2, 2, False),  # no C
        (1, 1, 1, 2, False),  # one D
        (1, 1, 2, 1, False),  # one E
        (0, 0, 0, 0, False),  # all items at 1: nothing endorsed
    ],
)
def test_provisional_ptsd_cluster_rule(b: int, c: int, d: int, e: int, expected: bool) -> None:
    """Provisional PTSD needs ≥1 B, ≥1 C, ≥2 D, ≥2 E items rated ≥ 2."""
    assert pcl5_provisional_ptsd(_pcl5(b, c, d, e)) is expected


def test_item_rated_1_is_not_endorsed() -> None:
    """An item at 1 ("a little bit") is not endorsed; the threshold is 2."""
    items = _pcl5(1, 1, 2, 2)
    items[0] = 1  # the only endorsed B item drops to 1
    assert pcl5_provisional_ptsd(items) is False


def test_pcl5_helpers_validate_items() -> None:
    """The cluster helpers refuse an invalid PCL-5 item list like score() does."""
    with pytest.raises(ValueError, match="needs 20 item scores"):
        pcl5_clusters([1] * 19)
    with pytest.raises(ValueError, match="item 20 is 5"):
        pcl5_provisional_ptsd([1] * 19 + [5])


# --- MOAA/S ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moaas", "flag"), [(5, False), (4, False), (3, True), (2, True), (1, True), (0, True)]
)
def test_sedation_flag_default(moaas: int, flag: bool) -> None:
    """MOAA/S ≤ 3 is flagged as sedation (DOMAIN §4)."""
    assert is_sedation_flag(moaas) is flag


@pytest.mark.parametrize(
    ("moaas", "threshold", "flag"), [(3, 2, False), (2, 2, True), (4, 4, True)]
)
def test_sedation_flag_configurable(moaas: int, threshold: int, flag: bool) -> None:
    """The sedation threshold is configurable; the comparison stays 'at or below'."""
    assert is_sedation_flag(moaas, threshold=threshold) is flag


def test_sedation_default_matches_settings() -> None:
    """The registry's default sedation threshold agrees with Settings.sedation_moaas_max."""
    assert instruments.SEDATION_MOAAS_MAX == Settings().sedation_moaas_max == 3


@pytest.mark.parametrize(("moaas", "loc"), [(0, True), (1, False), (5, False)])
def test_loss_of_consciousness(moaas: int, loc: bool) -> None:
    """Only MOAA/S 0 (no response to a painful stimulus) is loss of consciousness."""
    assert is_loss_of_consciousness(moaas) is loc


@pytest.mark.parametrize("moaas", [-1, 6, 2.5])
def test_moaas_helpers_reject_invalid_scores(moaas: object) -> None:
    """A MOAA/S outside 0–5 or fractional is an error in both helpers."""
    with pytest.raises(ValueError, match="MOAA/S"):
        is_sedation_flag(moaas)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="MOAA/S"):
        is_loss_of_consciousness(moaas)  # type: ignore[arg-type]


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "instrument_id"),
    [
        ("PHQ-9", "PHQ-9"),
        ("phq-9", "PHQ-9"),
        ("phq9", "PHQ-9"),
        ("PHQ 9", "PHQ-9"),
        ("Phq_9", "PHQ-9"),
        ("  PHQ-9  ", "PHQ-9"),
        ("Patient Health Questionnaire-9", "PHQ-9"),
        ("gad7", "GAD-7"),
        ("GAD 7", "GAD-7"),
        ("pcl5", "PCL-5"),
        ("PCL-5", "PCL-5"),
        ("pcl_5", "PCL-5"),
        ("madrs", "MADRS"),
        ("Montgomery-Asberg Depression Rating Scale", "MADRS"),
        ("qids", "QIDS-SR16"),
        ("qids-sr16", "QIDS-SR16"),
        ("qids_sr16", "QIDS-SR16"),
        ("QIDS SR16", "QIDS-SR16"),
        ("QIDS-SR", "QIDS-SR16"),
        ("bdi2", "BDI-II"),
        ("bdi-ii", "BDI-II"),
        ("BDI II", "BDI-II"),
        ("bdi", "BDI-II"),
        ("cadss", "CADSS"),
        ("moaas", "MOAA/S"),
        ("MOAA/S", "MOAA/S"),
        ("moaa-s", "MOAA/S"),
        ("moaa/s", "MOAA/S"),
    ],
)
def test_spelling_variants(name: str, instrument_id: str) -> None:
    """Case, spaces, hyphens, underscores and slashes do not matter in instrument names."""
    assert normalize(name) == instrument_id
    assert get(name) is REGISTRY[instrument_id]


@pytest.mark.parametrize("name", ["PHQ-2", "phq", "PHQ-15", "HAM-D", "bdi-i", "", "   "])
def test_unknown_names(name: str) -> None:
    """Other scales (and look-alikes such as PHQ-2) are not mapped onto a registry entry."""
    assert normalize(name) is None
    with pytest.raises(UnknownInstrument):
        get(name)


@pytest.mark.parametrize("name", [None, 9, float("nan")])
def test_normalize_non_text(name: object) -> None:
    """A missing or non-text name normalises to None rather than crashing."""
    assert normalize(name) is None  # type: ignore[arg-type]


def test_unknown_instrument_message_lists_known_ids() -> None:
    """The error is a KeyError whose message names the culprit and every known id."""
    with pytest.raises(KeyError) as info:
        get("HAM-D")
    assert isinstance(info.value, UnknownInstrument)
    message = str(info.value)
    assert "'HAM-D'" in message
    assert "PHQ-9, GAD-7, PCL-5, MADRS, QIDS-SR16, BDI-II, CADSS, MOAA/S" in message


# --- LOINC ----------------------------------------------------------------------------------


PHQ9_ITEM_CODES = (
    "44250-9",
    "44255-8",
    "44259-0",
    "44254-1",
    "44251-7",
    "44258-2",
    "44252-5",
    "44253-3",
    "44260-8",
)


@pytest.mark.parametrize(
    ("code", "instrument_id", "part"),
    [
        ("44249-1", "PHQ-9", "panel"),
        ("44261-6", "PHQ-9", "total"),
        ("69737-5", "GAD-7", "panel"),  # the panel, not the total (a common bug)
        ("70274-6", "GAD-7", "total"),
        (" 70274-6 ", "GAD-7", "total"),
    ]
    + [(code, "PHQ-9", f"item_{n}") for n, code in enumerate(PHQ9_ITEM_CODES, start=1)],
)
def test_by_loinc(code: str, instrument_id: str, part: str) -> None:
    """LOINC codes of DOMAIN §5 resolve to their instrument and role (panel, total, item n)."""
    instrument, role = by_loinc(code)
    assert instrument.id == instrument_id
    assert role == part


def test_phq9_loinc_items_in_item_order() -> None:
    """PHQ-9 item codes are stored in item order 1–9, one per item."""
    phq9 = REGISTRY["PHQ-9"]
    assert phq9.loinc_items == PHQ9_ITEM_CODES
    assert len(phq9.loinc_items) == phq9.n_items


@pytest.mark.parametrize(
    ("instrument_id", "panel", "total"),
    [
        ("PHQ-9", "44249-1", "44261-6"),
        ("GAD-7", "69737-5", "70274-6"),
        ("PCL-5", None, None),
        ("MADRS", None, None),
        ("QIDS-SR16", None, None),
        ("BDI-II", None, None),
        ("CADSS", None, None),
        ("MOAA/S", None, None),
    ],
)
def test_loinc_fields(instrument_id: str, panel: str | None, total: str | None) -> None:
    """Only PHQ-9 and GAD-7 carry LOINC codes; the rest use a local code system."""
    inst = REGISTRY[instrument_id]
    assert (inst.loinc_panel, inst.loinc_total) == (panel, total)
    if instrument_id != "PHQ-9":
        assert inst.loinc_items == ()


@pytest.mark.parametrize("code", ["8480-6", "29463-7", "70274", "", "44260-9"])
def test_by_loinc_unknown(code: str) -> None:
    """Vital-sign and unknown codes are not instruments and raise UnknownInstrument."""
    with pytest.raises(UnknownInstrument, match="no instrument has LOINC code"):
        by_loinc(code)


def test_instrument_is_a_dataclass_with_the_documented_fields() -> None:
    """The public fields the rest of kapviz reads exist under their documented names."""
    names = {f.name for f in dataclasses.fields(Instrument)}
    assert {
        "id",
        "name",
        "n_items",
        "item_min",
        "item_max",
        "total_min",
        "total_max",
        "bands",
        "is_outcome",
        "response_kind",
        "response_threshold",
        "remission_max",
        "reliable_sd",
        "reliable_r",
        "loinc_panel",
        "loinc_total",
        "loinc_items",
        "source",
    } <= names
