"""Start a slow read in a thread while the page builds what does not need it.

Why: the database does its work (and the ADBC drivers fetch rows) without holding the GIL,
so a large query and the page's own figure building overlap instead of adding up. The
thread runs under the script run's context, so `st.cache_*` functions called in it fill the
same caches the page reads afterwards (a cached function's compute lock makes the page wait
for the value being computed instead of computing it twice).

PostgreSQL only (`side_by_side`): a SQLite file is read by two copies of SQLite in one
process (Python's and the one ADBC links), which do not see each other's locks; a read in
one thread while another opened a connection (journal mode set, WAL index mapped) ended
in SIGBUS in the page tests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future

from sqlalchemy import make_url
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

log = logging.getLogger(__name__)

_RUNNING: dict[object, Future] = {}
_GUARD = threading.Lock()


def side_by_side(url: str) -> bool:
    """True where reads may run in threads next to the page's own: not on SQLite."""
    return make_url(url).get_backend_name() != "sqlite"


def start(key: object, fn: Callable, /, *args, **kwargs) -> Future:
    """`fn(*args, **kwargs)` in a daemon thread; one at a time per `key` (hashable).

    While a call for `key` is still running, its Future is returned instead of a second
    thread. An exception is kept in the Future and logged; callers that need the value call
    the cached function again, which then computes it in their own thread.
    """
    with _GUARD:
        running = _RUNNING.get(key)
        if running is not None and not running.done():
            return running
        future: Future = Future()
        _RUNNING[key] = future

    def run() -> None:
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to whoever waits on the Future
            log.warning("background %s failed: %s", getattr(fn, "__name__", fn), exc)
            future.set_exception(exc)
        finally:
            with _GUARD:
                if _RUNNING.get(key) is future:
                    del _RUNNING[key]

    thread = threading.Thread(target=run, name="kapviz-background", daemon=True)
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is not None:
        add_script_run_ctx(thread, ctx)
    thread.start()
    return future
