"""Side-effect vocabulary of docs/domain.md §4: preferred terms, synonyms, severity, label rates.

Importers map free text onto the 21 preferred terms here so that rates count one concept
once; unknown text gets a "did you mean" suggestion rather than a silent new term.
Pure Python; no pandas, no streamlit.
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
import unicodedata
from dataclasses import dataclass

from kapviz.domain import SEVERITIES

PREFERRED_TERMS: tuple[str, ...] = (
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
"""The preferred terms, in docs/domain.md §4 order."""

LONG_TERM_TERMS: tuple[str, ...] = ("urinary symptoms", "cognitive impairment")
"""Risks that grow with cumulative dose and frequency; shown against cumulative dose."""

# fmt: off
# MedDRA-style lower-level and lay terms → preferred term. Spelling, case, spaces, hyphens
# and underscores do not matter (see _key), so "light-headed" also covers "lightheaded".
_SYNONYM_SPEC: dict[str, tuple[str, ...]] = {
    "dissociation": (
        "dissociative", "dissociative symptoms", "dissociative state", "dissociated",
        "depersonalization", "depersonalisation", "derealization", "derealisation",
        "depersonalization/derealization", "out of body experience", "out of body",
        "feeling detached", "detachment", "feeling of unreality",
    ),
    "dizziness": (
        "dizzy", "light-headed", "light-headedness", "presyncope", "giddiness",
        "feeling faint", "faintness", "dizziness postural", "postural dizziness", "woozy",
    ),
    "nausea": (
        "sick", "feeling sick", "queasy", "queasiness", "nauseous", "nauseated",
        "upset stomach", "sick to stomach",
    ),
    "vomiting": ("vomit", "vomited", "emesis", "throwing up", "threw up", "puking"),
    "sedation": (
        "somnolence", "drowsiness", "drowsy", "sleepy", "sleepiness", "sedated",
        "oversedation", "excessive sedation",
    ),
    "headache": ("head ache", "cephalalgia", "cephalgia", "head pain", "migraine",
                 "tension headache"),
    "vertigo": ("spinning", "room spinning", "spinning sensation", "vertiginous"),
    "anxiety": (
        "anxious", "feeling anxious", "nervousness", "nervous", "panic", "panic attack",
        "anxiety attack", "apprehension",
    ),
    "hypertension": (
        "BP increased", "blood pressure increased", "increased blood pressure",
        "raised blood pressure", "high blood pressure", "elevated blood pressure",
        "blood pressure elevated", "blood pressure high", "blood pressure rise",
        "high BP", "raised BP", "elevated BP", "BP elevated", "BP high", "hypertensive",
        "transient hypertension", "systolic hypertension", "diastolic hypertension",
    ),
    "hypoesthesia": (
        "hypoaesthesia", "hypesthesia", "hypaesthesia", "numbness", "numb",
        "paraesthesia", "paresthesia", "tingling", "pins and needles",
        "oral hypoesthesia", "hypoaesthesia oral", "numbness oral",
    ),
    "dysgeusia": (
        "taste disturbance", "metallic taste", "altered taste", "taste alteration",
        "taste change", "bad taste", "strange taste", "unpleasant taste", "parageusia",
    ),
    "lethargy": ("lethargic", "sluggish", "sluggishness", "listless", "listlessness"),
    "feeling drunk": (
        "drunk", "drunk feeling", "feeling intoxicated", "intoxicated", "inebriated", "tipsy",
    ),
    "blurred vision": (
        "vision blurred", "blurry vision", "blurring of vision", "visual blurring",
        "blurred eyesight",
    ),
    "euphoria": ("euphoric", "euphoric mood", "elation", "elated", "elevated mood"),
    "insomnia": (
        "sleeplessness", "trouble sleeping", "difficulty sleeping", "can't sleep",
        "cannot sleep", "poor sleep", "initial insomnia", "middle insomnia",
    ),
    "fatigue": (
        "tiredness", "tired", "fatigued", "exhaustion", "exhausted", "asthenia",
        "low energy", "lack of energy", "weariness",
    ),
    # Palpitations is a sensation, not a measured rate; in KAP reports it is almost always
    # the felt fast heartbeat, so it joins tachycardia (the vital signs show the rate).
    "tachycardia": (
        "heart racing", "racing heart", "palpitations", "palpitation", "pounding heart",
        "heart rate increased", "increased heart rate", "elevated heart rate",
        "fast heart rate", "rapid heart rate", "rapid heartbeat", "HR increased",
        "sinus tachycardia",
    ),
    "confusion": (
        "confused", "confusional state", "confused state", "mental confusion",
        "disorientation", "disoriented", "disorientated",
    ),
    # Ketamine uropathy (docs/domain.md §4 long-term risk): any lower-urinary-tract complaint.
    "urinary symptoms": (
        "urinary frequency", "frequent urination", "pollakiuria", "dysuria",
        "painful urination", "burning on urination", "cystitis", "ketamine cystitis",
        "interstitial cystitis", "ulcerative cystitis", "ketamine uropathy",
        "bladder pain", "bladder discomfort", "bladder symptoms", "urgency",
        "urinary urgency", "micturition urgency", "nocturia", "haematuria", "hematuria",
        "urinary incontinence", "incontinence", "urinary retention",
        "lower urinary tract symptoms", "LUTS", "urinary tract symptoms", "urinary symptom",
    ),
    "cognitive impairment": (
        "memory problems", "memory impairment", "memory loss", "amnesia", "forgetfulness",
        "forgetful", "brain fog", "mental fog", "fogginess", "cognitive complaints",
        "cognitive dysfunction", "cognitive disorder", "cognitive decline",
        "poor concentration", "difficulty concentrating", "disturbance in attention",
    ),
}
# fmt: on

SYNONYMS: dict[str, str] = {
    synonym: term for term, synonyms in _SYNONYM_SPEC.items() for synonym in synonyms
}
"""Synonym as written → preferred term (for display and documentation)."""


def _key(text: str) -> str:
    """Matching key: case-folded, accents dropped, letters and digits only."""
    plain = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in plain if ch.isalnum() and not unicodedata.combining(ch))


_LOOKUP: dict[str, str] = {
    **{_key(s): t for s, t in SYNONYMS.items()},
    **{_key(t): t for t in PREFERRED_TERMS},
}


def normalize_term(text: str) -> str | None:
    """Preferred term for a preferred term or synonym in any spelling variant, else None."""
    if not isinstance(text, str):
        return None
    return _LOOKUP.get(_key(text))


SUGGESTION_CUTOFF = 0.8
"""difflib similarity a misspelling needs before it is offered as "did you mean"."""


def suggest_term(text: str) -> str | None:
    """Closest preferred term for a misspelling ("nausia" → "nausea"), else None.

    Only a suggestion for the importer's error message; it never maps data on its own.
    """
    if not isinstance(text, str) or not _key(text):
        return None
    known = normalize_term(text)
    if known is not None:
        return known
    match = difflib.get_close_matches(_key(text), _LOOKUP, n=1, cutoff=SUGGESTION_CUTOFF)
    return _LOOKUP[match[0]] if match else None


# --- Severity (docs/domain.md §4) -------------------------------------------------------------

SEVERITY_RANK: dict[str, int] = {s: rank for rank, s in enumerate(SEVERITIES, start=1)}
"""mild 1, moderate 2, severe 3: a recurring effect counts at its highest rank."""

CTCAE_SEVERITY: dict[int, str] = {1: "mild", 2: "moderate", 3: "severe", 4: "severe", 5: "severe"}
"""CTCAE grade → severity (4 is life-threatening and 5 death; both count as severe)."""

_GRADE_WORDS: dict[str, int] = {"lifethreatening": 4, "fatal": 5, "death": 5}
_GRADE_PATTERN = re.compile(r"(?:ctcae)?(?:grade|gr|g)?([1-5])(?:\.0+)?")


def normalize_severity(value: object) -> tuple[str, int | None]:
    """(severity, CTCAE grade or None) from "mild"…"severe", 1–5, "grade 3" or "G3"."""
    hint = "use mild, moderate or severe, or a CTCAE grade 1–5 (e.g. 3, 'grade 3', 'G3')"
    if isinstance(value, bool) or value is None:
        raise ValueError(f"severity {value!r} is not recognised; {hint}")
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isfinite(number) and number.is_integer() and int(number) in CTCAE_SEVERITY:
            return CTCAE_SEVERITY[int(number)], int(number)
        raise ValueError(f"{value!r} is not a CTCAE grade 1–5; {hint}")
    if not isinstance(value, str):
        raise ValueError(f"severity {value!r} is not recognised; {hint}")
    key = re.sub(r"[\s_\-]", "", value.casefold())
    if key in SEVERITY_RANK:
        return key, None
    if key in _GRADE_WORDS:
        return CTCAE_SEVERITY[_GRADE_WORDS[key]], _GRADE_WORDS[key]
    match = _GRADE_PATTERN.fullmatch(key)
    if match:
        grade = int(match.group(1))
        return CTCAE_SEVERITY[grade], grade
    raise ValueError(f"severity {value!r} is not recognised; {hint}")


# --- Esketamine label reference rates (docs/domain.md §4) -------------------------------------


@dataclass(frozen=True)
class ReferenceRate:
    """One label row: % of patients with the effect on esketamine vs placebo."""

    term: str
    esketamine_pct: float
    placebo_pct: float
    label_term: str = ""
    """The label's own wording when it differs from the preferred term."""


REFERENCE_SOURCE = (
    "Esketamine (Spravato) prescribing information: adverse reactions in the pooled "
    "short-term placebo-controlled trials in treatment-resistant depression (TRD), "
    "% of patients, esketamine + oral antidepressant vs placebo + oral antidepressant"
)

REFERENCE_RATES: tuple[ReferenceRate, ...] = (
    ReferenceRate("dissociation", 41, 9),
    ReferenceRate("dizziness", 29, 8),
    ReferenceRate("nausea", 28, 9),
    ReferenceRate("sedation", 23, 9),
    ReferenceRate("vertigo", 23, 3),
    ReferenceRate("headache", 20, 17),
    ReferenceRate("dysgeusia", 19, 14),
    ReferenceRate("hypoesthesia", 18, 2),
    ReferenceRate("anxiety", 13, 6),
    ReferenceRate("lethargy", 11, 5),
    ReferenceRate("hypertension", 10, 3, label_term="blood pressure increased"),
    ReferenceRate("vomiting", 9, 2),
    ReferenceRate("feeling drunk", 5, 0.5),
)
"""Reference lines for the side-effect chart; see REFERENCE_SOURCE."""


@dataclass(frozen=True)
class LabelNote:
    """A label figure measured with a scale during dosing, as a % range of patients."""

    finding: str
    instrument: str
    low_pct: float
    high_pct: float

    @property
    def text(self) -> str:
        """Readable form, e.g. "dissociation (CADSS): 61–75% of patients"."""
        low, high = f"{self.low_pct:g}", f"{self.high_pct:g}"
        span = f"{low}%" if low == high else f"{low}–{high}%"
        return f"{self.finding} ({self.instrument}): {span} of patients"


LABEL_NOTES: tuple[LabelNote, ...] = (
    LabelNote("dissociation", "CADSS", 61, 75),
    LabelNote("sedation", "MOAA/S", 49, 61),
    LabelNote("loss of consciousness", "MOAA/S", 0.3, 0.3),
)
"""Esketamine label figures from scale-based monitoring (docs/domain.md §4)."""


def reference_rate(term: str) -> ReferenceRate | None:
    """The label row for a preferred term or synonym, or None when the label has none."""
    preferred = normalize_term(term)
    return next((row for row in REFERENCE_RATES if row.term == preferred), None)
