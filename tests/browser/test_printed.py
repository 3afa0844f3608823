"""The printed case summary in a browser with the network cut: it still shows everything."""

from __future__ import annotations

import pytest

from kapviz.cli import main
from kapviz.db.engine import make_engine
from kapviz.demo import generate_clinic


@pytest.fixture
def demo_db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    engine = make_engine(url)
    generate_clinic(engine, patients=20, seed=7)
    engine.dispose()
    return url


def test_html_is_small_and_opens_offline(demo_db, tmp_path, browser):
    """The HTML: under 1.5 MB, and in a browser with every network request blocked it shows
    every chart (nothing it needs is outside the file)."""
    out = tmp_path / "case.html"
    assert main(["case-summary", "DEMO-00003", "--db", demo_db, "--out", str(out)]) == 0
    assert out.stat().st_size < 1_500_000
    context = browser.new_context(offline=True)
    page = context.new_page()
    asked = []
    page.route("**/*", lambda route: (asked.append(route.request.url), route.continue_()))
    try:
        page.goto(out.as_uri())
        images = page.locator("img.figure")
        assert images.count() >= 2
        assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
        assert [u for u in asked if not u.startswith(("file:", "data:"))] == []
        assert "DEMO-00003" in page.locator("h1").inner_text()
    finally:
        context.close()
