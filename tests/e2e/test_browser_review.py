"""Conversation review in a real browser (Debian's Chromium, Playwright) on the real stack:
a web chat and a phone call (a recorded caller through `liangwang call`) reach the review
pages from Rasa's tracker store; a reviewer finds one by a Chinese word, plays the
caller's voice, corrects an intent and exports it, and opens the dashboard. What a
citizen typed as HTML stays text everywhere."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from ops.harness import LIANGWANG, RunningStack
from tests.e2e.test_browser import CHROMIUM, SHOTS, serious_violations, shot, signed_in_staff
from tests.e2e.test_telegram import VOICE_FIXTURES

pytestmark = pytest.mark.e2e

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>小区门口的路灯坏了"
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


def _no_script_runs(page: Page) -> list[str]:
    """Dialogs the page opened: a script a citizen typed would open one."""
    opened: list[str] = []
    page.on("dialog", lambda d: (opened.append(d.message), d.dismiss()))
    return opened


def test_a_reviewer_finds_hears_corrects_exports_and_sees_the_city(
    browser: Browser, stack: RunningStack
) -> None:
    page_id = uuid.uuid4().hex[:16]
    with httpx.Client(base_url=stack.web_url, timeout=30) as web:
        said = web.post("/api/chat", json={"conversation_id": page_id, "text": HOSTILE})
        assert said.status_code == 200, said.text
    call = subprocess.run(
        [LIANGWANG, "call", str(VOICE_FIXTURES / "jinglaoka.wav")],
        env=stack.env, cwd=stack.data_dir, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert call.returncode == 0, call.stdout + call.stderr

    staff = signed_in_staff(browser, stack)
    opened = _no_script_runs(staff)
    staff.goto("/staff/conversations")
    staff.fill("#q", "路灯")
    staff.click("#filters button[type=submit]")
    row = staff.locator("#conversations tbody tr").filter(has_text="路灯")
    expect(row.first).to_be_visible(timeout=WAIT_MS)
    expect(row.first).to_contain_text("<script>alert(1)</script>")  # shown as typed
    row.first.locator("a").click()
    expect(staff.locator("#turns")).to_contain_text("<img src=x onerror=alert(2)>")
    shot(staff, "review-1-web-conversation")

    # The phone call: the caller's own voice beside what was recognised.
    staff.goto("/staff/conversations?channel=phone&q=老卡")
    staff.locator("#conversations tbody tr a").first.click()
    audio = staff.locator("#turns audio").first
    expect(audio).to_be_attached(timeout=WAIT_MS)
    expect(staff.locator("#turns")).to_contain_text("语音识别把握")  # the recogniser's
    playing = staff.evaluate(
        """async () => { const a = document.querySelector('#turns audio');
                         await a.play(); await new Promise(r => setTimeout(r, 300));
                         return !a.paused && a.currentTime > 0; }"""
    )
    assert playing
    # Correct what the caller meant, and export it.
    turn = staff.locator("#turns tr.user").filter(has_text="老卡").first
    turn.locator("summary").click()
    turn.locator("select[name=intent]").select_option("ask_service_guide")
    turn.locator("form.correct button[type=submit]").click()
    expect(staff.locator("#turns")).to_contain_text("更正为 ask_service_guide")
    shot(staff, "review-2-phone-corrected")
    staff.goto("/staff/review/export")
    expect(staff.locator("#nlu")).to_contain_text("- intent: ask_service_guide")
    staff.locator("form[action='/staff/review/export'] button").click()
    expect(staff.get_by_role("status")).to_contain_text("已写入")
    assert "- intent: ask_service_guide" in (stack.data_dir / "reviewed.yml").read_text("utf-8")

    staff.goto("/staff/dashboard")
    expect(staff.locator("#district-map")).to_be_visible()
    expect(staff.locator("#summary")).to_contain_text("自助解决率")
    shot(staff, "review-3-dashboard")
    problems = {}
    for path in ("/staff/conversations", "/staff/review/misunderstood", "/staff/dashboard"):
        staff.goto(path)
        problems[path] = serious_violations(staff)
    assert {path: found for path, found in problems.items() if found} == {}
    assert opened == []  # no script a citizen typed ever ran
