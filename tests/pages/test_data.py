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
    """The hand clinic is written without rollups: the app builds them when it starts
    (kapviz.ui.db.engine_for), so the page says they are up to date; after a row written by
    another program it offers a rebuild, and after it the counts are current again."""
    from datetime import datetime

    from sqlalchemy import update

    from kapviz.db import rollups
    from kapviz.db.engine import make_engine
    from kapviz.db.models import Patient
    from kapviz.filters import Filters
    from kapviz.ui import data

    at = run_page("pages/data.py")
    assert any("stored counts are up to date" in c.value for c in at.caption)
    assert not [b for b in at.button if b.key == "rollup_rebuild"]
    with make_engine(clinic_url).begin() as conn:
        conn.execute(update(Patient).where(Patient.patient_id == "P5").values(
            updated_at=datetime(2099, 1, 1)))  # fmt: skip
    data.forget_version()
    at.run()
    assert any("predate the latest data" in c.value for c in at.caption)
    at.button(key="rollup_rebuild").click().run()
    assert not at.exception
    assert any("Rebuilt" in s.value for s in at.success)
    with make_engine(clinic_url).connect() as conn:
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
    from kapviz.ui import data

    engine = make_engine(clinic_url)
    assert rollups.rebuild(engine)
    at = run_page("pages/data.py")  # the app is running when the other program writes
    with engine.begin() as conn:
        conn.execute(update(Patient).where(Patient.patient_id == "P1").values(
            indication="TRD", updated_at=datetime(2099, 1, 1)))  # fmt: skip
    data.forget_version()
    at.run()
    assert any("predate the latest data" in c.value for c in at.caption)
    assert at.button(key="rollup_rebuild")
