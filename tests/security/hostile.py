"""A small clinic whose every free-text field holds hostile text (test data as code).

`write_clinic(folder, texts)` writes a valid template folder: six patients at sites named by
`texts`, with those texts also as indications, clinician codes, course ids, ineligibility
reasons and one patient id, so an importer, a page or an export meets them everywhere.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

MARKDOWN = "![px](http://127.0.0.2:9/pixel.png) [Sign in again](http://evil.example/login)"
HTML = "<img src=x onerror=alert(1)> <b>bold</b> <a href='http://evil.example/a'>a</a>"
MARKUP = (MARKDOWN, HTML, "www.evil.example :red[red] $x^2$ `code`", "<b>North</b>")
"""Text that markdown or HTML would turn into a link, an image, a tag or a formatted word."""

FORMULAS = (
    '=HYPERLINK("http://evil.example/x","click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd",
    "@SUM(1+1)*cmd",
    "'=already quoted",
    "''@twice quoted",
)
"""Text that a spreadsheet would run as a formula, and text that already starts with quotes."""


def _write(folder: Path, name: str, rows: list[dict[str, str]]) -> None:
    with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def write_clinic(folder: str | Path, texts: Sequence[str]) -> Path:
    """Six patients (P1 … P5 and one whose id is texts[0]); each text is a site, an
    indication, a clinician code, a course id and an ineligibility reason somewhere."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n = len(texts)
    ids = [f"P{i}" for i in range(1, 6)] + [texts[0]]
    patients, sessions, assessments, effects, vitals = [], [], [], [], []
    for i, pid in enumerate(ids):
        text = texts[i % n]
        patients.append(
            {
                "patient_id": pid,
                "site": text,
                "sex": "female",
                "birth_year": "1980",
                "indication": texts[(i + 1) % n],
                "enrolled_on": "2026-01-02",
            }
        )
        course = texts[(i + 2) % n] + f" C{i}"
        base = {
            "patient_id": pid,
            "course_id": course,
            "status": "completed",
            "clinician": texts[(i + 3) % n],
            "route": "",
            "drug": "",
            "dose_mg": "",
            "weight_kg": "",
            "duration_min": "",
            "monitoring_min": "",
        }
        sessions.append(
            {
                **base,
                "session_id": f"S{i}-0",
                "started_at": "2026-01-05T09:00",
                "phase": "intake",
                "eligible": "true",
                "ineligible_reason": "",
            }
        )
        for k in range(1, 4):
            sessions.append(
                {
                    **base,
                    "session_id": f"S{i}-{k}",
                    "started_at": f"2026-01-{5 + 7 * k:02d}T09:00",
                    "phase": "dosing",
                    "eligible": "",
                    "ineligible_reason": "",
                    "route": "iv",
                    "drug": "ketamine",
                    "dose_mg": "35",
                    "weight_kg": "70",
                    "duration_min": "40",
                    "monitoring_min": "120",
                }
            )
            effects.append(
                {
                    "session_id": f"S{i}-{k}",
                    "effect": "nausea",
                    "severity": "mild",
                    "serious": "false",
                    "onset_min": "10",
                    "resolved": "true",
                    "action": "none",
                }
            )
            vitals.append(
                {
                    "session_id": f"S{i}-{k}",
                    "minutes_from_dose": "-10",
                    "systolic": "128",
                    "diastolic": "80",
                    "heart_rate": "72",
                    "spo2": "98",
                }
            )
        for day, total in (("2026-01-05", 20), ("2026-02-10", 8)):
            assessments.append(
                {
                    "patient_id": pid,
                    "session_id": "",
                    "instrument": "PHQ-9",
                    "administered_at": f"{day}T08:00",
                    "total": str(total + i),
                }
            )
    # Referred patients found not eligible, one per text, each with that text as the reason.
    for j, text in enumerate(texts):
        pid = f"R{j}"
        patients.append(
            {
                "patient_id": pid,
                "site": texts[0],
                "sex": "male",
                "birth_year": "1970",
                "indication": "MDD",
                "enrolled_on": "2026-01-03",
            }
        )
        sessions.append(
            {
                "session_id": f"R{j}-0",
                "patient_id": pid,
                "course_id": "",
                "started_at": "2026-01-06T09:00",
                "phase": "intake",
                "eligible": "false",
                "ineligible_reason": text,
                "status": "completed",
                "clinician": "CL1",
                "route": "",
                "drug": "",
                "dose_mg": "",
                "weight_kg": "",
                "duration_min": "",
                "monitoring_min": "",
            }
        )
    _write(folder, "patients", patients)
    _write(folder, "sessions", sessions)
    _write(folder, "assessments", assessments)
    _write(folder, "side_effects", effects)
    _write(folder, "vitals", vitals)
    return folder


REDCAP_EXPORT = Path(__file__).parents[1] / "io" / "fixtures" / "redcap" / "kap_project.csv"
"""A REDCap export of two records (one treated, one not eligible) for the shipped mapping."""


def write_redcap(path: str | Path) -> Path:
    """That REDCap export with hostile text in every free-text field: the record ids, the
    site and indication (codes the mapping does not know pass through as text), the
    clinicians and the ineligibility reason."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    replace = {
        "record_id": {"K001": MARKDOWN, "K002": HTML},
        "site": {"1": MARKUP[3], "2": MARKUP[2]},
        "indication": {"1": MARKUP[2], "2": HTML},
        "clinician": {"DrA": HTML, "DrB": MARKDOWN},
        "ineligible_reason": {"uncontrolled hypertension": MARKDOWN + " " + HTML},
    }
    with REDCAP_EXPORT.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or ())
        rows = [{k: replace.get(k, {}).get(v, v) for k, v in row.items()} for row in reader]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path
