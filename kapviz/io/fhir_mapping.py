"""A FHIR mapping file (TOML): which of an EHR's own codes are kapviz phases and doses.

Real EHR exports carry no kapviz phase codes: their encounters have types, classes and
service types of their own, and ketamine sessions show up as MedicationAdministrations or
Procedures with local codes. The mapping says which codes mean what (docs/fhir.md,
"Mapping file"); everything else keeps the built-in rules.

    [phases]                      # Encounter type / class / serviceType code → phase
    "http://snomed.info/sct|185349003" = "intake"
    "PREP-VISIT" = "preparation"  # a bare code matches that code in any system

    [[doses]]                     # MedicationAdministration or Procedure code → dosing
    codes = ["http://www.nlm.nih.gov/research/umls/rxnorm|6130", "KET-IV"]
    drug = "ketamine"
    route = "iv"                  # used when the resource gives no route
    dose_mg = 35                  # used when the resource gives no dose (a Procedure)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from kapviz.domain import DRUGS, PHASES, ROUTES


class FhirMappingError(ValueError):
    """The mapping file is unreadable or says something kapviz cannot use."""


@dataclass(frozen=True)
class DoseRule:
    """What a mapped MedicationAdministration or Procedure code means."""

    drug: str
    route: str | None = None
    dose_mg: float | None = None


@dataclass(frozen=True)
class FhirMapping:
    """Codes ("system|code" or a bare "code") → phase, and → dose rule."""

    phases: dict[str, str] = field(default_factory=dict)
    doses: dict[str, DoseRule] = field(default_factory=dict)

    @staticmethod
    def _lookup(table: dict, codings: list[dict]):
        for c in codings:
            code = str(c.get("code") or "").strip()
            if not code:
                continue
            system = str(c.get("system") or "").strip()
            found = table.get(f"{system}|{code}") if system else None
            if found is None:
                found = table.get(code)
            if found is not None:
                return found
        return None

    def phase(self, codings: list[dict]) -> str | None:
        """The phase the first mapped coding names, or None."""
        return self._lookup(self.phases, codings)

    def dose(self, codings: list[dict]) -> DoseRule | None:
        """The dose rule of the first mapped coding, or None."""
        return self._lookup(self.doses, codings)


def _choice(where: str, value, allowed: tuple[str, ...]) -> str:
    text = str(value).strip().lower().replace("-", "_").replace(" ", "_")
    if text not in allowed:
        raise FhirMappingError(f"{where} = {value!r}: expected one of {', '.join(allowed)}")
    return text


def parse_fhir_mapping(data: dict, name: str = "mapping") -> FhirMapping:
    """A mapping from parsed TOML; every mistake names the key and what is accepted."""
    if not isinstance(data, dict):
        raise FhirMappingError(f"{name}: not a mapping table")
    unknown = set(data) - {"phases", "doses"}
    if unknown:
        raise FhirMappingError(f"{name}: unknown section(s) {', '.join(sorted(unknown))} "
                               "(expected [phases] and [[doses]])")  # fmt: skip
    phases_in = data.get("phases", {})
    if not isinstance(phases_in, dict):
        raise FhirMappingError(f"{name}: [phases] must be a table of code = phase")
    phases = {
        str(code).strip(): _choice(f"{name}: [phases] {code!r}", phase, PHASES)
        for code, phase in phases_in.items()
    }
    doses: dict[str, DoseRule] = {}
    rules = data.get("doses", [])
    if not isinstance(rules, list):
        raise FhirMappingError(f"{name}: doses must be an array of tables ([[doses]])")
    for n, rule in enumerate(rules, start=1):
        where = f"{name}: [[doses]] #{n}"
        if not isinstance(rule, dict):
            raise FhirMappingError(f"{where}: expected a table with codes and drug")
        codes = rule.get("codes")
        if not isinstance(codes, list) or not codes:
            raise FhirMappingError(f"{where}: codes must be a non-empty list of codes")
        route = rule.get("route")
        dose = rule.get("dose_mg")
        if dose is not None and (
            isinstance(dose, bool) or not isinstance(dose, int | float) or not dose > 0
        ):
            raise FhirMappingError(f"{where}: dose_mg = {dose!r}: expected a number above 0")
        parsed = DoseRule(
            drug=_choice(f"{where} drug", rule.get("drug", "ketamine"), DRUGS),
            route=None if route is None else _choice(f"{where} route", route, ROUTES),
            dose_mg=None if dose is None else float(dose),
        )
        for code in codes:
            doses[str(code).strip()] = parsed
    return FhirMapping(phases=phases, doses=doses)


def load_fhir_mapping(path: str | Path) -> FhirMapping:
    """Read a FHIR mapping TOML file (see the module docstring)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise FhirMappingError(f"{path.name}: not a readable TOML mapping ({exc})") from None
    except RecursionError:
        raise FhirMappingError(f"{path.name}: not a readable TOML mapping (nested too deeply)"
                               ) from None  # fmt: skip
    return parse_fhir_mapping(data, path.name)
