"""The security suite: one file per defence, each test's docstring saying what it proves.

Browser tests here reuse the harness of tests/browser (Chromium and app servers) and get the
`browser` marker like those do.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import app_factory, browser, page  # noqa: F401 - fixtures


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that drive Chromium get the `browser` marker (`-m "not browser"` skips them)."""
    for item in items:
        if "page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
