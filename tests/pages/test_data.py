"""Data page: counts, last import, data-quality panel on the hand-written clinic."""


def test_counts_and_quality(run_page):
    """3 completed dosing sessions lack a PHQ-9 in the 7 days before: P2 dose 3, P4 doses 1–2."""
    at = run_page("pages/data.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Patients"] == "5" and metrics["Side effects"] == "6"
    assert metrics["Dosing sessions without a PHQ-9 in the 7 days before"] == "3"
    missing = at.dataframe[0].value
    assert sorted(missing["session_id"]) == ["P2-D3", "P4-D1", "P4-D2"]
    assert set(missing["link"]) == {"/case_explorer?patient=P2", "/case_explorer?patient=P4"}
    assert any("Last import: **test**" in c.value for c in at.caption)


def test_rerun_reads_nothing(run_page, monkeypatch):
    """The quality panel is cached per data version: a rerun reads no frame."""
    from kapviz.db import queries

    at = run_page("pages/data.py")
    reads = []
    original = queries.read_frame
    monkeypatch.setattr(
        queries, "read_frame", lambda *a, **k: reads.append(a[1]) or original(*a, **k)
    )
    at.run()
    assert not at.exception and reads == []
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Dosing sessions without a PHQ-9 in the 7 days before"] == "3"
