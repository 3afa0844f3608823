"""Template import and export: validation, transactional upsert, idempotence, round trip."""

from __future__ import annotations

import filecmp
import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select, text

from kapviz.cli import main
from kapviz.db.engine import make_engine
from kapviz.db.models import Assessment, Dosing, Session, SideEffect
from kapviz.demo import generate_clinic
from kapviz.io import write
from kapviz.io.export import export_template
from kapviz.io.template import read_template
from kapviz.io.validate import ExistingKeys, validate
from kapviz.io.write import write_batch
from tests import pg

FIXTURES = Path(__file__).parent / "fixtures"
VALID = FIXTURES / "template_valid"
ERRORS = FIXTURES / "template_errors"
TABLES = ("patients", "courses", "sessions", "dosings", "assessments", "side_effects", "vitals")


def dump(url: str) -> dict[str, list]:
    """Every row of every clinic table, ordered, for before/after comparisons."""
    engine = make_engine(url)
    with engine.connect() as conn:
        return {
            t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2"))]
            for t in TABLES
        }


def import_path(path: Path, url: str, *extra: str) -> int:
    return main(["import", str(path), "--db", url, *extra])


def test_valid_folder_imports(db_url, capsys):
    """The valid fixture imports with exit 0 and summary counts equal its contents."""
    assert import_path(VALID, db_url) == 0
    assert "sessions: 8 added" in capsys.readouterr().out
    assert main(["summary", "--db", db_url, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["patients"] == 3
    assert summary["courses"] == 3
    # S4 is cancelled, so 2 completed dosing sessions of A1 plus S7 of A2.
    assert summary["sessions"] == {
        "intake": 3, "preparation": 1, "dosing": 3, "integration": 0, "follow_up": 0,
    }  # fmt: skip


def test_values_are_normalised(sqlite_url):
    """Derived and normalised values: mg/kg, offsets, courses, items, terms, CTCAE grades."""
    assert import_path(VALID, sqlite_url) == 0
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        s = {r.session_id: r for r in conn.execute(select(Session))}
        d = {r.session_id: r for r in conn.execute(select(Dosing))}
        a = conn.execute(select(Assessment).order_by(Assessment.administered_at)).all()
        e = conn.execute(select(SideEffect).order_by(SideEffect.session_id, SideEffect.seq)).all()
    assert d["S3"].dose_mg_per_kg == 0.5
    assert d["S4"].drug == "ketamine" and s["S4"].status == "cancelled"
    local = datetime.fromisoformat("2026-01-19T09:00+01:00").astimezone().replace(tzinfo=None)
    assert s["S5"].started_at == local
    assert s["S1"].course_id == "A1-C1" and s["S7"].course_id == "A2-X"
    item_level = next(r for r in a if r.items)
    assert (item_level.total, item_level.suicide_item) == (17, 1)
    assert json.loads(item_level.items) == [2, 2, 2, 2, 2, 2, 2, 2, 1]
    untied = next(r for r in a if r.session_id is None and r.patient_id == "A2")
    assert untied.course_id == "A2-X"
    assert [(r.session_id, r.seq, r.term, r.verbatim, r.severity, r.ctcae_grade) for r in e] == [
        ("S3", 1, "dissociation", "dissociation", "moderate", None),
        ("S3", 2, "hypertension", "BP increased", "severe", 3),
        ("S3", 3, "dissociation", "dissociation", "mild", None),
        ("S7", 1, "sedation", "somnolence", "mild", None),
    ]


EXPECTED_PROBLEMS = [
    ("patients.csv", 2, "sex"),
    ("patients.csv", 3, "site"),
    ("patients.csv", 3, "birth_year"),
    ("patients.csv", 3, "enrolled_on"),
    ("patients.csv", 4, "patient_id"),
    ("sessions.csv", 3, "patient_id"),
    ("sessions.csv", 4, "dose_mg"),
    ("sessions.csv", 4, "route"),
    ("sessions.csv", 5, "phase"),
    ("sessions.csv", 5, "started_at"),
    ("sessions.csv", 5, "status"),
    ("sessions.csv", 6, "phase"),
    ("assessments.csv", 2, "total"),
    ("assessments.csv", 3, "total"),
    ("assessments.csv", 4, "instrument"),
    ("assessments.csv", 5, "session_id"),
    ("side_effects.csv", 2, "effect"),
    ("side_effects.csv", 3, "severity"),
    ("vitals.csv", 2, "systolic"),
    ("vitals.csv", 3, "systolic"),
    ("vitals.csv", 3, "heart_rate"),
    ("vitals.csv", 3, "spo2"),
]


def test_every_planted_problem_is_reported():
    """All 22 planted problems come back with file, spreadsheet row and column."""
    result = validate(read_template(ERRORS))
    assert sorted((p.file, p.row, p.column) for p in result.problems) == sorted(EXPECTED_PROBLEMS)
    by_key = {(p.file, p.row, p.column): p for p in result.problems}
    assert "did you mean 'nausea'" in by_key[("side_effects.csv", 2, "effect")].expected
    assert by_key[("assessments.csv", 3, "total")].expected.startswith("9, the total")
    assert result.warnings == ["patients: unknown columns ignored: favourite_colour"]


def test_bad_folder_changes_nothing(db_url, capsys):
    """Exit 2, every problem printed, and the database exactly as before."""
    assert import_path(VALID, db_url) == 0
    before = dump(db_url)
    assert import_path(ERRORS, db_url) == 2
    err = capsys.readouterr().err
    assert "22 problems found; nothing was written" in err
    assert "patients.csv:3 birth_year '1850'" in err
    assert dump(db_url) == before


def test_reimport_changes_nothing(db_url, capsys):
    """A second import of the same folder adds and updates nothing, not even updated_at."""
    assert import_path(VALID, db_url) == 0
    before = dump(db_url)
    capsys.readouterr()
    assert import_path(VALID, db_url) == 0
    out = capsys.readouterr().out
    assert "0 added, 0 updated" in out and "added, 1 updated" not in out
    assert dump(db_url) == before


def test_dry_run_writes_nothing(sqlite_url, capsys):
    """--dry-run reports what would be added and creates no database (issue 15)."""
    assert import_path(VALID, sqlite_url, "--dry-run") == 0
    assert "patients: 3 added" in capsys.readouterr().out
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()
    assert import_path(VALID, sqlite_url) == 0
    before = dump(sqlite_url)
    assert import_path(VALID, sqlite_url, "--dry-run") == 0
    assert dump(sqlite_url) == before


def test_changed_rows_are_updated_and_extra_effects_removed(sqlite_url, tmp_path):
    """Changing a dose updates one row; a session's side effects become the file's."""
    assert import_path(VALID, sqlite_url) == 0
    changed = tmp_path / "changed"
    changed.mkdir()
    for f in VALID.glob("*.csv"):
        (changed / f.name).write_text(f.read_text())
    sessions = changed / "sessions.csv"
    sessions.write_text(sessions.read_text().replace("S7,A2,A2-X,2026-01-09T11:30,dosing,,,"
                        "completed,,intranasal,esketamine,56,", "S7,A2,A2-X,2026-01-09T11:30,"
                        "dosing,,,completed,,intranasal,esketamine,84,"))  # fmt: skip
    effects = changed / "side_effects.csv"
    effects.write_text("\n".join(effects.read_text().splitlines()[:2]) + "\n")
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        validated = validate(read_template(changed), existing=ExistingKeys.load(conn))
    result = write_batch(engine, validated, source="changed", kind="template")
    assert result.tables["dosings"].updated == 1
    assert result.tables["side_effects"].removed == 2
    with engine.connect() as conn:
        assert conn.execute(select(Dosing.dose_mg).where(Dosing.session_id == "S7")).scalar() == 84
        assert conn.execute(select(SideEffect.term)).scalars().all() == ["dissociation", "sedation"]


def test_export_round_trip_identical(db_url, tmp_path):
    """export → import into an empty database → export gives byte-identical files."""
    source = make_engine(db_url)
    generate_clinic(source, patients=40, seed=3)
    first, second = tmp_path / "first", tmp_path / "second"
    export_template(source, first)
    target = f"sqlite:///{tmp_path}/target.db"
    assert import_path(first, target) == 0
    export_template(make_engine(target), second)
    names = [p.name for p in first.glob("*.csv")]
    match, mismatch, errors = filecmp.cmpfiles(first, second, names, shallow=False)
    assert len(match) == 5 and not mismatch and not errors


@pytest.mark.parametrize("bulk_rows", [0, 100_000], ids=["keys-checked-once", "keys-per-row"])
def test_postgresql_round_trip_identical(pg_server, tmp_path, monkeypatch, capsys, bulk_rows):
    """PostgreSQL → export → empty PostgreSQL → export: byte-identical; re-import: no change."""
    monkeypatch.setattr(write, "BULK_ROWS", bulk_rows)
    source_url, target_url = pg.create_database(pg_server), pg.create_database(pg_server)
    engines = [make_engine(source_url), make_engine(target_url)]
    try:
        generate_clinic(engines[0], patients=40, seed=5)
        first, second = tmp_path / "first", tmp_path / "second"
        export_template(engines[0], first)
        assert import_path(first, target_url) == 0
        export_template(engines[1], second)
        names = [p.name for p in first.glob("*.csv")]
        match, mismatch, errors = filecmp.cmpfiles(first, second, names, shallow=False)
        assert len(match) == 5 and not mismatch and not errors
        before = dump(target_url)
        capsys.readouterr()
        assert import_path(second, target_url) == 0
        out = capsys.readouterr().out
        assert "vitals: 0 added, 0 updated" in out and " 0 unchanged" not in out
        assert dump(target_url) == before
    finally:
        for engine in engines:
            engine.dispose()
        pg.drop_database(pg_server, source_url)
        pg.drop_database(pg_server, target_url)


def test_xlsx_equals_csv(sqlite_url, tmp_path):
    """An Excel workbook imports to the same database content as the CSV folder."""
    assert import_path(VALID, sqlite_url) == 0
    workbook = tmp_path / "clinic.xlsx"
    export_template(make_engine(sqlite_url), workbook, format="xlsx")
    other = f"sqlite:///{tmp_path}/other.db"
    assert import_path(workbook, other) == 0
    csv_a, csv_b = tmp_path / "a", tmp_path / "b"
    export_template(make_engine(sqlite_url), csv_a)
    export_template(make_engine(other), csv_b)
    for f in csv_a.glob("*.csv"):
        assert f.read_text() == (csv_b / f.name).read_text()


def test_single_csv_and_bad_names(sqlite_url, tmp_path, capsys):
    """A single CSV must be named like a template file; otherwise a clear message."""
    assert import_path(VALID / "patients.csv", sqlite_url) == 0
    odd = tmp_path / "people.csv"
    odd.write_text("patient_id,site\nX,Y\n")
    assert import_path(odd, sqlite_url) == 2
    assert "must be named like a template file" in capsys.readouterr().err


def test_empty_template_ships(tmp_path):
    """The shipped empty template has every file with exactly the template's header."""
    from kapviz.io.tables import TEMPLATE_FILES, column_names
    from kapviz.io.template import write_empty_template

    shipped = Path(__file__).parents[2] / "kapviz" / "io" / "template_files"
    for name in TEMPLATE_FILES:
        header = (shipped / f"{name}.csv").read_text().strip()
        assert header == ",".join(column_names(name))
    written = write_empty_template(tmp_path)
    sheets = pd.read_excel(written[-1], sheet_name=None)
    assert list(sheets) == ["instructions", *TEMPLATE_FILES, "columns"]


EDGE_CSVS = {
    "bom": "\ufeffpatient_id,site\nA,B\n",
    "quoted": 'patient_id,site\n"A,1","multi\nline"\n"x""y",\n',
    "blank lines": "patient_id,site\n\nA,B\n\n\nC,D\n",
    "whitespace line": "patient_id,site\n   \nA,B\n",
    "NA words": "patient_id,site\nNA,null\nNaN,\n#N/A,None\n",
    "short row": "patient_id,site,sex\nA,B\n",
    "long row": "patient_id,site\nA,B,C\n",
    "crlf": "patient_id,site\r\nA,B\r\n",
    "duplicate header": "patient_id,site,site\nA,B,C\n",
}


def test_csv_cells_read_as_pandas_c_parser_reads_them(tmp_path):
    """The fast (Arrow) reader gives exactly what pandas' own parser gives, edge cases too."""
    for name, content in EDGE_CSVS.items():
        folder = tmp_path / name.replace(" ", "_")
        folder.mkdir()
        (folder / "patients.csv").write_text(content, encoding="utf-8", newline="")
        expected = pd.read_csv(folder / "patients.csv", dtype=str, keep_default_na=False,
                               encoding="utf-8-sig")  # fmt: skip
        expected = expected.rename(columns=lambda c: str(c).strip().lower())
        expected = expected[[c for c in expected.columns if c in ("patient_id", "site", "sex")]]
        got = read_template(folder).tables["patients"]
        assert got.to_dict("list") == expected.astype(str).to_dict("list"), name
