"""--skip-invalid: rows with problems are dropped, their dependants follow, each is reported."""

from __future__ import annotations

import pandas as pd

from kapviz.io.rejections import Rejection, validate_skipping_invalid, write_rejections
from kapviz.io.tables import ImportBatch


def batch() -> ImportBatch:
    """One patient; session S1 lacks its dose (invalid), S2 is fine; a vital sign on each."""
    b = ImportBatch()
    b.add("patients", pd.DataFrame({"patient_id": ["p1"], "site": ["North"]}), name="P", rows=[1])
    b.add("sessions", pd.DataFrame({
        "session_id": ["S1", "S2"], "patient_id": ["p1", "p1"],
        "started_at": ["2026-01-05T09:00", "2026-01-02T09:00"], "phase": ["dosing", "intake"],
        "route": ["iv", ""],
    }), name="S", rows=[10, 11])  # fmt: skip
    b.add("vitals", pd.DataFrame({
        "session_id": ["S1", "S2"], "minutes_from_dose": ["0", "0"], "systolic": ["120", "400"],
    }), name="V", rows=[20, 21])  # fmt: skip
    return b


def test_invalid_rows_and_their_dependants_are_rejected():
    """S1 (no dose) goes; its vital sign goes in the next round; S2's bad systolic goes too."""
    validated, rejections = validate_skipping_invalid(
        batch(), describe=lambda file, row: (file, f"{file}-{row}")
    )
    assert validated.problems == []
    assert validated.frames["sessions"]["session_id"].tolist() == ["S2"]
    assert validated.frames["vitals"].empty
    assert rejections == [
        Rejection(10, "sessions", "sessions-10", "dose_mg: expected a value (required)", "S"),
        Rejection(21, "vitals", "vitals-21", "systolic '400': expected a whole number from 50 "
                  "to 300", "V"),
        Rejection(20, "vitals", "vitals-20", "session_id 'S1': expected a session_id that "
                  "exists in sessions", "V"),
    ]  # fmt: skip


def test_valid_batch_rejects_nothing(tmp_path):
    """A valid batch passes unchanged; the report then holds only its header."""
    b = batch()
    b.tables["sessions"].loc[0, "phase"] = "intake"
    b.tables["sessions"].loc[0, "route"] = ""
    b.tables["vitals"].loc[1, "systolic"] = "130"
    validated, rejections = validate_skipping_invalid(b)
    assert (validated.problems, rejections) == ([], [])
    path = write_rejections(tmp_path / "r.csv", rejections)
    assert path.read_text() == "record,file,resource_type,id,reason\n"
