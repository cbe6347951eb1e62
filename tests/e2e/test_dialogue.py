"""End to end: the real Rasa server, action server, web app and database, started by
`liangwang run`, spoken to over Rasa's REST webhook, the web chat API and the CLI."""

from __future__ import annotations

import subprocess
import uuid

import httpx
import pytest

from liangwang.personal_data import mask_text
from ops.harness import LIANGWANG, RunningStack
from tests.e2e.talk import new_id, texts

pytestmark = pytest.mark.e2e


def test_greeting_says_what_the_assistant_can_do(stack: RunningStack) -> None:
    messages = stack.say(new_id(), "你好")
    [greeting] = [m for m in messages if m.get("text")]
    # It asks an open request: the phone line hears the answer with the catalog's names.
    assert {"custom": {"expect": "request"}} in [{"custom": m.get("custom")} for m in messages]
    text = str(greeting["text"])
    for part in ("办事指南", "找茬", "查询", "转人工"):
        assert part in text
    assert [b["title"] for b in greeting["buttons"]] == [
        "办事指南",
        "我要找茬",
        "查询进度",
        "转人工",
    ]  # type: ignore[union-attr, index]


def test_cli_chat_once_answers_in_chinese(stack: RunningStack) -> None:
    out = subprocess.run(
        [LIANGWANG, "chat", "--once", "你好"],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.startswith("助手：您好！")


def test_handoff_answers_and_staff_see_the_conversation(stack: RunningStack) -> None:
    cid = new_id()
    stack.say(cid, "我门口那个下水道又堵了")
    reply = texts(stack.say(cid, "我要找真人说"))
    assert len(reply) == 1 and "转人工" in reply[0] and "一二三四五" in reply[0]
    staff = stack.staff().get("/staff/").text
    assert mask_text(cid) in staff  # digits in the id that look like a phone are masked


def test_fallback_reasks_then_offers_choices_then_a_person(stack: RunningStack) -> None:
    cid = new_id()
    first = texts(stack.say(cid, "帮我查查明天天气"))
    second = stack.say(cid, "给我讲个笑话吧")
    third = texts(stack.say(cid, "帮我买张彩票"))
    assert "换个说法" in first[0]
    assert "从这几项里选" in str(second[0]["text"]) and second[0].get("buttons")
    assert "转人工" in third[0] and "实在抱歉" in third[0]
    accepted = texts(stack.say(cid, "好的"))
    assert accepted == [texts(stack.say(new_id(), "转人工"))[0]]


def test_repeat_says_the_last_answer_again(stack: RunningStack) -> None:
    cid = new_id()
    answer = texts(stack.say(cid, "你能做什么"))
    assert texts(stack.say(cid, "没听清，再说一遍")) == answer
    assert texts(stack.say(cid, "再说一遍")) == answer


def test_you_are_a_bot_is_answered_honestly(stack: RunningStack) -> None:
    assert "不是真人" in texts(stack.say(new_id(), "你是机器人吗"))[0]


def test_web_chat_api_reaches_the_assistant(stack: RunningStack) -> None:
    reply = httpx.post(
        f"{stack.web_url}/api/chat",
        json={"conversation_id": uuid.uuid4().hex, "text": "你好"},
        timeout=30,
    )
    assert reply.status_code == 200
    assert reply.json()["messages"][0]["text"].startswith("您好！")


def test_a_person_takes_over_a_web_chat_and_hands_it_back_to_the_bot(
    stack: RunningStack,
) -> None:
    page = uuid.uuid4().hex[:16]  # the id the web page keeps; Rasa sees web-<id>
    web = httpx.Client(base_url=stack.web_url, timeout=30)

    def say(words: str) -> dict[str, object]:
        reply = web.post("/api/chat", json={"conversation_id": page, "text": words})
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    asked = say("我要找真人说")  # through the real Rasa: action_handoff opens the handoff
    assert asked["with_staff"] is True
    desk = stack.staff()
    queue = desk.get("/staff/handoffs.json").json()
    [row] = [r for r in queue if mask_text(page) in r["conversation"]]  # as staff see it
    assert row["reason"] == "要求转人工"
    assert desk.post(f"/staff/handoffs/{row['id']}/claim").status_code == 303
    assert say("我家门口路灯坏了") == {"messages": [], "with_staff": True}  # the bot is silent
    assert "我家门口路灯坏了" in desk.get(f"/staff/handoffs/{row['id']}").text
    assert (
        desk.post(f"/staff/handoffs/{row['id']}/reply", text="您好，我来帮您。").status_code == 303
    )
    news = web.get("/api/chat/updates", params={"conversation_id": page}).json()
    assert [m["text"] for m in news["messages"]] == ["工作人员：您好，我来帮您。"]
    assert desk.post(f"/staff/handoffs/{row['id']}/hand-back").status_code == 303
    back = say("你好")  # the bot answers again
    assert back["with_staff"] is False and "办事指南" in str(back["messages"])
