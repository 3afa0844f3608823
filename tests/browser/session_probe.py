"""`streamlit run` with a probe: the runtime's sessions, written to a JSON file every 0.5 s.

    python tests/browser/session_probe.py OUT.json app.py --server.port ... (streamlit flags)

For tests only (tests/browser/test_soak.py): the app itself has no debug endpoint. The probe
runs in the server's own process and reads what a closed tab leaves behind: sessions still
listed by the session manager, sessions the storage still holds (listed or expired but not
yet dropped), and AppSession objects not shut down (no garbage collection here: a full
collection twice a second starved a server that refreshes every second).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import weakref
from pathlib import Path

_SESSIONS: weakref.WeakSet = weakref.WeakSet()
"""Every AppSession the server made, held weakly: what is left after a collection is alive."""


def track_sessions() -> None:
    """Register each new AppSession (a weak reference; no scan of the heap, which may see
    objects another thread is still building)."""
    from streamlit.runtime.app_session import AppSession

    init = AppSession.__init__

    def tracked(self, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        init(self, *args, **kwargs)
        _SESSIONS.add(self)

    AppSession.__init__ = tracked


def snapshot() -> dict:
    from streamlit.runtime import Runtime

    manager = Runtime.instance()._session_mgr
    storage = getattr(getattr(manager, "_session_storage", None), "_cache", None)
    alive = list(_SESSIONS)
    return {
        "listed": len(manager.list_sessions()),
        "active": len(manager.list_active_sessions()),
        "stored": len(getattr(storage, "_data", {})),
        "alive": sum(1 for s in alive if s._state.name != "SHUTDOWN_REQUESTED"),
        "objects": len(alive),
        "at": time.time(),
    }


def probe(out: Path) -> None:
    from streamlit.runtime import Runtime

    while not Runtime.exists():
        time.sleep(0.1)
    time.sleep(1.0)  # let the server finish starting
    while True:
        try:
            text = json.dumps(snapshot())
        except Exception as exc:  # noqa: BLE001 - written for the test to show
            text = json.dumps({"error": repr(exc)})
        tmp = out.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, out)
        time.sleep(0.5)


def main() -> None:
    out = Path(sys.argv[1])
    track_sessions()
    threading.Thread(target=probe, args=(out,), daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", *sys.argv[2:]]
    cli.main()


if __name__ == "__main__":
    main()
