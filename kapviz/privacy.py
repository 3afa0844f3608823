"""Privacy at the app's edges: small-cell suppression and formula neutralising on the way out,
size and type checks of uploads on the way in.

Small cells: in aggregate tables, a count of 1 to threshold-1 patients can identify them, so
it is shown as "<threshold" ("<11" by default, `Settings.small_cell_threshold`). Zero is shown
(the usual public-health rule: a zero identifies nobody). When a row or column has exactly one
suppressed cell, its total would give it away, so the next smallest cell of that row or column
is suppressed as well (complementary suppression), until no row or column has exactly one.

Formulas: a CSV cell that starts with `=`, `+`, `-`, `@`, tab or carriage return is run as a
formula by spreadsheet programs (CSV injection); such text cells get a leading apostrophe
(OWASP). A number written as text (`-10`, `+3.5`) is a number, not a formula, and is left alone.
Text that already starts with apostrophes before a formula character gets one more, so
`restore_formula_text` (used by the template importer) undoes exactly one: export → import
gives back the text as it was. Every export goes through here: page downloads, the audit and
rejection CSVs, the template's CSV and workbook (`write_workbook`, text cells as strings).

Uploads: a file is accepted only with an allowed extension, under the size cap
(`Settings.upload_max_mb`), and when its first bytes look like that kind of file (a text file
holds no NUL bytes and is no known binary format; an .xlsx is a zip with a workbook inside;
JSON starts with `{` or `[`), so a renamed executable or archive never reaches an importer.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import PurePath

import pandas as pd

from kapviz.config import Settings

DEFAULT_THRESHOLD = Settings.small_cell_threshold
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def suppressed_label(threshold: int) -> str:
    """What a suppressed cell shows: "<11" for the default threshold."""
    return f"<{threshold}"


def _primary(values: pd.DataFrame, threshold: int, suppress_zero: bool) -> pd.DataFrame:
    low = 0 if suppress_zero else 1
    return (values >= low) & (values < threshold)


def _complete(values: pd.DataFrame, mask: pd.DataFrame) -> pd.DataFrame:
    """Add complementary suppressions until no row or column has exactly one suppressed cell."""
    vals = values.to_numpy(dtype=float, copy=True)
    m = mask.to_numpy(dtype=bool, copy=True)
    changed = True
    while changed:
        changed = False
        for axis in (1, 0):  # rows, then columns
            lines = m.shape[0] if axis == 1 else m.shape[1]
            for i in range(lines):
                line_mask = m[i, :] if axis == 1 else m[:, i]
                if line_mask.sum() != 1:
                    continue
                line_vals = vals[i, :] if axis == 1 else vals[:, i]
                candidates = [j for j in range(len(line_mask)) if not line_mask[j]]
                if not candidates:
                    continue
                # The next smallest cell; ties go to the first in table order.
                j = min(candidates, key=lambda k: (line_vals[k], k))
                if axis == 1:
                    m[i, j] = True
                else:
                    m[j, i] = True
                changed = True
    return pd.DataFrame(m, index=mask.index, columns=mask.columns)


def suppression_mask(
    counts: pd.DataFrame,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    columns: Sequence[str] | None = None,
    suppress_zero: bool = False,
    complementary: bool = True,
) -> pd.DataFrame:
    """Which count cells to hide (True), primary and complementary, over `columns` (default all).

    Only cells in `columns` take part; rows and columns are the table's own, so the totals a
    caller prints over those columns or rows reveal no hidden cell. A row or column whose only
    other cells are already hidden cannot be protected further: do not print its total.
    `complementary=False` hides the small cells only: for counts that add up to no total
    (courses still measured at each point of a course, say).
    """
    cols = list(counts.columns if columns is None else columns)
    values = counts[cols].apply(pd.to_numeric, errors="raise").astype(float)
    if values.isna().any().any():
        raise ValueError("count cells must not be missing")
    mask = _primary(values, threshold, suppress_zero)
    if complementary:
        mask = _complete(values, mask)
    full = pd.DataFrame(False, index=counts.index, columns=counts.columns)
    full[cols] = mask
    return full


def suppress_small_cells(
    counts: pd.DataFrame,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    columns: Sequence[str] | None = None,
    suppress_zero: bool = False,
    complementary: bool = True,
) -> pd.DataFrame:
    """A copy of `counts` with small and complementary cells shown as "<threshold" (object)."""
    mask = suppression_mask(
        counts,
        threshold=threshold,
        columns=columns,
        suppress_zero=suppress_zero,
        complementary=complementary,
    )
    out = counts.copy()
    label = suppressed_label(threshold)
    for col in mask.columns[mask.any()]:
        out[col] = out[col].astype(object).where(~mask[col], label)
    return out


def suppress_series(
    counts: pd.Series,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    suppress_zero: bool = False,
) -> pd.Series:
    """One column of counts (its total may be shown): small cells and one complement hidden."""
    frame = counts.to_frame(name="n")
    out = suppress_small_cells(frame, threshold=threshold, suppress_zero=suppress_zero)
    return out["n"].rename(counts.name)


def drop_small_counts(
    frame: pd.DataFrame, columns: list[str], *, threshold: int = DEFAULT_THRESHOLD
) -> pd.DataFrame:
    """The rows of `frame` whose counts in `columns` are all 0 or at least `threshold`: what
    a chart may draw for a viewer under small-cell suppression (a bar's height or a point's
    place would show the count a table writes as "<11"). Nothing is drawn in their place."""
    small = (frame[columns] > 0) & (frame[columns] < threshold)
    return frame.loc[~small.any(axis=1)]


def _runs_as_formula(text: str) -> bool:
    """Would a spreadsheet run this text as a formula? A plain number would not."""
    return text.startswith(FORMULA_PREFIXES) and _NUMBER.fullmatch(text) is None


def neutralise_text(value: object) -> object:
    """Text safe in a spreadsheet cell: one apostrophe before text that would run as a formula
    (or that already starts with apostrophes before one, so the import can undo exactly one)."""
    quoted = isinstance(value, str) and value[:1] in ("'", *FORMULA_PREFIXES)
    return "'" + value if quoted and _runs_as_formula(value.lstrip("'")) else value


def restore_formula_text(values: pd.Series) -> pd.Series:
    """The inverse of `neutralise_text` on a column of strings: the apostrophe that the export
    put before formula-like text is removed (documented in docs/import-template.md)."""
    quoted = values.str.startswith("'")
    if not quoted.any():
        return values
    rest = values[quoted].str.slice(1)
    undo = rest.map(lambda t: _runs_as_formula(t.lstrip("'")))
    out = values.copy()
    out.loc[undo[undo].index] = rest[undo]
    return out


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def write_workbook(target, sheets: Mapping[str, pd.DataFrame]) -> None:
    """An .xlsx with one sheet per frame, neutralised, every text cell stored as a string
    (openpyxl type 's', never a formula); numbers stay numbers."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, frame in sheets.items():
        sheet = book.create_sheet(title=name)
        safe = neutralise_formulas(frame)
        sheet.append([str(c) for c in safe.columns])
        for row in safe.itertuples(index=False, name=None):
            sheet.append([None if _is_missing(v) else v for v in row])
        for cells in sheet.iter_rows():
            for cell in cells:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
    book.save(target)


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy safe to open in a spreadsheet: text cells and headers that would run as formulas
    get a leading apostrophe; numbers, dates and booleans are left as they are."""
    out = frame.copy()
    for col in out.columns:
        series = out[col]
        if isinstance(series.dtype, pd.CategoricalDtype):
            cats = series.cat.categories
            if cats.dtype == object or pd.api.types.is_string_dtype(cats.dtype):
                out[col] = series.cat.rename_categories([neutralise_text(c) for c in cats])
        elif series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            values = [neutralise_text(v) for v in series.tolist()]
            out[col] = pd.Series(values, index=series.index, dtype=series.dtype, name=col)
    renamed = [neutralise_text(c) for c in out.columns]
    if renamed != list(out.columns):
        out.columns = renamed
    return out


# --- Uploads ------------------------------------------------------------------------------

UPLOAD_KINDS: Mapping[str, str] = {
    "csv": "text",
    "toml": "text",
    "json": "json",
    "ndjson": "json",
    "xlsx": "xlsx",
}
"""Extensions the Data page accepts, and what their content must look like."""

# First bytes of formats that are never a text import file (zip, PDF, ELF and Windows
# executables, old Office files, images).
BINARY_SIGNATURES: tuple[bytes, ...] = (
    b"PK\x03\x04",
    b"%PDF",
    b"\x7fELF",
    b"MZ",
    b"\xd0\xcf\x11\xe0",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
)
SNIFF_BYTES = 65536


class UploadRefused(ValueError):
    """An uploaded file that is too large, of a kind not accepted, or not what its name says."""


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


MAX_ZIP_RATIO = 100
"""Largest uncompressed/compressed ratio of a workbook member: spreadsheet XML compresses
about 5-30 times; a member a hundred times smaller than what it unpacks to is a zip bomb."""
ZIP_RATIO_FLOOR = 1024 * 1024
"""Members unpacking to less than this are not judged by their ratio (tiny, repetitive XML)."""


def check_upload(
    name: str, content: bytes, *, max_bytes: int, max_unzipped_bytes: int | None = None
) -> str:
    """Refuse a file by size, extension or a content that does not match it; returns the kind.

    Kinds: "text" (CSV, TOML), "json" (FHIR .json/.ndjson) and "xlsx". A workbook is also
    refused when its zip would unpack to more than `max_unzipped_bytes` or a member is
    compressed more than MAX_ZIP_RATIO times, read from the zip's directory before anything
    is unpacked. Raises `UploadRefused` with a message naming the file.
    """
    suffix = PurePath(name).suffix.lower().removeprefix(".")
    kind = UPLOAD_KINDS.get(suffix)
    if kind is None:
        accepted = ", ".join(f".{k}" for k in UPLOAD_KINDS)
        raise UploadRefused(f"{name}: this kind of file is not accepted (only {accepted})")
    if len(content) > max_bytes:
        raise UploadRefused(
            f"{name}: {_megabytes(len(content))} is more than the {_megabytes(max_bytes)} limit"
        )
    if not content:
        raise UploadRefused(f"{name}: the file is empty")
    if kind == "xlsx":
        _check_workbook(name, content, max_unzipped_bytes=max_unzipped_bytes)
        return kind
    head = content[:SNIFF_BYTES]
    if head.startswith(BINARY_SIGNATURES) or b"\x00" in head:
        raise UploadRefused(f"{name}: not a text file (binary content under a .{suffix} name)")
    if kind == "json":
        text = head.decode("utf-8-sig", errors="replace").lstrip()
        if not text.startswith(("{", "[")):
            raise UploadRefused(f"{name}: not JSON (it does not start with '{{' or '[')")
    if suffix == "toml":
        try:
            content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UploadRefused(f"{name}: a mapping file must be UTF-8 text") from exc
    return kind


def _check_workbook(name: str, content: bytes, *, max_unzipped_bytes: int | None) -> None:
    if not content.startswith(b"PK\x03\x04"):
        raise UploadRefused(f"{name}: not an Excel workbook (.xlsx files are zip archives)")
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            infos = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise UploadRefused(f"{name}: a damaged or incomplete Excel workbook") from exc
    if "xl/workbook.xml" not in {info.filename for info in infos}:
        raise UploadRefused(f"{name}: a zip archive, but not an Excel workbook")
    unzipped = sum(info.file_size for info in infos)
    if max_unzipped_bytes is not None and unzipped > max_unzipped_bytes:
        raise UploadRefused(
            f"{name}: unpacks to {_megabytes(unzipped)}, more than the "
            f"{_megabytes(max_unzipped_bytes)} limit (KAPVIZ_UPLOAD_MAX_UNZIPPED_MB); "
            "save the sheets as CSV files or import with the command line"
        )
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= ZIP_RATIO_FLOOR and ratio > MAX_ZIP_RATIO:
            raise UploadRefused(
                f"{name}: {info.filename} is compressed {ratio:,.0f} times (at most "
                f"{MAX_ZIP_RATIO} is accepted): not a workbook kapviz opens"
            )
