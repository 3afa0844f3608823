"""Uploaded files, read and checked away from the server: nothing left on disk, bounded memory.

Why: the Data page copied every upload into a new `kapviz-upload-*` folder on every rerun and
never removed it, and a 50 MB junk file parsed in the server process took a minute and GBs,
stalling every other viewer. Now:
- `check_uploads` refuses a file by size, kind and (for workbooks) by what its zip would
  unpack to, before anything is parsed (kapviz.privacy.check_upload);
- `read_and_validate` (read, validate, and the dry run's counts) runs in a child process
  (`parse_in_child`) under a memory limit, so the server's own threads keep
  answering and a file that needs too much memory fails alone; the files are written to
  one temporary folder that the parent removes when the read ends, whether it succeeded,
  failed or the child died.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import multiprocessing
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from kapviz import privacy
from kapviz.io.validate import ValidatedBatch
from kapviz.io.write import ImportResult, write_batch

log = logging.getLogger(__name__)
T = TypeVar("T")

TEMP_PREFIX = "kapviz-upload-"
STALE_AFTER_SECONDS = 6 * 3600
"""A `kapviz-upload-*` folder older than this was left by a process that was killed while
reading (a normal end always removes its folder): the next read removes it."""


class UploadTooLarge(ValueError):
    """The files need more memory to read than the limit allows."""


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its name as sent (only the last part is used) and its bytes."""

    name: str
    content: bytes


@dataclass
class ReadResult:
    """What the dry-run report needs: the validated batch, the importer and the names."""

    validated: ValidatedBatch
    fmt: str
    names: str
    warnings: list[str] = field(default_factory=list)
    preview: ImportResult | None = None
    """The dry run's counts (what the import would add and update), when there is no problem."""


def check_uploads(uploads: Sequence[Upload], *, max_bytes: int, max_unzipped_bytes: int) -> None:
    """Every file checked before any is written or read (raises privacy.UploadRefused)."""
    for upload in uploads:
        privacy.check_upload(
            upload.name,
            upload.content,
            max_bytes=max_bytes,
            max_unzipped_bytes=max_unzipped_bytes,
        )


def read_and_validate(
    folder: Path, uploads: Sequence[Upload], database_url: str, allow_implausible: bool = False
) -> ReadResult:
    """Write the uploads into `folder`, read them with the right importer and validate them
    against what the database holds. Runs in the child process."""
    from kapviz.db.engine import make_engine  # child process only
    from kapviz.io.commands import detect_format
    from kapviz.io.fhir import read_fhir, validate_fhir
    from kapviz.io.template import read_template
    from kapviz.io.validate import ExistingKeys, validate

    mapping = None
    for upload in uploads:
        target = folder / Path(upload.name).name
        target.write_bytes(upload.content)
        if target.suffix == ".toml":
            mapping = str(target)
    names = ", ".join(u.name for u in uploads)
    data_files = [p for p in folder.iterdir() if p.suffix != ".toml"]
    single = len(data_files) == 1
    is_file_format = single and data_files[0].suffix in (".xlsx", ".json", ".ndjson")
    path = data_files[0] if is_file_format or (mapping and single) else folder
    fmt = detect_format(path, redcap_mapping=mapping)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            existing = ExistingKeys.load(conn)
        if fmt == "fhir":
            # Invalid FHIR records are problems here too: nothing is dropped silently.
            validated, _ = validate_fhir(
                read_fhir(path), existing=existing, allow_implausible=allow_implausible
            )
        elif fmt == "template":
            validated = validate(
                read_template(path), existing=existing, allow_implausible=allow_implausible
            )
        else:
            from kapviz.io.redcap import read_redcap

            validated = validate(
                read_redcap(path, mapping), existing=existing, allow_implausible=allow_implausible
            )
        preview = None
        if not validated.problems:
            preview = write_batch(engine, validated, source=names, kind=fmt, dry_run=True)
    finally:
        engine.dispose()
    return ReadResult(validated, fmt, names, list(validated.warnings), preview)


M_ARENA_MAX = -8
"""glibc's mallopt parameter for the number of malloc arenas."""


def _limit_memory(limit_bytes: int) -> None:
    """Child initializer: the modules first, then a limit of `limit_bytes` on the memory the
    read may allocate on top of them.

    The limit is RLIMIT_DATA (private writable memory: the heap, anonymous mappings, thread
    stacks), counted from what the process holds now (VmData). An address-space limit
    (RLIMIT_AS) also counted reservations that hold no memory: every thread that mallocs under
    contention gets a glibc arena of 64 MB of reserved address space, and thread pools
    started by the libraries of a read add one per core, so a tiny read failed now and then on
    a busy machine. Two arenas at most keep the heap compact as well."""
    import kapviz.io.commands  # noqa: F401 - loaded before the limit
    import kapviz.io.fhir  # noqa: F401
    import kapviz.io.redcap  # noqa: F401
    import kapviz.io.validate  # noqa: F401

    with contextlib.suppress(OSError, AttributeError):  # not glibc: its default arenas
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 2)
    resource.setrlimit(resource.RLIMIT_DATA, (data_bytes() + limit_bytes, resource.RLIM_INFINITY))


def data_bytes() -> int:
    """This process's private writable memory (VmData), what RLIMIT_DATA counts."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    raise OSError(errno.ENOSYS, "no VmData in /proc/self/status")


def _out_of_memory(exc: BaseException) -> bool:
    """The child ran out of its memory: MemoryError, ENOMEM, a thread that got no stack (thread
    stacks count towards the limit), or a child killed outright."""
    if isinstance(exc, OSError):
        return exc.errno == errno.ENOMEM
    if isinstance(exc, RuntimeError) and not isinstance(exc, BrokenProcessPool):
        return "can't start new thread" in str(exc)  # CPython's words for it
    return True


def remove_stale_folders(*, now: float | None = None) -> int:
    """Remove `kapviz-upload-*` folders left by killed processes; returns how many."""
    cutoff = (now if now is not None else time.time()) - STALE_AFTER_SECONDS
    removed = 0
    for folder in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        try:
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed


def parse_in_child(
    uploads: Sequence[Upload],
    database_url: str,
    *,
    memory_limit_bytes: int,
    wait: Callable[[Future], None] | None = None,
    allow_implausible: bool = False,
) -> ReadResult:
    """`read_and_validate` in a fresh child process with at most `memory_limit_bytes` more
    memory; `wait(future)` is called while it runs (the page shows progress there). The
    temporary folder is removed when this returns or raises."""
    remove_stale_folders()
    folder = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
    try:
        return run_limited(
            read_and_validate,
            folder,
            list(uploads),
            database_url,
            allow_implausible,
            memory_limit_bytes=memory_limit_bytes,
            wait=wait,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_limited(
    fn: Callable[..., T],
    *args: object,
    memory_limit_bytes: int,
    wait: Callable[[Future], None] | None = None,
) -> T:
    """`fn(*args)` in a fresh (spawned) child process that may allocate at most
    `memory_limit_bytes` more than it holds after its imports; UploadTooLarge when it runs
    out. A spawned child inherits nothing of the server's memory, whatever the server holds."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=1,
        mp_context=context,
        initializer=_limit_memory,
        initargs=(memory_limit_bytes,),
    ) as pool:
        future = pool.submit(fn, *args)
        if wait is not None:
            wait(future)
        try:
            return future.result()
        except (MemoryError, BrokenProcessPool, OSError, RuntimeError) as exc:
            if not _out_of_memory(exc):
                raise
            log.warning("reading the upload ran out of memory: %r", exc)
            raise UploadTooLarge(
                "these files need more memory to read than the "
                f"{memory_limit_bytes // 1024 // 1024} MB allowed "
                "(KAPVIZ_UPLOAD_MEMORY_MB); split them or import them with the command line"
            ) from exc
