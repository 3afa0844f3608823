"""Jobs for the upload reader's child process (kapviz.io.uploads.run_limited) in the tests:
a module of its own, so the spawned child imports only this and the reader."""

from __future__ import annotations

import mmap
import threading
from pathlib import Path

from kapviz.io import uploads

GB = 1024**3


def reserve_then_read(
    reserve_bytes: int, folder: Path, files: list[uploads.Upload], url: str
) -> uploads.ReadResult:
    """Reserve address space that holds no memory (as glibc does with 64 MB per malloc arena,
    one per thread pool thread under contention), with threads that allocate, then read."""
    reserved = mmap.mmap(-1, reserve_bytes, prot=0)  # PROT_NONE: address space only
    workers = [threading.Thread(target=lambda: bytes(1 << 20)) for _ in range(16)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    try:
        return uploads.read_and_validate(folder, files, url)
    finally:
        reserved.close()


def allocate(n_bytes: int) -> int:
    """Memory really written: what the limit is for."""
    block = bytearray(n_bytes)
    block[:: mmap.PAGESIZE] = b"x" * len(block[:: mmap.PAGESIZE])
    return len(block)
