"""End to end: 一网通办 guides through the real Rasa server, action server and database
(the sample catalog is seeded by `liangwang run` on first start)."""

from __future__ import annotations

import httpx
import pytest

from ops.harness import RunningStack
from tests.e2e.talk import new_id, texts

pytestmark = pytest.mark.e2e


def test_service_in_colloquial_words_is_read_a_step_at_a_time(stack: RunningStack) -> None:
    cid = new_id("guide")
    first = texts(stack.say(cid, "我想办个老年卡"))
    assert first[0].startswith("上海市敬老卡申领。")
    assert first[1].startswith("一共") and "第一步" in first[1]
    assert first[2] == "要继续听吗？"
    second = texts(stack.say(cid, "继续"))
    assert second[0].startswith("第2步")


def test_materials_checklist_is_one_message(stack: RunningStack) -> None:
    cid = new_id("guide")
    stack.say(cid, "我想补办社保卡")
    replies = texts(stack.say(cid, "要带什么材料"))
    assert replies[0].startswith("办社会保障卡申领与补换要带这些材料：\n1. ")
    assert "再说一遍" in replies[1]


def test_location_asks_for_the_district_then_answers(stack: RunningStack) -> None:
    cid = new_id("guide")
    stack.say(cid, "我想办敬老卡")
    assert texts(stack.say(cid, "在哪里办"))[0].startswith("请问您住在哪个区")
    answer = texts(stack.say(cid, "我住在徐汇"))
    assert answer[0] == "好的，徐汇区。"
    assert "徐汇区" in answer[1] and "地址" in answer[1]


def test_homophone_from_speech_recognition(stack: RunningStack) -> None:
    replies = texts(stack.say(new_id("guide"), "我要办设保卡"))
    assert replies[0].startswith("社会保障卡")


def test_catalog_search_api(stack: RunningStack) -> None:
    reply = httpx.get(
        f"{stack.web_url}/api/catalog/search",
        params={"q": "公基金", "district": "浦东"},
        timeout=10,
    )
    body = reply.json()
    assert reply.status_code == 200 and body["district"] == "浦东新区"
    assert body["candidates"][0]["service_id"] == "housing-fund-withdrawal"
    bad = httpx.get(f"{stack.web_url}/api/catalog/search", params={"q": "x", "district": "火星"})
    assert bad.status_code == 422
