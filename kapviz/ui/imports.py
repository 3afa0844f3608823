"""The Data page's import flow: upload → dry-run report → confirm → write with progress."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from kapviz import privacy, safe_text
from kapviz.io.commands import detect_format
from kapviz.io.fhir import FhirReadResult, read_fhir, validate_fhir
from kapviz.io.report import problem_groups, problems_frame
from kapviz.io.tables import ImportBatch
from kapviz.io.template import TemplateError, read_template
from kapviz.io.validate import ExistingKeys, ValidatedBatch, validate
from kapviz.io.write import write_batch
from kapviz.ui import auth
from kapviz.ui.db import engine, settings

UPLOAD_TYPES = list(privacy.UPLOAD_KINDS)


def _read_uploads(files) -> tuple[ImportBatch | FhirReadResult, str, str]:
    """Check the uploads (size, type), save them in a temporary folder and read them with the
    right importer."""
    max_bytes = settings().upload_max_mb * 1024 * 1024
    for f in files:  # every file checked before any is written or read
        privacy.check_upload(f.name, f.getvalue(), max_bytes=max_bytes)
    tmp = Path(tempfile.mkdtemp(prefix="kapviz-upload-"))
    mapping = None
    for f in files:
        target = tmp / Path(f.name).name
        target.write_bytes(f.getvalue())
        if target.suffix == ".toml":
            mapping = str(target)
    names = ", ".join(f.name for f in files)
    data_files = [p for p in tmp.iterdir() if p.suffix != ".toml"]
    single = len(data_files) == 1
    is_file_format = single and data_files[0].suffix in (".xlsx", ".json", ".ndjson")
    path = data_files[0] if is_file_format or (mapping and single) else tmp
    fmt = detect_format(path, redcap_mapping=mapping)
    if fmt == "template":
        return read_template(path), fmt, names
    if fmt == "fhir":
        return read_fhir(path), fmt, names
    from kapviz.io.redcap import read_redcap

    return read_redcap(path, mapping), fmt, names


def upload_and_check() -> None:
    """Upload files, show the dry-run report, and import on confirmation."""
    files = st.file_uploader(
        "Template CSV files, an Excel workbook, FHIR bundles (.json/.ndjson), or a REDCap "
        "export (.csv) with its mapping (.toml)",
        type=UPLOAD_TYPES,
        accept_multiple_files=True,
        key="data_upload",
        max_upload_size=settings().upload_max_mb,
    )
    if not files:
        st.caption(
            "Nothing is written until you confirm: files are checked first, every problem "
            "is listed, and the import runs in one transaction."
        )
        return
    try:
        batch, fmt, names = _read_uploads(files)
    except (TemplateError, ValueError) as exc:
        st.error(f"These files cannot be read: {safe_text.markdown(exc)}", icon=":material/error:")
        return
    allow = st.checkbox(
        "Accept implausible values",
        key="data_allow_implausible",
        help="Dates after tomorrow or before 1900, doses and weights outside the configured "
        "ranges are problems; tick this to import them as they are (each is listed).",
    )
    eng = engine()
    with eng.connect() as conn:
        existing = ExistingKeys.load(conn)
    if isinstance(batch, FhirReadResult):
        # Invalid FHIR records are problems here too: nothing is dropped silently.
        validated, _ = validate_fhir(batch, existing=existing, allow_implausible=allow)
    else:
        validated = validate(batch, existing=existing, allow_implausible=allow)
    for warning in validated.warnings:
        st.warning(safe_text.markdown(warning), icon=":material/warning:")
    if validated.problems:
        _show_problems(validated)
        return
    preview = write_batch(eng, validated, source=names, kind=fmt, dry_run=True)
    st.success(
        f"{safe_text.markdown(names)}: no problems found. This import would add "
        f"{preview.added:,} and update "
        f"{preview.updated:,} rows.",
        icon=":material/task_alt:",
    )
    st.dataframe(
        [{"table": n, "added": t.added, "updated": t.updated, "unchanged": t.unchanged,
          "removed": t.removed} for n, t in preview.tables.items()],
        hide_index=True,
    )  # fmt: skip
    if not auth.is_on() and settings().is_embedded_default:
        st.info(
            "After this import the app asks everyone to sign in: the embedded database runs "
            "without sign-in only while it holds the synthetic demo clinic. Create an "
            "account first: `python -m kapviz users add NAME --role director`.",
            icon=":material/lock:",
        )
    if st.button("Import now", type="primary", icon=":material/upload:", key="data_confirm"):
        _write(validated, names, fmt)


def _show_problems(validated: ValidatedBatch) -> None:
    st.error(
        f"{len(validated.problems)} problems found — nothing was written. Fix them in the "
        "files and upload again.",
        icon=":material/error:",
    )
    st.markdown("**Problems by file and column**")
    st.dataframe(problem_groups(validated.problems), hide_index=True)
    with st.expander("Every problem"):
        st.dataframe(problems_frame(validated.problems), hide_index=True)


def _write(validated: ValidatedBatch, names: str, fmt: str) -> None:
    bar = st.progress(0.0, text="Importing…")
    result = write_batch(
        engine(),
        validated,
        source=names,
        kind=fmt,
        user=auth.username() if auth.is_on() else None,
        progress=lambda share: bar.progress(share, text=f"Importing… {share:.0%}"),
    )
    bar.progress(1.0, text="Done")
    auth.record_import(names, fmt, added=result.added, updated=result.updated)
    st.success(
        f"Imported {safe_text.markdown(names)}: {result.added:,} rows added, "
        f"{result.updated:,} updated.",
        icon=":material/task_alt:",
    )
    st.cache_data.clear()
