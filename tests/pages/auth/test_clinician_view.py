"""The clinician view on the Trajectories page, by role (tests/clinic.py accounts).

CL-N1 treats P1 and P2 (North), CL-S1 P4 (South). PHQ-9: CL-N1 2 of 2 respond (P1 18 → 8,
P2 10 → 4); CL-S1's P4 is not evaluable. Dosing sessions: CL-N1 7 (P1 4, P2 3 completed),
CL-S1 2. Adverse events (one per effect per session): P1 dose 1 dissociation and nausea,
dose 2 dissociation, P2 dose 1 nausea → CL-N1 4, i.e. 57.1 per 100; CL-S1 none. BP
excursion: P1 dose 1 (182 systolic) → CL-N1 1.
"""

from __future__ import annotations

import json


def _table(at):
    (table,) = [d.value for d in at.dataframe if "ae_per_100" in d.value.columns]
    return table


def test_director_sees_codes_rates_and_safety(run_as):
    at = run_as("pages/trajectories.py", "dora")
    table = _table(at).set_index("clinician")
    assert sorted(table.index) == ["CL-N1", "CL-S1"]
    n1 = table.loc["CL-N1"]
    assert (n1["response_n"], n1["response_denominator"], n1["response_rate"]) == (2, 2, 100.0)
    assert (n1["remission_n"], n1["remission_denominator"]) == (1, 2)
    assert (n1["dosing_sessions"], n1["adverse_events"], n1["excursion_sessions"]) == (7, 4, 1)
    assert round(n1["ae_per_100"], 1) == 57.1
    assert n1["route_mix"] == "IV 50% · IM 50%"
    s1 = table.loc["CL-S1"]
    assert (s1["response_denominator"], s1["dosing_sessions"], s1["adverse_events"]) == (0, 2, 0)
    funnel = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert any(
        "response by clinician" in f["layout"]["title"]["text"]
        for f in funnel
        if f["layout"].get("title")
    )


def test_supervisor_sees_only_their_sites_clinicians(run_as):
    at = run_as("pages/trajectories.py", "sam")
    assert list(_table(at)["clinician"]) == ["CL-N1"]


def test_analyst_sees_no_codes_and_small_counts_suppressed(run_as):
    at = run_as("pages/trajectories.py", "ana")
    table = _table(at)
    assert set(table["clinician"]) == {"Clinician 1", "Clinician 2"}
    assert "<11" in set(table["dosing_sessions"])
    assert table["response_rate"].isna().all()  # every row has a small count: rates hidden
    text = json.dumps([json.loads(c.proto.spec) for c in at.get("plotly_chart")])
    assert "CL-N1" not in text and "CL-S1" not in text
