"""FHIR element reading: value[x] shapes, units, scored answers, phase words."""

from __future__ import annotations

import pytest

from kapviz.io.fhir_elements import (
    DOSE_UNITS_MG,
    WEIGHT_UNITS_KG,
    InvalidRecord,
    phase_of,
    ref_id,
    value_of,
)


@pytest.mark.parametrize(
    ("element", "expected"),
    [
        ({"valueInteger": 7}, 7),
        ({"valueDecimal": 12.0}, 12),
        ({"valueString": " 12 "}, 12),
        ({"valueQuantity": {"value": 16, "code": "{score}"}}, 16),
        ({"valueCodeableConcept": {"coding": [{"code": "LA6571-9"}]}}, 3),
        ({"valueCoding": {"code": "LA6568-5"}}, 0),
        ({"valueCoding": {"code": "x", "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/itemWeight", "valueDecimal": 2}]}},
         2),
        ({}, None),
    ],
)  # fmt: skip
def test_values(element, expected):
    """Every accepted value[x] shape gives the number kapviz stores."""
    assert value_of(element) == expected


@pytest.mark.parametrize(
    ("element", "units", "expected"),
    [
        ({"valueQuantity": {"value": 0.06, "code": "g"}}, DOSE_UNITS_MG, 60),
        ({"valueQuantity": {"value": 154, "code": "[lb_av]"}}, WEIGHT_UNITS_KG, 69.85),
    ],
)
def test_unit_conversion(element, units, expected):
    """Doses convert to mg and weights to kg."""
    assert round(value_of(element, units=units), 2) == expected


@pytest.mark.parametrize(
    "element",
    [
        {"valueString": "twelve"},
        {"valueQuantity": {"value": 5, "code": "mL"}},
        {"valueCoding": {"code": "LA6573-5"}},
        {"valueDecimal": "NaN"},
    ],
)
def test_invalid_values(element):
    """A non-numeric value, a wrong unit or an unscored answer makes the record invalid."""
    with pytest.raises(InvalidRecord):
        value_of(element, units=DOSE_UNITS_MG if "valueQuantity" in element else None)


@pytest.mark.parametrize(
    ("encounter", "phase"),
    [
        ({"type": [{"coding": [{"system": "urn:kapviz:phase", "code": "follow_up"}]}]},
         "follow_up"),
        ({"type": [{"text": "FOLLOW-UP"}]}, "follow_up"),
        ({"type": [{"coding": [{"code": "Integration"}]}]}, "integration"),
        ({"serviceType": {"text": "preparation"}}, "preparation"),
        ({"type": [{"text": "Consultation"}]}, None),
        ({}, None),
    ],
)  # fmt: skip
def test_phase_detection(encounter, phase):
    """The phase comes from the kapviz code system, or from a phase word in type/serviceType."""
    assert phase_of(encounter) == phase


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ({"reference": "Patient/123"}, "123"),
        ({"reference": "https://ehr.example.org/fhir/Patient/123"}, "123"),
        ({"reference": "urn:uuid:abc"}, "abc-id"),
        ({"display": "no reference"}, None),
        (None, None),
    ],
)
def test_references(reference, expected):
    """Relative, absolute and bundle-local (urn:uuid) references resolve to the id."""
    assert ref_id(reference, {"urn:uuid:abc": "abc-id"}) == expected
