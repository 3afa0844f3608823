"""The Data page's override of the plausibility rules in a real browser: a session dated
9999-12-31 and 35,000 mg at 0.001 kg are problems; ticking "Accept implausible values"
lists them as warnings and lets the import go ahead."""

from __future__ import annotations

from pathlib import Path

from tests.browser.conftest import open_app, wait_for_app

FILES = Path(__file__).parents[1] / "io" / "fixtures" / "template_implausible"


def test_implausible_values_refused_then_accepted(app_url, page):
    open_app(page, app_url, "/data")
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploader.set_input_files(sorted(str(p) for p in FILES.glob("*.csv")))
    page.get_by_text("3 problems found").wait_for(timeout=30000)
    wait_for_app(page)
    page.get_by_text("Accept implausible values").click()
    page.get_by_text("no problems found").wait_for(timeout=30000)
    wait_for_app(page)
    warnings = page.locator('[data-testid="stAlertContentWarning"]').all_inner_texts()
    accepted = [w for w in warnings if "implausible values accepted" in w]
    assert len(accepted) == 3, warnings
    page.get_by_role("button", name="Import now").click()
    page.get_by_text("Imported").wait_for(timeout=30000)
