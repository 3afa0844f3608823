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


def test_overview_counts_status_and_rebuild(run_page, clinic_url):
    """The hand clinic is written without rollups: the app's first engine builds them
    (kapviz.db.rollups.rebuild_if_stale), so the page says they are up to date; rows written
    by another program afterwards make them out of date, with a rebuild button that brings
    them back (the hand funnel) and then goes away."""
    from datetime import datetime

    from sqlalchemy import update

    from kapviz.db import rollups
    from kapviz.db.engine import make_engine
    from kapviz.db.models import Patient
    from kapviz.filters import Filters

    at = run_page("pages/data.py")
    assert any("stored counts are up to date" in c.value for c in at.caption)
    engine = make_engine(clinic_url)
    with engine.begin() as conn:
        conn.execute(update(Patient).where(Patient.patient_id == "P1").values(
            updated_at=datetime(2099, 1, 1)))  # fmt: skip
    at.run()
    assert any("predate the latest data" in c.value for c in at.caption)
    at.button(key="rollup_rebuild").click().run()
    assert not at.exception
    assert any("Rebuilt" in s.value for s in at.success)
    with engine.connect() as conn:
        assert rollups.is_current(conn)
        assert rollups.funnel_counts(conn, Filters()) == [5, 4, 3, 3, 2]
    at.run()
    assert any("stored counts are up to date" in c.value for c in at.caption)
    assert not [b for b in at.button if b.key == "rollup_rebuild"]


def test_overview_counts_out_of_date_after_another_writer(run_page, clinic_url):
    """Rows written by another program after a rebuild: the line says the counts predate them."""
    from datetime import datetime

    from sqlalchemy import update

    from kapviz.db import rollups
    from kapviz.db.engine import make_engine
    from kapviz.db.models import Patient

    engine = make_engine(clinic_url)
    assert rollups.rebuild(engine)
    with engine.begin() as conn:
        conn.execute(update(Patient).where(Patient.patient_id == "P1").values(
            indication="TRD", updated_at=datetime(2099, 1, 1)))  # fmt: skip
    at = run_page("pages/data.py")
    assert any("predate the latest data" in c.value for c in at.caption)
    assert at.button(key="rollup_rebuild")
