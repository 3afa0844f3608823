"""kapviz: analytics dashboard for ketamine-assisted psychotherapy (KAP) programs.

`kapviz.connect(url)` opens a clinic database for the Python API (kapviz.api, docs/api.md);
it is imported on first use so that `import kapviz` stays light for the app and the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["connect"]

if TYPE_CHECKING:
    from kapviz.api import connect


def __getattr__(name: str) -> Any:
    if name == "connect":
        from kapviz.api import connect

        return connect
    raise AttributeError(f"module 'kapviz' has no attribute {name!r}")
