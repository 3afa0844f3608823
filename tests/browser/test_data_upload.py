"""Upload on the Data page in a real browser: problems are listed; valid files import."""

from __future__ import annotations

from pathlib import Path

from tests.browser.conftest import open_app, wait_for_app

FIXTURES = Path(__file__).parents[1] / "io" / "fixtures"


def test_upload_errors_then_valid(app_url, page):
    """Planted errors show the problem table and write nothing; valid files import."""
    open_app(page, app_url, "/data")
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploader.set_input_files(sorted(str(p) for p in (FIXTURES / "template_errors").glob("*.csv")))
    page.get_by_text("22 problems found").wait_for(timeout=30000)
    wait_for_app(page)
    # Replace the upload with the valid folder.
    for button in page.locator('[data-testid="stFileUploaderDeleteBtn"] button').all()[::-1]:
        button.click()
        wait_for_app(page)
    uploader.set_input_files(sorted(str(p) for p in (FIXTURES / "template_valid").glob("*.csv")))
    page.get_by_text("no problems found").wait_for(timeout=30000)
    page.get_by_role("button", name="Import now").click()
    page.get_by_text("Imported").wait_for(timeout=30000)
    wait_for_app(page)
    page.reload()
    wait_for_app(page)
    patients = page.locator('[data-testid="stMetric"]').filter(has_text="Patients").first
    assert patients.locator('[data-testid="stMetricValue"]').inner_text().strip() == "3"
