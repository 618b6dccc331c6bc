"""The progress page in a real browser (Debian's Chromium, headless)."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def test_two_clicks_run_two_progress_bars_to_success(stack, chromium):
    """Each click adds a row whose bar fills up and ends with SUCCESS."""
    page = chromium.new_page()
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


def test_a_reloaded_page_shows_its_rows_again_and_they_finish(stack, chromium):
    """The rows come back from GET /tasks after a reload and follow their tasks.

    Another browser (another cookie jar) sees none of them.
    """
    context = chromium.new_context()
    page = context.new_page()
    page.goto(stack.url("/"))
    page.fill("#total", "20")
    page.fill("#delay", "0.2")
    for _ in range(3):
        page.click("#start-task")
    rows = page.locator("[data-task-id]")
    expect(rows).to_have_count(3)
    ids = [rows.nth(index).get_attribute("data-task-id") for index in range(3)]

    page.reload()
    expect(rows).to_have_count(3)
    # The three clicks race: compare the rows, not the order they came in.
    reloaded = [rows.nth(index).get_attribute("data-task-id") for index in range(3)]
    assert sorted(reloaded) == sorted(ids)
    for index in range(3):
        bar = rows.nth(index).locator("progress")
        expect(bar).to_have_attribute("data-state", "SUCCESS", timeout=60_000)
        assert bar.get_attribute("value") == bar.get_attribute("max") == "20"
    context.close()

    stranger = chromium.new_context()
    other_page = stranger.new_page()
    other_page.goto(stack.url("/"))
    other_page.wait_for_load_state("networkidle")
    expect(other_page.locator("[data-task-id]")).to_have_count(0)
    stranger.close()


def test_a_cancelled_row_keeps_its_count(stack, chromium):
    """Cancel stops the bar where it was: REVOKED, with how far it got."""
    page = chromium.new_page()
    page.goto(stack.url("/"))
    page.fill("#total", "200")
    page.fill("#delay", "0.1")
    page.click("#start-task")
    row = page.locator("[data-task-id]").first
    expect(row).to_have_attribute("data-state", "PROGRESS", timeout=30_000)
    expect(row.locator(".task-status")).not_to_have_text("PROGRESS 0/200")
    row.locator(".task-cancel").click()
    expect(row).to_have_attribute("data-state", "REVOKED", timeout=30_000)
    expect(row.locator(".task-status")).to_have_text(re.compile(r"^REVOKED \d+/200$"))
    page.close()
