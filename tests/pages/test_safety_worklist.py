"""The Safety page's worklist and labels as a director reads them (issue 17), on the hand
clinic (tests/clinic.py)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from tests.clinic import ANCHOR

CLOCK = datetime(2026, 1, 25, 12, 0)


@pytest.fixture
def clinic_anchor() -> date:
    return ANCHOR


def _frames(at) -> dict[str, object]:
    """Dataframes by a column only each has."""
    out = {}
    for d in at.dataframe:
        columns = set(d.value.columns)
        if "last_contact" in columns:
            out["inactive"] = d.value
        elif "is_new" in columns:
            out["worklist"] = d.value
        elif "alerts" in columns and "clinician" in columns:
            out["groups"] = d.value
    return out


def test_labels_state_unit_and_window_and_no_internal_file(run_page):
    """Every KPI says unit and window; the Overview's measure keeps its name; no caption
    sends the reader to DOMAIN.md."""
    at = run_page("pages/safety.py", state={"clock": CLOCK})
    labels = [m.label for m in at.metric]
    assert "Adverse events per 100 dosing sessions (all dates)" in labels
    assert "Serious adverse events (all dates)" in labels
    assert "Patients needing attention (now)" in labels
    text = " ".join(c.value for c in at.caption) + " ".join(m.value for m in at.markdown)
    assert "DOMAIN" not in text
    assert "In order: serious adverse events in the last 14 days" in text
    at = run_page(
        "pages/safety.py", state={"clock": CLOCK}, **{"from": "2026-01-01", "to": "2026-01-31"}
    )
    assert "Serious adverse events (2026-01-01 to 2026-01-31)" in [m.label for m in at.metric]


def test_worklist_grouped_paged_with_counts(run_page):
    """Site × clinician groups with counts; the page caption says which rows are shown."""
    at = run_page("pages/safety.py", state={"clock": CLOCK})
    frames = _frames(at)
    worklist = frames["worklist"]
    assert worklist["site"].tolist() == ["North", "North", "North"]
    assert frames["groups"][["site", "patients", "alerts"]].values.tolist() == [["North", 2, 3]]
    options = at.selectbox(key="safety_worklist_group").options
    assert options[0] == "All sites and clinicians"
    assert options[1].startswith("North · ") and "(2 patients)" in options[1]
    assert any(c.value == "Alerts 1–3 of 3 (2 patients)." for c in at.caption)
    assert "With sign-in off, nothing is marked new" in " ".join(c.value for c in at.caption)


def test_inactive_patients_listed_apart_with_last_contact(run_page):
    """On 2026-06-01 P2's item-9 alert stays, but P2 has had no session for over 90 days:
    the alert moves to the collapsed inactive list with P2's last contact."""
    at = run_page("pages/safety.py", state={"clock": datetime(2026, 6, 1, 12, 0)})
    expander = next(e for e in at.expander if e.label.startswith("Inactive patients"))
    assert expander.label == (
        "Inactive patients with alerts: 1 (no completed session in the last 90 days)"
    )
    inactive = _frames(at)["inactive"]
    assert inactive["patient_id"].tolist() == ["P2"]
    assert str(inactive["last_contact"].iloc[0].date()) >= "2026-01-01"
    assert any("No open alerts for active patients" in s.value for s in at.success)


def test_route_names_are_display_names(run_page):
    """The excursion table and the by-route rates say IV and IM, as the Overview does."""
    at = run_page("pages/safety.py", state={"clock": CLOCK})
    excursions = next(d.value for d in at.dataframe if "is_excursion" in d.value.columns)
    assert set(excursions["route"]) == {"IV", "IM"}
