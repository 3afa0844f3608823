"""The side-effect vocabulary against DOMAIN.md §4: terms, synonyms, severity, label rates."""

from __future__ import annotations

import math

import pytest

from kapviz.domain import SEVERITIES
from kapviz.vocabulary import (
    CTCAE_SEVERITY,
    LABEL_NOTES,
    LONG_TERM_TERMS,
    PREFERRED_TERMS,
    REFERENCE_RATES,
    REFERENCE_SOURCE,
    SEVERITY_RANK,
    SYNONYMS,
    _key,
    normalize_severity,
    normalize_term,
    reference_rate,
    suggest_term,
)

# --- preferred terms ------------------------------------------------------------------------


def test_preferred_terms_exactly_as_domain() -> None:
    """The 21 preferred terms are DOMAIN §4's, in its order and lower case as written."""
    assert PREFERRED_TERMS == (
        "dissociation",
        "dizziness",
        "nausea",
        "vomiting",
        "sedation",
        "headache",
        "vertigo",
        "anxiety",
        "hypertension",
        "hypoesthesia",
        "dysgeusia",
        "lethargy",
        "feeling drunk",
        "blurred vision",
        "euphoria",
        "insomnia",
        "fatigue",
        "tachycardia",
        "confusion",
        "urinary symptoms",
        "cognitive impairment",
    )
    assert len(set(PREFERRED_TERMS)) == 21


@pytest.mark.parametrize("term", PREFERRED_TERMS)
def test_preferred_term_maps_to_itself(term: str) -> None:
    """A preferred term, in any case, normalises to itself."""
    assert normalize_term(term) == term
    assert normalize_term(term.upper()) == term


def test_long_term_terms() -> None:
    """Urinary symptoms and cognitive impairment are the long-term risks (DOMAIN §4)."""
    assert LONG_TERM_TERMS == ("urinary symptoms", "cognitive impairment")
    assert set(LONG_TERM_TERMS) <= set(PREFERRED_TERMS)


# --- synonyms -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("BP increased", "hypertension"),
        ("blood pressure increased", "hypertension"),
        ("hypertension", "hypertension"),
        ("raised blood pressure", "hypertension"),
        ("high blood pressure", "hypertension"),
        ("Elevated BP", "hypertension"),
        ("somnolence", "sedation"),
        ("drowsiness", "sedation"),
        ("sleepy", "sedation"),
        ("urinary frequency", "urinary symptoms"),
        ("pollakiuria", "urinary symptoms"),
        ("dysuria", "urinary symptoms"),
        ("cystitis", "urinary symptoms"),
        ("bladder pain", "urinary symptoms"),
        ("urgency", "urinary symptoms"),
        ("Ketamine cystitis", "urinary symptoms"),
        ("haematuria", "urinary symptoms"),
        ("depersonalization", "dissociation"),
        ("derealization", "dissociation"),
        ("depersonalisation", "dissociation"),
        ("dissociative", "dissociation"),
        ("memory problems", "cognitive impairment"),
        ("memory impairment", "cognitive impairment"),
        ("brain fog", "cognitive impairment"),
        ("cognitive complaints", "cognitive impairment"),
        ("numbness", "hypoesthesia"),
        ("paraesthesia", "hypoesthesia"),
        ("paresthesia", "hypoesthesia"),
        ("hypoaesthesia", "hypoesthesia"),
        ("pins and needles", "hypoesthesia"),
        ("taste disturbance", "dysgeusia"),
        ("metallic taste", "dysgeusia"),
        ("light-headed", "dizziness"),
        ("dizzy", "dizziness"),
        ("sick", "nausea"),
        ("queasy", "nausea"),
        ("emesis", "vomiting"),
        ("throwing up", "vomiting"),
        ("heart racing", "tachycardia"),
        ("palpitations", "tachycardia"),
        ("heart rate increased", "tachycardia"),
        ("tiredness", "fatigue"),
        ("asthenia", "fatigue"),
        ("listless", "lethargy"),
        ("feeling intoxicated", "feeling drunk"),
        ("vision blurred", "blurred vision"),
        ("euphoric mood", "euphoria"),
        ("sleeplessness", "insomnia"),
        ("can't sleep", "insomnia"),
        ("disorientation", "confusion"),
        ("panic attack", "anxiety"),
        ("migraine", "headache"),
        ("room spinning", "vertigo"),
    ],
)
def test_synonyms(text: str, term: str) -> None:
    """MedDRA-style and lay synonyms map onto the preferred term."""
    assert normalize_term(text) == term


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("Light-Headed", "dizziness"),
        ("lightheaded", "dizziness"),
        ("light headed", "dizziness"),
        ("LIGHT_HEADED", "dizziness"),
        ("  Nausea  ", "nausea"),
        ("BRAIN-FOG", "cognitive impairment"),
        ("brain_fog", "cognitive impairment"),
        ("Feeling-Drunk", "feeling drunk"),
        ("feeling_drunk", "feeling drunk"),
        ("Blurred  Vision", "blurred vision"),
        ("bp  INCREASED", "hypertension"),
        ("Urinary_Symptoms", "urinary symptoms"),
        ("Pins-and-Needles", "hypoesthesia"),
    ],
)
def test_matching_ignores_case_space_hyphen_underscore(text: str, term: str) -> None:
    """Case, runs of whitespace, hyphens and underscores do not change the match."""
    assert normalize_term(text) == term


@pytest.mark.parametrize("text", ["nausia", "rash", "broken leg", "", "   ", "nausea vomiting"])
def test_unknown_terms_are_none(text: str) -> None:
    """Misspellings and effects outside the vocabulary are not silently mapped."""
    assert normalize_term(text) is None


@pytest.mark.parametrize("text", [None, 3, float("nan")])
def test_non_text_terms_are_none(text: object) -> None:
    """Missing or non-text cells normalise to None rather than crashing the importer."""
    assert normalize_term(text) is None  # type: ignore[arg-type]


def test_every_synonym_targets_a_preferred_term() -> None:
    """The synonym table never invents a term outside the 21 preferred terms."""
    assert set(SYNONYMS.values()) <= set(PREFERRED_TERMS)
    assert set(SYNONYMS.values()) == set(PREFERRED_TERMS)  # every term has synonyms


def test_synonym_keys_do_not_collide() -> None:
    """No two spellings that match alike point at different terms (nor at another term)."""
    seen: dict[str, str] = {_key(t): t for t in PREFERRED_TERMS}
    for synonym, term in SYNONYMS.items():
        assert seen.setdefault(_key(synonym), term) == term, synonym


# --- suggestions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("nausia", "nausea"),
        ("dizzyness", "dizziness"),
        ("hedache", "headache"),
        ("hypertention", "hypertension"),
        ("tachycardya", "tachycardia"),
        ("dysgusia", "dysgeusia"),
        ("somnolance", "sedation"),  # via the synonym somnolence
        ("palpitatons", "tachycardia"),  # via the synonym palpitations
        ("vomitting", "vomiting"),
        ("insomina", "insomnia"),
        ("disociation", "dissociation"),
        ("letargy", "lethargy"),
        ("urinary symptons", "urinary symptoms"),
        ("cognitive impairmant", "cognitive impairment"),
        ("Nausea", "nausea"),  # already known: the term itself
        ("BP increased", "hypertension"),
    ],
)
def test_suggest_term(text: str, suggestion: str) -> None:
    """A close misspelling suggests the preferred term (directly or via a synonym)."""
    assert suggest_term(text) == suggestion


@pytest.mark.parametrize("text", ["xyzzy", "rash", "broken leg", "", "  ", None])
def test_suggest_term_none_when_nothing_close(text: str | None) -> None:
    """Unrelated text gets no suggestion rather than a far-fetched one."""
    assert suggest_term(text) is None  # type: ignore[arg-type]


# --- severity -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mild", ("mild", None)),
        ("Mild", ("mild", None)),
        ("MODERATE", ("moderate", None)),
        (" severe ", ("severe", None)),
        (1, ("mild", 1)),
        (2, ("moderate", 2)),
        (3, ("severe", 3)),
        (4, ("severe", 4)),
        (5, ("severe", 5)),
        (2.0, ("moderate", 2)),
        ("1", ("mild", 1)),
        ("2", ("moderate", 2)),
        ("3", ("severe", 3)),
        ("4", ("severe", 4)),
        ("5", ("severe", 5)),
        ("3.0", ("severe", 3)),
        ("grade 3", ("severe", 3)),
        ("Grade 2", ("moderate", 2)),
        ("GRADE1", ("mild", 1)),
        ("grade-4", ("severe", 4)),
        ("G3", ("severe", 3)),
        ("g1", ("mild", 1)),
        ("G 2", ("moderate", 2)),
        ("CTCAE grade 5", ("severe", 5)),
        ("ctcae 2", ("moderate", 2)),
        ("life-threatening", ("severe", 4)),
        ("fatal", ("severe", 5)),
    ],
    ids=repr,
)
def test_normalize_severity(value: object, expected: tuple[str, int | None]) -> None:
    """Words keep no grade; CTCAE 1 → mild, 2 → moderate, 3–5 → severe with the grade kept."""
    assert normalize_severity(value) == expected


@pytest.mark.parametrize(
    "value",
    [0, 6, -1, 2.5, "0", "6", "grade 6", "G0", "2.5", "very bad", "", None, True, math.nan, []],
    ids=repr,
)
def test_normalize_severity_rejects(value: object) -> None:
    """Anything else is a ValueError that names the value and the accepted forms."""
    with pytest.raises(ValueError, match="CTCAE grade 1–5") as info:
        normalize_severity(value)
    assert repr(value) in str(info.value)


def test_severity_rank_and_ctcae_table() -> None:
    """Ranks order mild < moderate < severe; the CTCAE table is DOMAIN §4's mapping."""
    assert SEVERITY_RANK == {"mild": 1, "moderate": 2, "severe": 3}
    assert tuple(SEVERITY_RANK) == SEVERITIES
    assert CTCAE_SEVERITY == {1: "mild", 2: "moderate", 3: "severe", 4: "severe", 5: "severe"}


# --- reference rates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "esketamine", "placebo"),
    [
        ("dissociation", 41, 9),
        ("dizziness", 29, 8),
        ("nausea", 28, 9),
        ("sedation", 23, 9),
        ("vertigo", 23, 3),
        ("headache", 20, 17),
        ("dysgeusia", 19, 14),
        ("hypoesthesia", 18, 2),
        ("anxiety", 13, 6),
        ("lethargy", 11, 5),
        ("hypertension", 10, 3),
        ("vomiting", 9, 2),
        ("feeling drunk", 5, 0.5),
    ],
)
def test_reference_rates(term: str, esketamine: float, placebo: float) -> None:
    """Each label row carries DOMAIN §4's esketamine vs placebo percentages."""
    row = reference_rate(term)
    assert row is not None
    assert (row.term, row.esketamine_pct, row.placebo_pct) == (term, esketamine, placebo)


def test_reference_rates_shape() -> None:
    """Thirteen rows in label order, all preferred terms, esketamine above placebo."""
    assert [r.term for r in REFERENCE_RATES][:3] == ["dissociation", "dizziness", "nausea"]
    assert len(REFERENCE_RATES) == 13
    assert all(r.term in PREFERRED_TERMS for r in REFERENCE_RATES)
    assert all(r.esketamine_pct > r.placebo_pct for r in REFERENCE_RATES)


def test_bp_increased_row_keeps_the_label_wording() -> None:
    """The label's "BP increased" row is the hypertension term and is found by its synonym."""
    row = reference_rate("BP increased")
    assert row is not None and row.term == "hypertension"
    assert row.label_term == "blood pressure increased"


@pytest.mark.parametrize("term", ["tachycardia", "urinary symptoms", "rash"])
def test_reference_rate_missing(term: str) -> None:
    """Terms the label table does not list have no reference line."""
    assert reference_rate(term) is None


def test_reference_source_names_the_label() -> None:
    """The source text says these are esketamine label TRD short-term pooled figures."""
    text = REFERENCE_SOURCE.lower()
    for word in ("esketamine", "treatment-resistant depression", "short-term", "pooled"):
        assert word in text


def test_label_notes() -> None:
    """Label monitoring notes: CADSS dissociation 61–75%, MOAA/S sedation 49–61%, LOC 0.3%."""
    assert [n.text for n in LABEL_NOTES] == [
        "dissociation (CADSS): 61–75% of patients",
        "sedation (MOAA/S): 49–61% of patients",
        "loss of consciousness (MOAA/S): 0.3% of patients",
    ]
