"""Release the sessions of closed tabs once their reconnect window has passed.

Streamlit keeps a closed tab's session for `server.disconnectedSessionTTL` seconds so that a
reconnecting browser resumes it, in a cache that drops expired sessions only when another
session is stored: on a server where one wall screen runs for days and tabs are rarely
closed, a closed tab's session (its state, its uploaded files) stayed in memory without
end, never shut down. A daemon thread, one per server process, drops the expired ones
every `SWEEP_SECONDS` and shuts each down as Streamlit does for a session that cannot
reconnect.

This reaches into Streamlit's session manager (no public API drops expired sessions);
when its shape changes the sweeper logs once and stops, and tests/browser/test_soak.py
fails on the closed tab it then keeps.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)

SWEEP_SECONDS = 15.0
"""How often expired sessions are dropped: a closed tab is released at most this long after
its reconnect window (server.disconnectedSessionTTL, 120 s by default) has passed."""

_STARTED = threading.Event()
_LOCK = threading.Lock()


def release_expired() -> int:
    """Drop and shut down the stored sessions whose reconnect window has passed (their
    number). Raises AttributeError when Streamlit's session manager has another shape."""
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return 0
    manager = Runtime.instance()._session_mgr
    cache = manager._session_storage._cache
    with manager._storage_lock:
        expired = cache.expire()
    for _, info in expired:
        try:
            info.session.shutdown()
        except Exception:  # noqa: BLE001 - one session's shutdown must not stop the sweep
            log.warning("could not shut down expired session %s", info.session.id, exc_info=True)
    if expired:
        log.info("released %d closed session(s)", len(expired))
    return len(expired)


def _sweep(every: float) -> None:
    while True:
        time.sleep(every)
        try:
            release_expired()
        except AttributeError:
            log.warning(
                "closed sessions are not released: Streamlit's session manager changed",
                exc_info=True,
            )
            return
        except Exception:  # noqa: BLE001 - keep sweeping
            log.warning("releasing closed sessions failed", exc_info=True)


def start_sweeper(every: float = SWEEP_SECONDS) -> None:
    """Start the process's sweeper once (idempotent; every page calls this)."""
    if _STARTED.is_set():
        return
    with _LOCK:
        if _STARTED.is_set():
            return
        threading.Thread(
            target=_sweep, args=(every,), name="kapviz-session-sweeper", daemon=True
        ).start()
        _STARTED.set()
