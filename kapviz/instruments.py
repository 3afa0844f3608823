"""The instrument registry of docs/domain.md §2: ranges, scoring, bands and outcome rules.

Every clinical number about an instrument lives here with its source: item and total
ranges, severity bands, response/remission rules, the Jacobson–Truax reliable-change
inputs, LOINC codes (docs/domain.md §5) and the PHQ-9 item 9, PCL-5 and MOAA/S safety rules.
Pure Python; no pandas, no streamlit.
"""

from __future__ import annotations

import math
import numbers
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kapviz.domain import Z_95

_TOLERANCE_DP = 9
"""Decimals a reliable-change threshold is rounded to before comparing an integer change,
so that float noise in √(1 − r) never moves a change that sits exactly on the threshold."""


class UnknownInstrument(KeyError):
    """An instrument name or LOINC code that the registry does not know."""

    def __str__(self) -> str:
        # KeyError would show the message in quotes; show it as written.
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Band:
    """A severity band of an instrument total, `low`–`high` inclusive."""

    label: str
    low: int
    high: int

    def contains(self, total: int) -> bool:
        """True when `total` lies in this band."""
        return self.low <= total <= self.high


def _whole(value: object, what: str) -> int:
    """`value` as an int; integral floats (2.0 from a data frame) pass, anything else fails."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    number = float(value)
    if not (math.isfinite(number) and number.is_integer()):
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    return int(number)


def _sum_items(items: Sequence[int]) -> int:
    return sum(items)


def _qids_sr16_total(items: Sequence[int]) -> int:
    """QIDS-SR16 total (Rush 2003): one score per DSM-IV symptom domain, 0–27.

    Highest of items 1–4 (sleep) + item 5 (sad mood) + highest of items 6–9 (appetite/
    weight) + items 10–14 + highest of items 15–16 (psychomotor).
    """
    return max(items[0:4]) + items[4] + max(items[5:9]) + sum(items[9:14]) + max(items[14:16])


@dataclass(frozen=True)
class Instrument:
    """One rating scale: its ranges, bands and the outcome rules docs/domain.md §2 defines."""

    id: str
    name: str
    n_items: int
    item_min: int
    item_max: int
    total_min: int
    total_max: int
    bands: tuple[Band, ...]
    is_outcome: bool
    response_kind: str | None = None
    """"percent" (reduction ≥ threshold × baseline) or "points" (reduction ≥ threshold)."""
    response_threshold: float | None = None
    remission_max: int | None = None
    """Highest endpoint total that counts as remission (inclusive)."""
    reliable_sd: float | None = None
    reliable_r: float | None = None
    loinc_panel: str | None = None
    loinc_total: str | None = None
    loinc_items: tuple[str, ...] = ()
    source: str = ""
    higher_is_worse: bool = True
    """False only for MOAA/S, where 5 is alert and 0 unresponsive."""
    scorer: Callable[[Sequence[int]], int] = field(default=_sum_items, repr=False, compare=False)

    def score(self, items: Sequence[int]) -> int:
        """Total from the item scores in item order; ValueError on a wrong count or range."""
        if isinstance(items, str | bytes) or not isinstance(items, Sequence):
            raise ValueError(f"{self.id} item scores must be a sequence, got {items!r}")
        if len(items) != self.n_items:
            raise ValueError(f"{self.id} needs {self.n_items} item scores, got {len(items)}")
        values = [_whole(v, f"{self.id} item {i}") for i, v in enumerate(items, start=1)]
        for i, v in enumerate(values, start=1):
            if not self.item_min <= v <= self.item_max:
                raise ValueError(
                    f"{self.id} item {i} is {v}; items range {self.item_min}–{self.item_max}"
                )
        return self.validate_total(self.scorer(values))

    def validate_total(self, total: int) -> int:
        """`total` as an int when it is a whole number within the instrument's range."""
        value = _whole(total, f"{self.id} total")
        if not self.total_min <= value <= self.total_max:
            raise ValueError(
                f"{self.id} total {value} is outside {self.total_min}–{self.total_max}"
            )
        return value

    def band(self, total: int) -> str:
        """Label of the severity band `total` falls in (e.g. PHQ-9 12 → "moderate")."""
        value = self.validate_total(total)
        for band in self.bands:
            if band.contains(value):
                return band.label
        raise ValueError(f"{self.id} has no severity bands (docs/domain.md §2)")

    def reliable_change_threshold(
        self, sd: float | None = None, r: float | None = None
    ) -> float | None:
        """Jacobson–Truax z (1.96) × SD × √2 × √(1 − r); None when SD or r is unknown.

        `sd` and `r` override the registry defaults (docs/domain.md: configurable per instrument).
        """
        sd = self.reliable_sd if sd is None else sd
        r = self.reliable_r if r is None else r
        if sd is None or r is None:
            return None
        if not sd > 0:
            raise ValueError(f"{self.id} reliable-change SD must be positive, got {sd!r}")
        if not 0 <= r < 1:
            raise ValueError(f"{self.id} reliability r must be in [0, 1), got {r!r}")
        return Z_95 * sd * math.sqrt(2) * math.sqrt(1 - r)

    def percent_change(self, baseline: int, endpoint: int) -> float | None:
        """(endpoint − baseline) / baseline; None when baseline is 0 (docs/domain.md §3)."""
        b, e = self.validate_total(baseline), self.validate_total(endpoint)
        return None if b == 0 else (e - b) / b

    def is_response(self, baseline: int, endpoint: int) -> bool | None:
        """Response per the registry rule; None when undefined (percent rule, baseline 0)."""
        self._require_outcome("a response rule")
        b, e = self.validate_total(baseline), self.validate_total(endpoint)
        assert self.response_threshold is not None
        if self.response_kind == "points":
            return b - e >= self.response_threshold
        if b == 0:
            return None
        # Reduction ≥ threshold × baseline, compared without dividing (exact at 50%).
        return b - e >= self.response_threshold * b

    def is_remission(self, endpoint: int) -> bool:
        """Endpoint at or below the remission maximum (e.g. PHQ-9 ≤ 4, i.e. < 5)."""
        self._require_outcome("a remission rule")
        assert self.remission_max is not None
        return self.validate_total(endpoint) <= self.remission_max

    def is_reliable_improvement(
        self, baseline: int, endpoint: int, sd: float | None = None, r: float | None = None
    ) -> bool | None:
        """Change ≤ −JT threshold; None when no SD/r is known for this instrument."""
        threshold = self.reliable_change_threshold(sd, r)
        if threshold is None:
            return None
        change = self.validate_total(endpoint) - self.validate_total(baseline)
        return change <= -round(threshold, _TOLERANCE_DP)

    def is_reliable_deterioration(
        self, baseline: int, endpoint: int, sd: float | None = None, r: float | None = None
    ) -> bool | None:
        """Change ≥ +JT threshold; None when no SD/r is known for this instrument."""
        threshold = self.reliable_change_threshold(sd, r)
        if threshold is None:
            return None
        change = self.validate_total(endpoint) - self.validate_total(baseline)
        return change >= round(threshold, _TOLERANCE_DP)

    def _require_outcome(self, what: str) -> None:
        if not self.is_outcome:
            raise ValueError(f"{self.id} is a safety measure, not an outcome; it has no {what}")


def _bands(*spec: tuple[str, int, int]) -> tuple[Band, ...]:
    return tuple(Band(label, low, high) for label, low, high in spec)


_OUTCOME_SOURCE = "response/remission: ICSI depression guideline; reliable change: JT 1991"

PHQ9 = Instrument(
    id="PHQ-9",
    name="Patient Health Questionnaire-9",
    n_items=9,
    item_min=0,
    item_max=3,
    total_min=0,
    total_max=27,
    bands=_bands(
        ("minimal", 0, 4),
        ("mild", 5, 9),
        ("moderate", 10, 14),
        ("moderately severe", 15, 19),
        ("severe", 20, 27),
    ),
    is_outcome=True,
    response_kind="percent",
    response_threshold=0.5,
    remission_max=4,
    reliable_sd=5.5,
    reliable_r=0.89,
    loinc_panel="44249-1",
    loinc_total="44261-6",
    # Item order 1–9 (docs/domain.md §5); 44260-8 is item 9, the suicidality item.
    loinc_items=(
        "44250-9",
        "44255-8",
        "44259-0",
        "44254-1",
        "44251-7",
        "44258-2",
        "44252-5",
        "44253-3",
        "44260-8",
    ),
    source=(
        "Kroenke, Spitzer & Williams 2001, J Gen Intern Med; "
        f"{_OUTCOME_SOURCE}; NHS Talking Therapies manual (reliable improvement 6)"
    ),
)

GAD7 = Instrument(
    id="GAD-7",
    name="Generalized Anxiety Disorder-7",
    n_items=7,
    item_min=0,
    item_max=3,
    total_min=0,
    total_max=21,
    bands=_bands(("minimal", 0, 4), ("mild", 5, 9), ("moderate", 10, 14), ("severe", 15, 21)),
    is_outcome=True,
    response_kind="percent",
    response_threshold=0.5,
    remission_max=4,
    reliable_sd=4.5,
    reliable_r=0.92,
    loinc_panel="69737-5",  # the panel; the total is 70274-6 (a common mix-up)
    loinc_total="70274-6",
    source=(
        "Spitzer, Kroenke, Williams & Löwe 2006, Arch Intern Med; "
        f"{_OUTCOME_SOURCE}; NHS Talking Therapies manual (reliable improvement 4)"
    ),
)

PCL5 = Instrument(
    id="PCL-5",
    name="PTSD Checklist for DSM-5",
    n_items=20,
    item_min=0,
    item_max=4,
    total_min=0,
    total_max=80,
    # Cut-off 33 (reported range 31–33; Bovin 2016).
    bands=_bands(("below cut-off", 0, 32), ("probable PTSD", 33, 80)),
    is_outcome=True,
    response_kind="points",
    response_threshold=10,
    remission_max=32,
    reliable_sd=12.4,
    reliable_r=0.94,
    source=(
        "Blevins et al. 2015, J Trauma Stress; Bovin et al. 2016, Psychol Assess; "
        "response: ≥10-point reduction; reliable change: JT 1991"
    ),
)

MADRS = Instrument(
    id="MADRS",
    name="Montgomery–Åsberg Depression Rating Scale",
    n_items=10,
    item_min=0,
    item_max=6,
    total_min=0,
    total_max=60,
    bands=_bands(("normal", 0, 6), ("mild", 7, 19), ("moderate", 20, 34), ("severe", 35, 60)),
    is_outcome=True,
    response_kind="percent",
    response_threshold=0.5,
    remission_max=10,
    source=f"Montgomery & Åsberg 1979, Br J Psychiatry; {_OUTCOME_SOURCE}",
)

QIDS_SR16 = Instrument(
    id="QIDS-SR16",
    name="Quick Inventory of Depressive Symptomatology, Self-Report (16 items)",
    n_items=16,
    item_min=0,
    item_max=3,
    total_min=0,
    total_max=27,
    bands=_bands(
        ("none", 0, 5),
        ("mild", 6, 10),
        ("moderate", 11, 15),
        ("severe", 16, 20),
        ("very severe", 21, 27),
    ),
    is_outcome=True,
    response_kind="percent",
    response_threshold=0.5,
    remission_max=5,
    source=f"Rush et al. 2003, Biol Psychiatry; Trivedi et al. 2006; {_OUTCOME_SOURCE}",
    scorer=_qids_sr16_total,
)

BDI_II = Instrument(
    id="BDI-II",
    name="Beck Depression Inventory-II",
    n_items=21,
    item_min=0,
    item_max=3,
    total_min=0,
    total_max=63,
    bands=_bands(("minimal", 0, 13), ("mild", 14, 19), ("moderate", 20, 28), ("severe", 29, 63)),
    is_outcome=True,
    response_kind="percent",
    response_threshold=0.5,
    remission_max=13,
    source=f"Beck, Steer & Brown 1996, BDI-II manual; {_OUTCOME_SOURCE}",
)

CADSS = Instrument(
    id="CADSS",
    name="Clinician-Administered Dissociative States Scale",
    n_items=23,
    item_min=0,
    item_max=4,
    total_min=0,
    total_max=92,
    bands=(),  # dissociation during dosing is a safety measure with no severity bands
    is_outcome=False,
    source="Bremner et al. 1998, J Trauma Stress",
)

MOAAS = Instrument(
    id="MOAA/S",
    name="Modified Observer's Assessment of Alertness/Sedation",
    n_items=1,
    item_min=0,
    item_max=5,
    total_min=0,
    total_max=5,
    bands=_bands(
        ("no response to painful stimulus", 0, 0),
        ("responds only to painful stimulus", 1, 1),
        ("responds only to prodding or shaking", 2, 2),
        ("responds only to name called loudly or repeatedly", 3, 3),
        ("lethargic response to name in normal tone", 4, 4),
        ("alert", 5, 5),
    ),
    is_outcome=False,
    higher_is_worse=False,
    source="Chernik et al. 1990, J Clin Psychopharmacol; esketamine label (sedation ≤ 3)",
)

REGISTRY: dict[str, Instrument] = {
    i.id: i for i in (PHQ9, GAD7, PCL5, MADRS, QIDS_SR16, BDI_II, CADSS, MOAAS)
}
"""Every instrument kapviz knows, keyed by its id, in display order."""

OUTCOME_INSTRUMENTS: tuple[str, ...] = tuple(i.id for i in REGISTRY.values() if i.is_outcome)
"""The six symptom scales outcomes are computed for (higher = worse)."""


def _key(name: str) -> str:
    """Spelling-insensitive key: lower case, letters and digits only ("PHQ 9" → "phq9")."""
    plain = unicodedata.normalize("NFKD", name.casefold())  # "Åsberg" → "asberg"
    return re.sub(r"[^0-9a-z]", "", plain)


_ALIASES: dict[str, str] = {
    **{_key(i.id): i.id for i in REGISTRY.values()},
    **{_key(i.name): i.id for i in REGISTRY.values()},
    "qids": "QIDS-SR16",
    "qidssr": "QIDS-SR16",
    "bdi": "BDI-II",
    "bdi2": "BDI-II",
    "moaa": "MOAA/S",
}


def normalize(name: str) -> str | None:
    """Registry id for a spelling variant ("phq9", "qids_sr16", "moaa-s"), else None."""
    if not isinstance(name, str):
        return None
    return _ALIASES.get(_key(name))


def get(name: str) -> Instrument:
    """The instrument for any accepted spelling; UnknownInstrument lists the known ids."""
    instrument_id = normalize(name)
    if instrument_id is None:
        raise UnknownInstrument(
            f"unknown instrument {name!r}; known instruments: {', '.join(REGISTRY)}"
        )
    return REGISTRY[instrument_id]


def by_loinc(code: str) -> tuple[Instrument, str]:
    """(instrument, "panel" | "total" | "item_<n>") for a LOINC code of docs/domain.md §5."""
    wanted = code.strip() if isinstance(code, str) else code
    for instrument in REGISTRY.values():
        if wanted == instrument.loinc_total:
            return instrument, "total"
        if wanted == instrument.loinc_panel:
            return instrument, "panel"
        if wanted in instrument.loinc_items:
            return instrument, f"item_{instrument.loinc_items.index(wanted) + 1}"
    raise UnknownInstrument(f"no instrument has LOINC code {code!r}")


# --- PHQ-9 item 9 (docs/domain.md §2) -------------------------------------------------------

SUICIDALITY_ITEM = 9
"""PHQ-9 item (1-based) on thoughts of being better off dead or of self-harm."""


def is_suicidality_flag(item9_value: int) -> bool:
    """Any PHQ-9 item 9 answer above 0 is a suicidality flag, whatever the total.

    The threshold is fixed at > 0 by docs/domain.md §2 and must never be raised.
    """
    value = _whole(item9_value, f"PHQ-9 item {SUICIDALITY_ITEM}")
    if not PHQ9.item_min <= value <= PHQ9.item_max:
        raise ValueError(
            f"PHQ-9 item {SUICIDALITY_ITEM} is {value}; items range {PHQ9.item_min}–{PHQ9.item_max}"
        )
    return value > 0


def has_suicidality_flag(items: Sequence[int]) -> bool:
    """Suicidality flag from a full set of nine PHQ-9 item scores (validated)."""
    PHQ9.score(items)
    return is_suicidality_flag(items[SUICIDALITY_ITEM - 1])


# --- PCL-5 DSM-5 clusters (Blevins 2015) ------------------------------------------------

PCL5_CLUSTERS: dict[str, tuple[int, ...]] = {
    "B": (1, 2, 3, 4, 5),  # intrusion
    "C": (6, 7),  # avoidance
    "D": (8, 9, 10, 11, 12, 13, 14),  # negative alterations in cognition and mood
    "E": (15, 16, 17, 18, 19, 20),  # alterations in arousal and reactivity
}
"""1-based PCL-5 item numbers of each DSM-5 symptom cluster."""

PCL5_ENDORSED_MIN = 2
"""An item rated 2 ("moderately") or higher counts as an endorsed symptom."""

PCL5_CLUSTER_MINIMUM: dict[str, int] = {"B": 1, "C": 1, "D": 2, "E": 2}
"""Endorsed symptoms per cluster needed for provisional PTSD (DSM-5 rule)."""


def pcl5_clusters(items: Sequence[int]) -> dict[str, int]:
    """Cluster severity (sum of item scores) per DSM-5 cluster B, C, D, E."""
    PCL5.score(items)
    return {c: sum(int(items[i - 1]) for i in nums) for c, nums in PCL5_CLUSTERS.items()}


def pcl5_provisional_ptsd(items: Sequence[int]) -> bool:
    """Provisional PTSD: ≥1 B, ≥1 C, ≥2 D and ≥2 E items rated ≥ 2 (DSM-5 rule)."""
    PCL5.score(items)
    endorsed = {
        c: sum(1 for i in nums if items[i - 1] >= PCL5_ENDORSED_MIN)
        for c, nums in PCL5_CLUSTERS.items()
    }
    return all(endorsed[c] >= need for c, need in PCL5_CLUSTER_MINIMUM.items())


# --- MOAA/S sedation (docs/domain.md §4) -----------------------------------------------------

SEDATION_MOAAS_MAX = 3
"""MOAA/S at or below this is flagged as sedation (default of Settings.sedation_moaas_max)."""

LOSS_OF_CONSCIOUSNESS_MOAAS = 0
"""MOAA/S 0: no response to a painful stimulus."""


def is_sedation_flag(moaas: int, threshold: int = SEDATION_MOAAS_MAX) -> bool:
    """MOAA/S at or below `threshold` (default 3, configurable) is flagged as sedation."""
    return MOAAS.validate_total(moaas) <= threshold


def is_loss_of_consciousness(moaas: int) -> bool:
    """MOAA/S 0 is loss of consciousness (label: 0.3% of esketamine patients)."""
    return MOAAS.validate_total(moaas) == LOSS_OF_CONSCIOUSNESS_MOAAS
