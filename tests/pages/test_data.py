"""Data page: counts, last import, data-quality panel on the hand-written clinic."""

import pytest


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


COUNT_LABELS = {
    "patients": "Patients",
    "courses": "Courses",
    "sessions": "Sessions",
    "dosings": "Dosings",
    "assessments": "Assessments",
    "side_effects": "Side effects",
    "vitals": "Vitals",
}


def _shown_counts(at) -> dict[str, int]:
    metrics = {m.label: m.value for m in at.metric}
    return {table: int(metrics[label].replace(",", "")) for table, label in COUNT_LABELS.items()}


def _true_counts(url: str) -> dict[str, int]:
    from kapviz.db import queries
    from kapviz.db.engine import make_engine

    with make_engine(url).connect() as conn:
        return queries.table_counts(conn)


def _import_a_patient(url: str, folder) -> None:
    """An import (the template's path, as the Import tab) of one new patient, a copy of P5."""
    import pandas as pd

    from kapviz.db.engine import make_engine
    from kapviz.io.export import export_template
    from kapviz.io.template import read_template
    from kapviz.io.validate import ExistingKeys, validate
    from kapviz.io.write import write_batch

    engine = make_engine(url)
    export_template(engine, folder / "whole")
    patients = pd.read_csv(folder / "whole" / "patients.csv", dtype=str, keep_default_na=False)
    new = patients[patients["patient_id"] == "P5"].assign(patient_id="P6")
    (folder / "new").mkdir()
    new.to_csv(folder / "new" / "patients.csv", index=False)
    with engine.connect() as conn:
        validated = validate(read_template(folder / "new"), existing=ExistingKeys.load(conn))
    assert not validated.problems
    write_batch(engine, validated, source="p6", kind="template")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_counts_are_every_tables_true_count(request, backend, tmp_path):
    """Every count on screen is the table's row count (from the rollups, which the app
    built at start), on both backends, and again after an import."""
    from kapviz.db import rollups
    from kapviz.db.engine import make_engine
    from kapviz.ui import data

    if backend == "sqlite":
        run, url = request.getfixturevalue("run_page"), request.getfixturevalue("clinic_url")
    else:
        run = request.getfixturevalue("run_page_on_postgresql")
        url = request.getfixturevalue("pg_url")
    at = run("pages/data.py")
    with make_engine(url).connect() as conn:
        assert rollups.is_current(conn)
    assert _shown_counts(at) == _true_counts(url)
    assert _shown_counts(at)["side_effects"] == 6
    _import_a_patient(url, tmp_path)
    data.forget_version()
    at.run()
    assert not at.exception
    with make_engine(url).connect() as conn:
        assert rollups.is_current(conn)
    shown = _shown_counts(at)
    assert shown == _true_counts(url) and shown["patients"] == 6
