"""Defence: uploads leave nothing on disk, zip bombs are refused unopened, a huge file fails alone.

Defended: the Data page's uploads are written to one `kapviz-upload-*` folder only while a
separate process reads them, and that folder is gone afterwards (success, failure, a child
that runs out of memory, reruns of the page, a folder left by a killed process); a workbook
is judged by its zip directory (total unpacked size, compression ratio) before openpyxl
sees it; a file that needs more memory than KAPVIZ_UPLOAD_MEMORY_MB fails with a message.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from kapviz import privacy
from kapviz.config import Settings
from kapviz.db.engine import make_engine
from kapviz.db.migrate import upgrade
from kapviz.io import uploads
from kapviz.io.template import TemplateError
from kapviz.io.uploads import Upload, UploadTooLarge
from tests.browser.conftest import open_app, wait_for_app

FIXTURES = Path(__file__).parents[1] / "io" / "fixtures"
MB = 1024 * 1024
DEFAULT_LIMIT = Settings().upload_memory_mb * MB
"""The limit the app gives the reading process (KAPVIZ_UPLOAD_MEMORY_MB's default)."""


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp folder of this test only, so "nothing left" is checked where nothing else runs."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@pytest.fixture
def empty_db(sqlite_url: str) -> str:
    upgrade(make_engine(sqlite_url))
    return sqlite_url


def _left(root: Path) -> list[str]:
    return sorted(p.name for p in root.glob("kapviz-upload-*"))


def _uploads(folder: str) -> list[Upload]:
    return [Upload(p.name, p.read_bytes()) for p in sorted((FIXTURES / folder).glob("*.csv"))]


def test_valid_upload_read_in_child_leaves_nothing(temp_root, empty_db):
    """A valid template is read and validated in the child process; its folder is removed."""
    result = uploads.parse_in_child(
        _uploads("template_valid"), empty_db, memory_limit_bytes=DEFAULT_LIMIT
    )
    assert result.fmt == "template"
    assert result.validated.ok
    assert len(result.validated.frames["patients"]) == 3
    assert _left(temp_root) == []


def test_failed_read_leaves_nothing(temp_root, empty_db):
    """A file the importer refuses raises its own error in the page; its folder is removed."""
    broken = [Upload("clinic.xlsx", _workbook_zip(b"<worksheet/>"))]  # no [Content_Types].xml
    with pytest.raises(TemplateError, match="not a readable Excel workbook"):
        uploads.parse_in_child(broken, empty_db, memory_limit_bytes=DEFAULT_LIMIT)
    assert _left(temp_root) == []


def test_file_needing_too_much_memory_fails_alone(temp_root, empty_db):
    """A child over its memory limit gives UploadTooLarge (a message), not a dead server."""
    rows = b"".join(b"P%07d,North,TRD,2024-01-01,eligible,\n" % i for i in range(400_000))
    big = Upload("patients.csv", b"patient_id,site,indication,intake_date,status,reason\n" + rows)
    with pytest.raises(UploadTooLarge, match="KAPVIZ_UPLOAD_MEMORY_MB"):
        uploads.parse_in_child([big], empty_db, memory_limit_bytes=40 * MB)
    assert _left(temp_root) == []


def test_limit_bounds_memory_not_reserved_address_space(tmp_path, empty_db):
    """The limit counts what the read allocates, not address space reserved without memory:
    a child that first reserves 3 GB (more than the whole default limit; glibc reserves 64 MB
    per malloc arena, one per busy thread, which made tiny reads fail now and then on a busy
    machine under an address-space limit) still reads a tiny template; memory really written
    past the limit is still refused."""
    from tests.security.upload_child import GB, allocate, reserve_then_read

    folder = tmp_path / "read"
    folder.mkdir()
    result = uploads.run_limited(
        reserve_then_read,
        3 * GB,
        folder,
        _uploads("template_valid"),
        empty_db,
        memory_limit_bytes=DEFAULT_LIMIT,
    )
    assert result.validated.ok and len(result.validated.frames["patients"]) == 3
    assert uploads.run_limited(allocate, 64 * MB, memory_limit_bytes=128 * MB) == 64 * MB
    with pytest.raises(UploadTooLarge, match="KAPVIZ_UPLOAD_MEMORY_MB"):
        uploads.run_limited(allocate, 256 * MB, memory_limit_bytes=128 * MB)


def test_stale_folders_of_killed_processes_are_removed(temp_root):
    """A folder older than STALE_AFTER_SECONDS (a killed reader) goes at the next read; a
    recent one (another read in progress) stays."""
    old = temp_root / "kapviz-upload-old"
    new = temp_root / "kapviz-upload-new"
    for folder in (old, new):
        folder.mkdir()
        (folder / "patients.csv").write_text("patient_id\n")
    past = time.time() - uploads.STALE_AFTER_SECONDS - 60
    os.utime(old, (past, past))
    assert uploads.remove_stale_folders() == 1
    assert _left(temp_root) == ["kapviz-upload-new"]


def _workbook_zip(member: bytes, *, name: str = "xl/worksheets/sheet1.xml") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr(name, member)
    return buffer.getvalue()


def test_zip_bomb_refused_from_its_directory(monkeypatch):
    """A sheet of 64 MB of zeros (compressed ~1000 times) is refused by its ratio, and a
    workbook unpacking past the limit by its total, both before openpyxl is called."""
    import openpyxl

    def never(*_a, **_k):  # pragma: no cover - the point is that it is not reached
        raise AssertionError("openpyxl opened a workbook that should have been refused")

    monkeypatch.setattr(openpyxl, "load_workbook", never)
    bomb = _workbook_zip(b"\0" * (64 * MB))
    assert len(bomb) < MB
    with pytest.raises(privacy.UploadRefused, match="compressed"):
        uploads.check_uploads(
            [Upload("clinic.xlsx", bomb)], max_bytes=200 * MB, max_unzipped_bytes=300 * MB
        )
    # Random-looking text compresses little: the ratio passes, the total does not.
    wide = _workbook_zip(os.urandom(3 * MB).hex().encode())
    with pytest.raises(privacy.UploadRefused, match="UPLOAD_MAX_UNZIPPED_MB"):
        uploads.check_uploads(
            [Upload("clinic.xlsx", wide)], max_bytes=200 * MB, max_unzipped_bytes=5 * MB
        )


def test_data_page_reruns_success_and_failure_leave_nothing(app_factory, page, tmp_path):
    """The Data page in a browser: a refused upload, reruns with a file attached, and an import
    that is written leave no `kapviz-upload-*` folder in the server's temp folder."""
    root = tmp_path / "server-tmp"
    root.mkdir()
    db = f"sqlite:///{tmp_path}/kapviz.db"
    upgrade(make_engine(db))
    base = app_factory(db, {"TMPDIR": str(root), "KAPVIZ_AUTH_MODE": "none"})
    open_app(page, base, "/data")
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploader.set_input_files(sorted(str(p) for p in (FIXTURES / "template_errors").glob("*.csv")))
    page.get_by_text("problems found").wait_for(timeout=60000)
    wait_for_app(page)
    for button in page.locator('[data-testid="stFileUploaderDeleteBtn"] button').all()[::-1]:
        button.click()
        wait_for_app(page)
    uploader.set_input_files(sorted(str(p) for p in (FIXTURES / "template_valid").glob("*.csv")))
    page.get_by_text("no problems found").wait_for(timeout=60000)
    wait_for_app(page)
    assert _left(root) == []
    page.get_by_role("button", name="Import now").click()  # a rerun with the files attached
    page.get_by_text("Imported").wait_for(timeout=60000)
    wait_for_app(page)
    assert _left(root) == []
