"""The Data page's import flow: upload → dry-run report → confirm → write with progress."""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future

import streamlit as st

from kapviz import privacy, safe_text
from kapviz.io.report import problem_groups, problems_frame
from kapviz.io.template import TemplateError
from kapviz.io.uploads import ReadResult, Upload, UploadTooLarge, check_uploads, parse_in_child
from kapviz.io.validate import ValidatedBatch
from kapviz.io.write import write_batch
from kapviz.ui import auth, session
from kapviz.ui.db import database_url, engine, settings

log = logging.getLogger(__name__)

UPLOAD_TYPES = list(privacy.UPLOAD_KINDS)
READ_KEY = "_data_upload_read"
"""Session state: (the uploads' identity, their ReadResult), so the reruns of one upload
(the confirmation click among them) read and check the files once."""

MB = 1024 * 1024


def _read_uploads(files, *, allow_implausible: bool) -> ReadResult:
    """Check the uploads (size, type, what a workbook unpacks to), then read and validate them
    in a separate process with bounded memory, showing progress; the result is kept for the
    reruns of the same upload. Nothing of the files is left on disk afterwards."""
    identity = (tuple((f.file_id, f.name, f.size) for f in files), allow_implausible)
    kept = st.session_state.get(READ_KEY)
    if kept is not None and kept[0] == identity:
        return kept[1]
    st.session_state.pop(READ_KEY, None)
    cfg = settings()
    uploads = [Upload(f.name, f.getvalue()) for f in files]
    check_uploads(
        uploads,
        max_bytes=cfg.upload_max_mb * MB,
        max_unzipped_bytes=cfg.upload_max_unzipped_mb * MB,
    )
    size = sum(len(u.content) for u in uploads) / MB
    what = f"{len(uploads)} file{'s' if len(uploads) > 1 else ''} ({size:,.1f} MB)"
    line = st.empty()

    def wait(future: Future) -> None:
        started = time.monotonic()
        while not future.done():
            line.caption(
                f":material/hourglass_top: Reading and checking {what} in a separate "
                f"process… {time.monotonic() - started:,.0f} s"
            )
            time.sleep(0.5)

    try:
        result = parse_in_child(
            uploads,
            database_url(),
            memory_limit_bytes=cfg.upload_memory_mb * MB,
            wait=wait,
            allow_implausible=allow_implausible,
        )
    finally:
        line.empty()
    st.session_state[READ_KEY] = (identity, result)
    return result


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
        st.session_state.pop(READ_KEY, None)
        st.caption(
            "Nothing is written until you confirm: files are checked first, every problem "
            "is listed, and the import runs in one transaction."
        )
        return
    allow = st.checkbox(
        "Accept implausible values",
        key="data_allow_implausible",
        help="Dates after tomorrow or before 1900, doses and weights outside the configured "
        "ranges are problems; tick this to import them as they are (each is listed).",
    )
    try:
        read = _read_uploads(files, allow_implausible=allow)
    except (TemplateError, UploadTooLarge, ValueError) as exc:
        st.error(f"These files cannot be read: {safe_text.markdown(exc)}", icon=":material/error:")
        return
    except Exception:
        log.exception("reading an upload failed")
        st.error(
            "These files cannot be read: the importer stopped on them. Check that they are "
            "template, FHIR or REDCap files; the server log has the details.",
            icon=":material/error:",
        )
        return
    validated, fmt, names = read.validated, read.fmt, read.names
    eng = engine()
    for warning in validated.warnings:
        st.warning(safe_text.markdown(warning), icon=":material/warning:")
    if validated.problems:
        _show_problems(validated)
        return
    preview = read.preview or write_batch(eng, validated, source=names, kind=fmt, dry_run=True)
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
    if not session.is_on() and settings().is_embedded_default:
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
        user=session.username() if session.is_on() else None,
        progress=lambda share: bar.progress(share, text=f"Importing… {share:.0%}"),
    )
    bar.progress(1.0, text="Done")
    auth.record_import(names, fmt, added=result.added, updated=result.updated)
    st.session_state.pop(READ_KEY, None)
    st.success(
        f"Imported {safe_text.markdown(names)}: {result.added:,} rows added, "
        f"{result.updated:,} updated.",
        icon=":material/task_alt:",
    )
    st.cache_data.clear()
