"""In-memory bundles for downloads: the empty template and a full export as ZIP files."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from sqlalchemy import Engine

from kapviz.io.export import export_template

TEMPLATE_DIR = Path(__file__).resolve().parent / "template_files"


def zip_folder(folder: Path) -> bytes:
    """The files of `folder` (not recursive) as ZIP bytes, in name order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.iterdir()):
            if path.is_file():
                zf.write(path, arcname=path.name)
    return buffer.getvalue()


def empty_template_zip() -> bytes:
    """The shipped empty template: one CSV per file plus the Excel workbook."""
    return zip_folder(TEMPLATE_DIR)


def export_zip(engine: Engine, *, format: str = "csv") -> bytes:
    """A full export in the template, as a ZIP of CSV files or one workbook inside a ZIP."""
    with tempfile.TemporaryDirectory(prefix="kapviz-export-") as tmp:
        target = Path(tmp) / "export"
        if format == "xlsx":
            target.mkdir()
            export_template(engine, target / "kapviz-export.xlsx", format="xlsx")
        else:
            export_template(engine, target)
        return zip_folder(target)
