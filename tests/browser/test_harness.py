"""The browser harness itself, proven on a throwaway script rather than the real app."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import assert_no_exception, open_app, start_app

SCRIPT = """\
import os

import streamlit as st

st.title("hello")
st.write("database: " + os.environ["KAPVIZ_DATABASE_URL"])
st.write("extra: " + os.environ.get("KAPVIZ_HARNESS_EXTRA", "missing"))
if st.query_params.get("boom"):
    raise RuntimeError("kaboom from the harness test")
"""


def test_harness_serves_a_script_to_chromium(tmp_path: Path, page: Page) -> None:
    """start_app runs the given script with the given environment; open_app waits for the run,
    and assert_no_exception fails with the exception text once the script raises."""
    script = tmp_path / "hello.py"
    script.write_text(SCRIPT)
    db_url = f"sqlite:///{tmp_path}/kapviz.db"
    with start_app(db_url, {"KAPVIZ_HARNESS_EXTRA": "passed"}, script=script) as base_url:
        open_app(page, base_url)
        assert page.locator("h1").inner_text() == "hello"
        assert page.get_by_text(f"database: {db_url}").is_visible()
        assert page.get_by_text("extra: passed").is_visible()

        page.goto(f"{base_url}/?boom=1")
        page.locator('[data-testid="stException"]').wait_for()
        with pytest.raises(pytest.fail.Exception, match="kaboom from the harness test"):
            assert_no_exception(page)


def test_start_app_reports_a_server_that_dies(tmp_path: Path) -> None:
    """A server that cannot start fails fast with its stderr, instead of timing out."""
    with (
        pytest.raises(pytest.fail.Exception, match="streamlit exited"),
        start_app("sqlite://", script=tmp_path / "missing.py", timeout=30),
    ):
        pass
