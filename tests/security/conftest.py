"""The security suite: one file per defence, each test's docstring saying what it proves.

Browser tests here reuse the harness of tests/browser (Chromium and app servers) and get the
`browser` marker like those do; page tests reuse the tiny clinic with its five accounts of
tests/pages/auth (dora director, sam supervisor, cleo clinician, ana analyst, wall display).
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import app_factory, page  # noqa: F401 - fixtures
from tests.pages.auth.conftest import auth_url, fresh_throttle, run_as  # noqa: F401
from tests.pages.conftest import clinic_anchor, clinic_url  # noqa: F401


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that drive Chromium get the `browser` marker (`-m "not browser"` skips them)."""
    for item in items:
        if "page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
