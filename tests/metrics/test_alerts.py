"""Alerts worklist counted per reason, for the wall screen's safety view."""

import pandas as pd

from kapviz.metrics.alerts import (
    REASON_COGNITIVE,
    REASON_EXCURSION,
    REASON_SUICIDALITY,
    patients_per_reason,
)


def test_patients_per_reason_by_hand():
    """P1 twice for item 9 counts once; P1 also under BP; zeros for the other reasons."""
    worklist = pd.DataFrame(
        {
            "patient_id": ["P1", "P1", "P2", "P1", "P3"],
            "reason": [REASON_SUICIDALITY, REASON_SUICIDALITY, REASON_SUICIDALITY,
                       REASON_EXCURSION, REASON_COGNITIVE],
        }
    )  # fmt: skip
    out = patients_per_reason(worklist).set_index("reason")["patients"]
    assert out.index[0] == REASON_SUICIDALITY  # most urgent first
    assert out[REASON_SUICIDALITY] == 2
    assert out[REASON_EXCURSION] == 1
    assert out[REASON_COGNITIVE] == 1
    assert out.sum() == 4 and len(out) == 6


def test_patients_per_reason_empty_worklist():
    """No alerts: every reason with 0."""
    out = patients_per_reason(pd.DataFrame(columns=["patient_id", "reason"]))
    assert out["patients"].tolist() == [0] * 6
