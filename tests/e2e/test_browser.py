"""Real browsers (headless Chromium, Debian's, driven by Playwright) on the real stack: a
dispatcher signs in and takes over a citizen's web chat open in another browser context;
works a ticket from 受理 to 办结 with a 并单 on the way; filters the queue. axe-core (from
npm) checks the citizen page and the staff pages. Screenshots go to results/browser/."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from liangwang.complaints import tickets
from liangwang.complaints.tickets import NewTicket
from liangwang.db import sessions_for, unit_of_work
from liangwang.settings import PROJECT_ROOT, Settings
from ops.harness import STAFF_PASSWORD, STAFF_USER, RunningStack

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = PROJECT_ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = PROJECT_ROOT / "results" / "browser"
WAIT_MS = 20_000  # the pages ask for news every 3 s; a busy machine answers slowly


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def signed_in_staff(browser: Browser, stack: RunningStack) -> Page:
    stack.staff()  # makes the account once, with `liangwang staff create`
    page = browser.new_context(base_url=stack.staff_url).new_page()
    page.goto("/staff/")
    expect(page.locator("#sign-in")).to_be_visible()  # signed out: the sign-in page
    page.fill("#username", STAFF_USER)
    page.fill("#password", STAFF_PASSWORD)
    with page.expect_response(lambda r: r.url.endswith("/staff/sign-in")) as signing_in:
        page.click("#sign-in button[type=submit]")
    assert signing_in.value.status == 303, signing_in.value.text()
    expect(page.locator("h1")).to_have_text("后台 · 待转人工")
    return page


def citizen_says(page: Page, words: str) -> None:
    page.fill("#text", words)
    page.click("#send button[type=submit]")


def test_a_dispatcher_takes_over_a_web_chat_and_hands_it_back(
    browser: Browser, stack: RunningStack
) -> None:
    citizen = browser.new_context(base_url=stack.web_url).new_page()
    citizen.goto("/")
    expect(citizen.locator("#log li.bot")).to_have_count(1, timeout=WAIT_MS)  # the greeting
    citizen_says(citizen, "我要找真人说")
    expect(citizen.locator("#log li.bot").last).to_contain_text("马上帮您转人工", timeout=WAIT_MS)
    before_staff = citizen.locator("#log li.bot").count()  # the greeting and this answer

    staff = signed_in_staff(browser, stack)
    row = staff.locator("#queue tbody tr").filter(has_text="要求转人工").last
    expect(row).to_be_visible(timeout=WAIT_MS)  # the queue updated itself
    shot(staff, "1-queue")
    row.locator("a").click()
    staff.click("#claim button")
    expect(staff.locator("#said")).to_contain_text("我要找真人说")

    exchanges = [
        ("我家门口路灯坏了三天了", "您好，我是工作人员，请问在哪个区？"),
        ("杨浦区国和路", "好的，马上帮您派单。"),
    ]
    for n, (asks, answers) in enumerate(exchanges, start=1):
        citizen_says(citizen, asks)
        expect(staff.locator("#desk")).to_contain_text(asks, timeout=WAIT_MS)
        staff.fill("#reply-text", answers)
        staff.click("#reply button[type=submit]")
        expect(citizen.locator("#log li.staff").last).to_have_text(
            f"工作人员：{answers}", timeout=WAIT_MS
        )
        shot(citizen, f"2-citizen-exchange-{n}")
    shot(staff, "3-staff-conversation")
    # The bot said nothing while the person held the chat.
    after = citizen.locator("#log li.bot").all_inner_texts()[before_staff:]
    assert "助手" not in " ".join(after)

    staff.click("#hand-back button")
    expect(citizen.locator("#log li.bot").last).to_contain_text("交回给智能助手", timeout=WAIT_MS)
    citizen_says(citizen, "你好")
    expect(citizen.locator("#log li.bot").last).to_contain_text("办事指南", timeout=WAIT_MS)
    shot(citizen, "4-citizen-back-with-the-bot")
    # Reloading shows the conversation so far, the person's replies included, with who
    # said each line in words.
    citizen.reload()
    expect(citizen.locator("#log")).to_contain_text("我要找真人说", timeout=WAIT_MS)
    expect(citizen.locator("#log")).to_contain_text(f"工作人员：{exchanges[-1][1]}")
    expect(citizen.locator("#log li.user .who").first).to_have_text("您：")
    shot(citizen, "5-citizen-reloaded")


def _file_two_nearby(stack: RunningStack) -> tuple[str, str]:
    sessions = sessions_for(Settings(data_dir=stack.data_dir).effective_database_url)
    with unit_of_work(sessions) as s:
        numbers = tuple(
            tickets.file_ticket(
                s,
                NewTicket(
                    category="manhole",
                    description=words,
                    channel="web",
                    district="宝山",
                    address="友谊路88号",
                ),
                actor="e2e",
            ).number
            for words in ("井盖没了很危险", "友谊路井盖丢了")
        )
    return numbers[0], numbers[1]


def test_a_dispatcher_works_a_ticket_to_closed_with_a_merge_and_filters(
    browser: Browser, stack: RunningStack
) -> None:
    first, second = _file_two_nearby(stack)
    staff = signed_in_staff(browser, stack)
    staff.goto("/staff/tickets")
    staff.select_option("select[name=category]", "manhole")
    staff.select_option("select[name=district]", "宝山区")
    staff.click("#filters button[type=submit]")
    expect(staff.locator("#tickets")).to_contain_text(first)
    expect(staff.locator("#tickets")).to_contain_text(second)
    assert re.search(r"共 \d+ 件", staff.inner_text("#count"))
    shot(staff, "6-queue-filtered")

    staff.click(f"text={second}")
    staff.check(f"#merge-nearby input[value='{first}']")
    staff.click("#merge-nearby button")
    expect(staff.locator("#status")).to_have_text("合并")

    staff.goto(f"/staff/tickets/{first}")
    staff.fill("#step-dispatch input[name=department]", "宝山区城管执法局")
    staff.click("#step-dispatch button")
    staff.click("#step-start button")
    staff.fill("#step-answer textarea[name=note]", "已补装井盖。")
    staff.click("#step-answer button")
    staff.click("#step-close button")
    expect(staff.locator("#status")).to_have_text("办结")
    expect(staff.locator("#audit")).to_contain_text(STAFF_USER)
    shot(staff, "7-ticket-closed")


def serious_violations(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{v['id']} ({v['impact']}): {v['help']}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def test_the_citizen_page_and_the_staff_pages_pass_axe(
    browser: Browser, stack: RunningStack
) -> None:
    assert AXE.is_file(), "axe-core is installed by scripts/setup.sh (npm ci in tests/browser)"
    citizen = browser.new_context(base_url=stack.web_url).new_page()
    citizen.goto("/")
    sign_in = browser.new_context(base_url=stack.staff_url).new_page()
    sign_in.goto("/staff/sign-in")
    staff = signed_in_staff(browser, stack)
    first, _ = _file_two_nearby(stack)
    problems = {
        "citizen page": serious_violations(citizen),
        "sign-in": serious_violations(sign_in),
    }
    for path in ("/staff/", "/staff/tickets", f"/staff/tickets/{first}", "/staff/calls"):
        staff.goto(path)
        problems[path] = serious_violations(staff)
    assert {page: found for page, found in problems.items() if found} == {}


def test_axe_finds_what_it_should(browser: Browser) -> None:
    # The check above can fail: a page with a serious violation is reported.
    page = browser.new_page()
    page.set_content('<html lang="zh-CN"><body><img src="x.png"><input></body></html>')
    assert serious_violations(page)
