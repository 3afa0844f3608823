"""Every Streamlit cache of the app is bounded: a wall screen runs for days (issue 22).

`st.cache_data`/`st.cache_resource` without `max_entries` keep every variant of every
filter set for the life of the process. Each cache in kapviz/ui names its `max_entries`;
those without a `ttl` are listed here with the reason they must outlive one.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NO_TTL = {
    ("kapviz/ui/db.py", "_settings"): "one per KAPVIZ_* environment",
    ("kapviz/ui/db.py", "engine_for"): "a connection pool lives as long as the server",
    ("kapviz/ui/oidc.py", "_activity"): "sign-in activity outlives any time to live",
    ("kapviz/ui/auth.py", "_throttle"): "failed sign-ins are counted across the window",
}


def cache_decorators() -> list[tuple[str, str, set[str]]]:
    found = []
    for path in sorted([*(ROOT / "kapviz/ui").glob("*.py"), *(ROOT / "pages").glob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for deco in node.decorator_list:
                call = deco if isinstance(deco, ast.Call) else None
                target = call.func if call else deco
                name = ast.unparse(target)
                if name in ("st.cache_data", "st.cache_resource"):
                    keywords = {k.arg for k in call.keywords} if call else set()
                    found.append((str(path.relative_to(ROOT)), node.name, keywords))
    return found


def test_the_scan_finds_the_app_caches() -> None:
    names = {(path, fn) for path, fn, _ in cache_decorators()}
    assert ("kapviz/ui/data.py", "_version") in names
    assert ("kapviz/ui/db.py", "engine_for") in names
    assert len(names) > 40


def test_every_cache_has_max_entries() -> None:
    unbounded = [(p, fn) for p, fn, kw in cache_decorators() if "max_entries" not in kw]
    assert unbounded == []


def test_every_cache_has_a_ttl_or_a_reason_not_to() -> None:
    no_ttl = {(p, fn) for p, fn, kw in cache_decorators() if "ttl" not in kw}
    assert no_ttl == set(NO_TTL)
