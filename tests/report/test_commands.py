"""`python -m kapviz case-summary`: files, the audit trail, refusals."""

from __future__ import annotations

import io
import os
import unicodedata

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from kapviz.auth.models import AuditEvent
from kapviz.cli import main
from kapviz.db.engine import make_engine
from kapviz.demo import generate_clinic
from kapviz.report.pdf import CHROMIUM
from tests.conftest import missing_requirement


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('cases') / 'demo.db'}"
    engine = make_engine(url)
    generate_clinic(engine, patients=40, seed=7)
    engine.dispose()
    return url


def _views(url: str) -> list[tuple[str, str]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(AuditEvent.target, AuditEvent.username).where(AuditEvent.action == "view_case")
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def _pages(path) -> list[str]:
    reader = PdfReader(io.BytesIO(path.read_bytes()))
    for page in reader.pages:
        assert abs(float(page.mediabox.upper_right[0]) - 595) < 2  # A4 portrait
        assert abs(float(page.mediabox.upper_right[1]) - 842) < 2
    return [unicodedata.normalize("NFKC", p.extract_text()) for p in reader.pages]


def test_unknown_id_exits_2_naming_it(demo_db, tmp_path, capsys):
    """An unknown id: exit 2, its name on stderr, no file, nothing audited."""
    out = tmp_path / "x.pdf"
    code = main(["case-summary", "DEMO-00001", "NOBODY-9", "--db", demo_db, "--out", str(out)])
    assert code == 2
    assert "NOBODY-9" in capsys.readouterr().err
    assert not out.exists() and _views(demo_db) == []


def test_bad_suffix_and_course_with_several_ids(demo_db, tmp_path, capsys):
    assert (
        main(["case-summary", "DEMO-00001", "--db", demo_db, "--out", str(tmp_path / "a.txt")]) == 2
    )
    assert main(["case-summary", "DEMO-00001", "DEMO-00002", "--course", "DEMO-00001-C1",
                 "--db", demo_db, "--out", str(tmp_path / "a.pdf")]) == 2  # fmt: skip
    assert "--course" in capsys.readouterr().err


def test_one_case_pdf_and_a_three_case_pack(demo_db, tmp_path):
    """One id: that case, A4, 1–2 pages; three ids: agenda + each case, in order; every
    printed case is a case view in the audit trail."""
    if not os.path.exists(CHROMIUM):
        missing_requirement(f"no Chromium at {CHROMIUM}")
    one = tmp_path / "one.pdf"
    assert main(["case-summary", "DEMO-00003", "--course", "DEMO-00003-C1",
                 "--db", demo_db, "--out", str(one)]) == 0  # fmt: skip
    pages = _pages(one)
    assert 1 <= len(pages) <= 2
    assert "Case DEMO-00003 · course DEMO-00003-C1" in pages[0]
    assert "Confidential" in pages[-1]

    pack = tmp_path / "pack.pdf"
    ids = ["DEMO-00005", "DEMO-00002", "DEMO-00004"]
    assert main(["case-summary", *ids, "--db", demo_db, "--out", str(pack)]) == 0
    pages = _pages(pack)
    assert "Supervision meeting: agenda" in pages[0]
    assert [pages[0].index(i) for i in ids] == sorted(pages[0].index(i) for i in ids)
    assert "response:" in pages[0]  # each case's verdict on the agenda
    openers = [next(i for i in ids if p.startswith(f"Case {i}")) for p in pages[1:]
               if any(p.startswith(f"Case {i}") for i in ids)]  # fmt: skip
    assert openers == ids  # each case starts a page, in the order given
    views = _views(demo_db)
    assert [t for t, _ in views] == ["DEMO-00003", *ids]
    assert all(who.startswith("cli") for _, who in views)
