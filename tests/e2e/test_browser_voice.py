"""The citizens' web page in a real browser (Debian's Chromium, driven by Playwright) on the
real stack, by voice and by tapping: Chromium's fake microphone plays one of the recorded
Mandarin test phrases (tests/fixtures/voice), which the page streams to the server's
speech-to-text; replies are heard in the project's voice. Screenshots at phone and desktop
sizes go to results/browser/."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Geolocation, Page, expect, sync_playwright

from ops.harness import RunningStack
from tests.e2e.test_browser import AXE, CHROMIUM, SHOTS, serious_violations, shot
from tests.e2e.test_telegram import VOICE_FIXTURES

pytestmark = pytest.mark.e2e

HEARING_MS = 90_000  # the web process loads the recogniser on its first voice turn
WAIT_MS = 30_000
PHONE = {"width": 390, "height": 844}
SHANGHAI: Geolocation = {"latitude": 31.2304, "longitude": 121.4737}
DESKTOP = {"width": 1280, "height": 900}


def browser_hearing(recording: str) -> Iterator[Browser]:
    """A browser whose microphone says ``recording`` once, then is quiet."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={VOICE_FIXTURES / recording}.wav%noloop",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture
def hears_jinglaoka() -> Iterator[Browser]:
    yield from browser_hearing("jinglaoka")  # 我想办张敬老卡


@pytest.fixture
def kiosk() -> Iterator[Browser]:
    """A service-hall browser; its microphone would say 路灯坏了, but nobody speaks here."""
    yield from browser_hearing("ludeng")


def citizen_page(
    browser: Browser, stack: RunningStack, size: dict[str, int], where: Geolocation | None = None
) -> Page:
    context = browser.new_context(
        base_url=stack.web_url,
        viewport=size,  # type: ignore[arg-type]
        geolocation=where,
        permissions=["microphone", "geolocation"],
    )
    page = context.new_page()
    page.goto("/")
    # A new conversation opens with the greeting and its choices: nothing to type first.
    expect(page.locator("#log li.bot").first).to_contain_text("我要找茬", timeout=WAIT_MS)
    return page


def tap(page: Page, title: str) -> None:
    """Press the button called ``title`` under the assistant's latest message, after a
    moment's reading, as a person would (and within the chat's rate limit)."""
    page.wait_for_timeout(1500)
    page.locator("#log li.bot").last.get_by_role("button", name=title, exact=True).click()


def test_a_guide_asked_by_voice_on_a_phone_is_answered_and_read_aloud(
    hears_jinglaoka: Browser, stack: RunningStack
) -> None:
    page = citizen_page(hears_jinglaoka, stack, PHONE)
    page.click("#talk")
    expect(page.locator("#talk")).to_have_attribute("aria-pressed", "true")
    # Two seconds quiet after the phrase ends the turn by itself; what was heard is shown
    # as the citizen's message before the answer (as heard: Whisper base may write 近老卡;
    # the dialogue matches names by their sounds).
    said = page.locator("#log li.user").last
    expect(said).to_contain_text("老卡", timeout=HEARING_MS)
    answer = page.locator("#log li.user ~ li.bot").filter(has_text="敬老卡").first
    expect(answer).to_be_visible(timeout=WAIT_MS)
    # A spoken turn's answer is read aloud, its first message first.
    expect(answer).to_have_attribute("data-spoken", re.compile("playing|played"), timeout=WAIT_MS)
    assert answer.get_by_role("button", name=re.compile("再听一遍")).is_visible()
    shot(page, "voice-1-guide-phone")


def test_a_complaint_filed_by_taps_alone_survives_a_reload_in_large_text(
    kiosk: Browser, stack: RunningStack
) -> None:
    page = citizen_page(kiosk, stack, DESKTOP, where=SHANGHAI)
    tap(page, "我要找茬")
    expect(page.locator("#log li.bot").last).to_contain_text("什么问题", timeout=WAIT_MS)
    tap(page, "路灯")  # the kinds of problem, for those who would rather not describe it
    expect(page.locator("#log li.bot").last).to_contain_text("对吗", timeout=WAIT_MS)
    tap(page, "对")
    districts = page.locator("#log li.bot").last.locator(".taps button")
    expect(districts).to_have_count(16, timeout=WAIT_MS)
    tap(page, "静安区")
    expect(page.locator("#log li.bot").last).to_contain_text("具体在哪里", timeout=WAIT_MS)
    tap(page, "发送我的位置")  # the browser's location (granted to this page)
    for title in ("跳过", "不留"):
        before = page.locator("#log li.bot").count()
        tap(page, title)
        expect(page.locator("#log li.bot")).not_to_have_count(before, timeout=WAIT_MS)
    expect(page.locator("#log li.bot").last).to_contain_text("我念一遍", timeout=WAIT_MS)
    tap(page, "对")
    expect(page.locator("#log li.bot").last).to_contain_text(
        re.compile(r"编号是 \d{3} \d{3}"), timeout=WAIT_MS
    )
    assert page.locator("#text").input_value() == ""  # nothing was typed
    shot(page, "voice-2-complaint-by-taps-desktop")

    said = _log(page)
    page.reload()
    expect(page.locator("#log li").last).to_contain_text("编号是", timeout=WAIT_MS)
    # The reload shows the same conversation, taps by the words on their buttons.
    assert _log(page) == said
    page.click("#bigger")
    assert page.evaluate("getComputedStyle(document.body).fontSize") == "30px"
    page.set_viewport_size(PHONE)
    shot(page, "voice-3-reloaded-large-text-phone")
    assert AXE.is_file()
    assert serious_violations(page) == []


def _log(page: Page) -> list[str]:
    """Who said what, in order: each line's own words, without its buttons."""
    words: list[str] = page.evaluate(
        """() => Array.from(document.querySelectorAll("#log li")).map(li => li.className + ":" +
            Array.from(li.childNodes).filter(n => n.nodeType === Node.TEXT_NODE)
                 .map(n => n.textContent).join(""))"""
    )
    return words
