"""The progress page in a real browser (Debian's Chromium, headless)."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

pytestmark = pytest.mark.e2e

# Debian's Chromium; CHROMIUM names another build (e.g. on GitHub's runners).
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by Playwright (its own download is not used)."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def test_two_clicks_run_two_progress_bars_to_success(stack, browser):
    """Each click adds a row whose bar fills up and ends with SUCCESS."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(stack.url("/"))

    page.fill("#total", "5")
    page.fill("#delay", "0.2")
    page.click("#start-task")
    page.click("#start-task")

    bars = page.locator("progress")
    expect(bars).to_have_count(2)
    for index in range(2):
        bar = bars.nth(index)
        expect(bar).to_have_attribute("data-state", "SUCCESS", timeout=30_000)
        assert bar.get_attribute("value") == bar.get_attribute("max") == "5"

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "progress-page.png", full_page=True)
    assert errors == []
    page.close()
