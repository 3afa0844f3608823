"""Read the kapviz template (folder of CSVs, one CSV, or one .xlsx) and write an empty one."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kapviz.io.tables import TEMPLATE_FILES, TEMPLATE_VERSION, ImportBatch, column_names
from kapviz.privacy import restore_formula_text


class TemplateError(ValueError):
    """The input is not a kapviz template at all (wrong file name, unreadable file)."""


def _normalise_columns(frame: pd.DataFrame, file: str, batch: ImportBatch) -> pd.DataFrame:
    """Lower-case, trimmed column names; unknown columns reported and dropped."""
    frame = frame.rename(columns=lambda c: str(c).strip().lower())
    known = set(column_names(file))
    unknown = [c for c in frame.columns if c not in known]
    if unknown:
        batch.warnings.append(f"{file}: unknown columns ignored: {', '.join(unknown)}")
    frame = frame[[c for c in frame.columns if c in known]].astype(str)
    # The export put an apostrophe before formula-like text (kapviz.privacy): take it off.
    return frame.assign(**{c: restore_formula_text(frame[c]) for c in frame.columns})


DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}
"""Separators a spreadsheet may write instead of commas (e.g. a European-locale 'CSV')."""


def _encoding_problem(path: Path) -> str:
    """Where the text stops being UTF-8 (line and byte) and what the file probably is."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return (f"{path.name}: the file is UTF-16 text ('Unicode text' in Excel), not UTF-8: "
                "save it as 'CSV UTF-8 (comma delimited)' and import it again")  # fmt: skip
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start]
        return (f"{path.name}: line {line} is not UTF-8 text (byte 0x{byte:02x}); the file was "
                "probably saved as Windows-1252/Latin-1 (Excel's plain 'CSV'): save it as "
                "'CSV UTF-8 (comma delimited)' and import it again")  # fmt: skip
    return f"{path.name}: not UTF-8 text"


def _check_delimiter(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """A header read as one column holding `;`, tabs or `|`: the file is not comma-separated."""
    if len(frame.columns) == 1:
        header = str(frame.columns[0])
        for sep, name in DELIMITERS.items():
            if sep in header:
                raise TemplateError(
                    f"{path.name}: line 1 (the header) is one column {header!r}, separated by "
                    f"{name} instead of commas: save the file as comma-separated CSV"
                )
    return frame


def _read_csv(path: Path) -> pd.DataFrame:
    """All cells as strings. Arrow's multi-threaded parser first; whatever it refuses (ragged
    rows, bad bytes, …) is read, and reported, by pandas' own parser."""
    return _check_delimiter(path, _parse_csv(path))


def _parse_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(
            path, dtype=str, keep_default_na=False, encoding="utf-8-sig", engine="pyarrow"
        )
    except Exception:  # the C parser below decides what is wrong
        pass
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TemplateError(_encoding_problem(path)) from exc
    except pd.errors.ParserError as exc:
        raise TemplateError(f"{path.name}: not a readable CSV file ({exc})") from exc
    except pd.errors.EmptyDataError as exc:
        raise TemplateError(f"{path.name}: the file is empty (a header row is needed)") from exc


def read_template(path: str | Path) -> ImportBatch:
    """Read a template folder, a single template CSV or an Excel workbook, as strings."""
    path = Path(path)
    batch = ImportBatch()
    if path.is_dir():
        found = {p.stem.lower(): p for p in sorted(path.glob("*.csv"))}
        if not found.keys() & TEMPLATE_FILES.keys():
            raise TemplateError(
                f"{path}: no template files found (expected {', '.join(TEMPLATE_FILES)}.csv)"
            )
        for stem in found.keys() - TEMPLATE_FILES.keys():
            batch.warnings.append(f"{found[stem].name}: not a template file, ignored")
        for file in TEMPLATE_FILES:
            if file in found:
                frame = _normalise_columns(_read_csv(found[file]), file, batch)
                batch.add(file, frame, name=found[file].name)
    elif path.suffix.lower() == ".csv":
        stem = path.stem.lower()
        if stem not in TEMPLATE_FILES:
            raise TemplateError(
                f"{path.name}: a single CSV must be named like a template file "
                f"({', '.join(f + '.csv' for f in TEMPLATE_FILES)})"
            )
        batch.add(stem, _normalise_columns(_read_csv(path), stem, batch), name=path.name)
    elif path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            sheets = pd.read_excel(path, sheet_name=None, dtype=str, keep_default_na=False)
        except Exception as exc:  # openpyxl raises many kinds on bad files
            raise TemplateError(f"{path.name}: not a readable Excel workbook ({exc})") from exc
        by_name = {name.strip().lower(): frame for name, frame in sheets.items()}
        if not by_name.keys() & TEMPLATE_FILES.keys():
            raise TemplateError(f"{path.name}: no sheet is named like a template file")
        for file in TEMPLATE_FILES:
            if file in by_name:
                frame = by_name[file].fillna("")
                batch.add(file, _normalise_columns(frame, file, batch), name=f"{path.name}[{file}]")
    else:
        raise TemplateError(f"{path.name}: expected a folder, a .csv or an .xlsx file")
    return batch


INSTRUCTIONS = [
    ("kapviz clinic data template", f"version {TEMPLATE_VERSION}"),
    ("", ""),
    ("How to fill it", "One sheet (or CSV file) per table; only patients and sessions are "
     "required. Keep the header row. Column names are case-insensitive."),
    ("Dates", "ISO 8601: 2026-03-14 or 2026-03-14T09:30 (no offset = clinic local time)."),
    ("Ids", "Pseudonymous only: never a name or an EHR record number."),
    ("Re-importing", "Importing the same files again changes nothing (ids are natural keys)."),
    ("Documentation", "docs/import-template.md in the kapviz repository."),
]  # fmt: skip


def write_empty_template(folder: str | Path) -> list[Path]:
    """Write the empty template: one CSV per file and `kapviz-template.xlsx` with instructions."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for file in TEMPLATE_FILES:
        target = folder / f"{file}.csv"
        pd.DataFrame(columns=column_names(file)).to_csv(target, index=False, lineterminator="\n")
        written.append(target)
    workbook = folder / "kapviz-template.xlsx"
    with pd.ExcelWriter(workbook, engine="openpyxl") as writer:
        pd.DataFrame(INSTRUCTIONS, columns=["topic", "details"]).to_excel(
            writer, sheet_name="instructions", index=False
        )
        for file, columns in TEMPLATE_FILES.items():
            pd.DataFrame([[c.meaning for c in columns]], columns=[c.name for c in columns]).iloc[
                0:0
            ].to_excel(writer, sheet_name=file, index=False)
        spec = [
            (file, c.name, {True: "yes", False: "no"}.get(c.required, "on dosing sessions"),
             c.meaning)
            for file, columns in TEMPLATE_FILES.items()
            for c in columns
        ]  # fmt: skip
        pd.DataFrame(spec, columns=["file", "column", "required", "meaning"]).to_excel(
            writer, sheet_name="columns", index=False
        )
    written.append(workbook)
    return written
