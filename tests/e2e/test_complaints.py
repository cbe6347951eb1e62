"""End to end: 我要找茬 through the real Rasa server, action server, web app and database."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest

from liangwang.spoken import grouped
from ops.harness import RunningStack
from tests.e2e.talk import COMPLAINT_TO_READ_BACK, filed_on_the_phone, texts

pytestmark = pytest.mark.e2e


def new_id() -> str:
    return f"web-e2e{uuid.uuid4().hex[:10]}"


def talk(stack: RunningStack, cid: str, *lines: str) -> list[list[str]]:
    return [texts(stack.say(cid, line)) for line in lines]


def number_in(reply: list[str]) -> str:
    match = re.search(r"编号是 (\d{3} \d{3})", " ".join(reply))
    assert match, reply
    return match.group(1).replace(" ", "")


def staff(stack: RunningStack, number: str, action: str, **fields: str) -> None:
    reply = stack.staff().post(f"/staff/tickets/{number}/{action}", **fields)
    assert reply.status_code == 303, reply.text


def test_full_intake_with_read_back_correction_and_filing(stack: RunningStack) -> None:
    cid = new_id()
    replies = talk(stack, cid, *COMPLAINT_TO_READ_BACK)
    assert "路灯" in replies[0][0] and replies[0][0].endswith("对吗？")
    readback = replies[-1][0]
    assert readback.startswith("我念一遍") and "138 0013 8000" in readback
    corrected = talk(stack, cid, "地址不对", "国和路一百零二号门口")
    assert "具体在哪里" in corrected[0][0]
    assert "国和路一百零二号门口" in corrected[1][0]  # read back again
    filed = texts(stack.say(cid, "对"))
    number = number_in(filed)
    stack.say(cid, "对")  # the same yes again (a retry, a double tap): no second ticket
    # Staff see the words and, once they reveal it, the exact place; the public sees the
    # kind, cut at the road.
    desk = stack.staff()
    page = desk.get(f"/staff/tickets/{number}").text
    assert "小区门口的路灯坏了好几天了" in page and "国和路****" in page
    page = desk.post(f"/staff/tickets/{number}/reveal").text
    assert "国和路一百零二号门口" in page
    [ticket] = httpx.get(f"{stack.web_url}/open311/v2/requests/{number}.json").json()
    assert ticket["service_code"] == "streetlight" and ticket["address"] == "国和路"
    assert ticket["description"] is None  # said to the assistant, never agreed to publish
    # More information, then how it is going; then by number from another conversation.
    added = talk(stack, cid, "我要补充一下", "旁边那盏灯也不亮了")
    assert added[0] == ["好的，请说要补充的内容。"] and "已经补充到编号" in added[1][0]
    status = texts(stack.say(cid, "我上次投诉的怎么样了"))
    assert grouped(number) in status[0] and "已受理" in status[0]
    assert not any("其他的反映" in line for line in status)  # one ticket, not two
    by_number = texts(stack.say(new_id(), f"帮我查一下编号 {' '.join(number)}"))
    assert grouped(number) in by_number[0]


def test_dropped_conversation_resumes_where_it_stopped(stack: RunningStack) -> None:
    cid = new_id()
    talk(stack, cid, "我要找茬，窗口工作人员态度很差", "对", "静安")
    stack.say(cid, "/restart")  # the chat was closed / the call dropped
    hello = texts(stack.say(cid, "你好"))
    assert any("还没提交" in line for line in hello)
    offer = texts(stack.say(cid, "接着投诉"))
    assert "态度很差" in offer[0] and offer[0].endswith("要接着说吗？")
    resumed = texts(stack.say(cid, "好的"))
    assert "具体在哪里" in resumed[0]  # the address: where it had stopped


def test_duplicate_is_offered_and_merged(stack: RunningStack) -> None:
    first = new_id()
    number = number_in(
        talk(
            stack,
            first,
            "我要反映井盖没了很危险",
            "对",
            "宝山区",
            "友谊路八十八号",
            "跳过",
            "不留",
            "对",
        )[-1]
    )
    second = new_id()
    replies = talk(
        stack,
        second,
        "我要投诉，井盖不见了",
        "对",
        "宝山区",
        "友谊路八十八号",
        "跳过",
        "不留",
        "对",
    )
    assert "已经有人反映过" in replies[-1][0] and f"{number[:3]} {number[3:]}" in replies[-1][0]
    merged = texts(stack.say(second, "好的"))
    assert any("合并到编号" in line for line in merged)


def test_closed_loop_then_rating_and_withdraw(stack: RunningStack) -> None:
    cid = new_id()
    number = number_in(
        talk(
            stack,
            cid,
            "我要投诉，楼下垃圾三天没人收了",
            "对",
            "普陀区",
            "曹杨路",
            "跳过",
            "不留",
            "对",
        )[-1]
    )
    for action in ("dispatch", "start"):
        staff(stack, number, action)
    staff(stack, number, "answer", note="已安排清运")
    staff(stack, number, "close")
    status = texts(stack.say(cid, "查进度"))
    assert "已办结" in status[0] and "已安排清运" in status[1] and "打个分" in status[-1]
    thanks = texts(stack.say(cid, "五分"))
    assert "5分" in thanks[0]
    [ticket] = httpx.get(f"{stack.web_url}/open311/v2/requests/{number}.json").json()
    assert ticket["status"] == "closed"

    other = number_in(
        talk(
            stack, cid, "我要投诉，马路上有个大坑", "对", "长宁区", "天山路", "跳过", "不留", "对"
        )[-1]
    )
    ask = texts(stack.say(cid, "那个投诉不用处理了，撤回吧"))
    assert grouped(other) in ask[0]
    done = texts(stack.say(cid, "对"))
    assert "已撤回" in done[0]
    [withdrawn] = httpx.get(f"{stack.web_url}/open311/v2/requests/{other}.json").json()
    assert withdrawn["status"] == "closed"


def test_handoff_in_the_middle_keeps_the_draft(stack: RunningStack) -> None:
    cid = new_id()
    talk(stack, cid, "我要投诉，半夜施工太吵了", "对")
    handoff = texts(stack.say(cid, "转人工"))
    assert "转人工" in handoff[0]
    back = texts(stack.say(cid, "接着投诉"))
    assert back[0] == "在哪个区？"  # the next question: nothing said before was lost


def test_a_caller_proves_the_ticket_is_theirs_before_hearing_it(stack: RunningStack) -> None:
    from liangwang.complaints import tickets
    from liangwang.complaints.models import TicketAction
    from liangwang.db import make_engine, make_session_factory, unit_of_work

    caller = f"139{uuid.uuid4().int % 10**8:08d}"
    engine = make_engine(f"sqlite:///{stack.data_dir / 'liangwang.db'}")
    with unit_of_work(make_session_factory(engine)) as s:
        ticket = filed_on_the_phone(s, caller)
        tickets.transition(s, ticket, TicketAction.dispatch, actor="e2e")
        number = ticket.number
    engine.dispose()

    def call(call_id: str, line: str) -> str:
        metadata = {"channel": "phone", "caller": caller, "call_id": call_id}
        return " ".join(texts(stack.say(f"phone:{caller}", line, metadata)))

    # Caller ID alone (it can be forged) hears neither the ticket nor its number.
    asked = call("call-1", "我的投诉处理得怎么样了")
    assert "投诉编号" in asked and grouped(number) not in asked and "路灯" not in asked
    heard = call("call-1", " ".join(number))  # said digit by digit
    assert grouped(number) in heard and "已经交给" in heard
    # Proven for that call only: the next call from the number is asked again, and
    # withdrawing waits for the proof too.
    assert "投诉编号" in call("call-2", "那个投诉不用处理了，撤回吧")
    confirm = call("call-2", " ".join(number))
    assert "要撤回编号" in confirm and grouped(number) in confirm
    assert "已撤回" in call("call-2", "对")


def test_a_complaint_filed_on_the_web_by_tapping_the_offered_answers(
    stack: RunningStack,
) -> None:
    page = uuid.uuid4().hex[:16]
    web = httpx.Client(base_url=stack.web_url, timeout=30)

    def send(text: str) -> list[dict[str, object]]:
        time.sleep(1.5)  # a person reads before tapping (and stays under the chat's limit)
        reply = web.post("/api/chat", json={"conversation_id": page, "text": text})
        assert reply.status_code == 200, reply.text
        return list(reply.json()["messages"])

    def tap(messages: list[dict[str, object]], title: str) -> list[dict[str, object]]:
        """Press the button called ``title`` in the last answer: send its payload."""
        offered = [b for m in messages for b in m["buttons"]]  # type: ignore[attr-defined]
        [button] = [b for b in offered if b["title"] == title]
        return send(str(button["payload"]))

    greeting = send("你好")
    asked = tap(greeting, "我要找茬")
    answered = send("小区门口的路灯坏了，晚上一片黑")  # the one thing typed, besides the place
    assert "路灯" in str(answered)
    district = tap(answered, "对")  # 听起来是“路灯”方面的问题，对吗？
    assert len([b for m in district for b in m["buttons"]]) == 16  # type: ignore[attr-defined]
    place = tap(district, "奉贤区")
    when = send("南桥路九十九号")
    phone = tap(when, "跳过")
    readback = tap(phone, "不留")
    assert "我念一遍" in str(readback)
    filed = tap(readback, "对")
    assert re.search(r"编号是 \d{3} \d{3}", str(filed)), filed
    assert asked and place  # every answer came back with something to say
