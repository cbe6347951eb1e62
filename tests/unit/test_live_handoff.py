"""The live handoff desk (backoffice/staff_handoffs.py, liangwang/handoff.py): the queue,
claiming a conversation (the bot goes silent), replies that reach the citizen's web chat
and Telegram, handing back and closing, reasons, and the notice to those nobody took."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rasa_sdk import Tracker
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from actions.conversation import handoff_reason
from backoffice.app import create_citizen_app, create_staff_app
from channels.telegram import build_application
from channels.telegram_push import push_desk_messages_once
from liangwang import handoff
from liangwang.conversation import BotMessage
from liangwang.db import unit_of_work
from liangwang.dialogue import RecordingEngine
from liangwang.handoff import HandoffPolicy, HandoffRequest, Reason, request_handoff
from liangwang.settings import Settings
from liangwang.staff.models import Role, StaffAuditEntry
from liangwang.transcripts import Call
from ops.staff_client import StaffBrowser
from tests.fakes.telegram_api import FakeTelegram, RunningFake
from tests.staff_desk import signed_in
from tests.tracker_store import rasa_said

WEB_ID = "abcdefgh12"  # what the page sends; the conversation is web-abcdefgh12


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url)


@pytest.fixture
def engine() -> RecordingEngine:
    return RecordingEngine(lambda turn: [BotMessage(f"助手答：{turn.text}")])


@pytest.fixture
def citizen(settings: Settings, engine: RecordingEngine) -> Iterator[TestClient]:
    with TestClient(create_citizen_app(settings, engine)) as page:
        yield page


@pytest.fixture
def desk(settings: Settings, db_url: str) -> Iterator[StaffBrowser]:
    app = create_staff_app(settings, RecordingEngine())
    with signed_in(app, db_url, Role.dispatcher, "xiaowang") as member:
        yield member


def _handoff(sessions: sessionmaker[Session], cid: str, channel: str, **kw: Any) -> int:
    with unit_of_work(sessions) as s:
        return request_handoff(
            s, conversation_id=cid, channel=channel, last_user_text="转人工", **kw
        ).id


@contextmanager
def _claimed(
    sessions: sessionmaker[Session], cid: str, channel: str
) -> Iterator[tuple[Session, HandoffRequest]]:
    """A handoff of ``cid`` that xiaowang has taken, in an open unit of work."""
    hid = _handoff(sessions, cid, channel)
    with unit_of_work(sessions) as s:
        held = s.get(HandoffRequest, hid)
        assert held is not None
        handoff.claim(s, held, "xiaowang")
        yield s, held


def test_the_queue_is_oldest_first_with_waiting_time_reason_and_the_last_turns(
    settings: Settings, sessions: sessionmaker[Session], desk: StaffBrowser
) -> None:
    rasa_said(
        settings,
        "web-older",
        [("user", "我要投诉"), ("bot", "请说说是什么问题？"), ("user", "电话13912345678打不通")],
    )
    older = _handoff(sessions, "web-older", "web", reason=Reason.fell_back)
    newer = _handoff(sessions, "phone:13800138000", "phone", reason=Reason.key_zero)
    with unit_of_work(sessions) as s:
        row = s.get(HandoffRequest, older)
        assert row is not None
        row.created_at = datetime.now(UTC) - timedelta(minutes=7)
    rows = desk.get("/staff/handoffs.json").json()
    assert [r["id"] for r in rows] == [older, newer]
    assert rows[0]["waiting_minutes"] == 7 and rows[0]["reason"] == "两次没听懂"
    assert rows[0]["last_turns"] == [
        "市民：我要投诉",
        "智能助手：请说说是什么问题？",
        "市民：电话139****5678打不通",
    ]
    assert rows[1]["reason"] == "按了 0" and rows[1]["conversation"] == "phone:138****8000"
    page = desk.get("/staff/").text
    assert 'src="/static/staff.js"' in page and f'href="/staff/handoffs/{older}"' in page


def test_a_claimed_web_chat_is_silent_and_the_person_and_citizen_talk_until_handed_back(
    citizen: TestClient,
    desk: StaffBrowser,
    engine: RecordingEngine,
    sessions: sessionmaker[Session],
    settings: Settings,
) -> None:
    rasa_said(
        settings, f"web-{WEB_ID}", [("user", "我要找真人"), ("bot", "好的，马上帮您转人工。")]
    )
    hid = _handoff(sessions, f"web-{WEB_ID}", "web")

    def say(words: str) -> dict[str, Any]:
        reply = citizen.post("/api/chat", json={"conversation_id": WEB_ID, "text": words})
        assert reply.status_code == 200
        return dict(reply.json())

    def updates(after: int = 0) -> dict[str, Any]:
        return dict(
            citizen.get(
                "/api/chat/updates", params={"conversation_id": WEB_ID, "after": after}
            ).json()
        )

    # Waiting for a person: the bot still answers, and the page is told to ask for updates.
    assert say("还在吗") == {
        "messages": [{"text": "助手答：还在吗", "buttons": [], "speech": []}],
        "with_staff": True,
    }
    assert desk.post(f"/staff/handoffs/{hid}/claim").status_code == 303
    # Claimed: the bot is silent, and what the citizen writes is kept for the person.
    assert say("我家门口路灯坏了三天") == {"messages": [], "with_staff": True}
    assert [t.text for t in engine.turns] == ["还在吗"]
    page = desk.get(f"/staff/handoffs/{hid}").text
    assert "我要找真人" in page and "好的，马上帮您转人工。" in page  # the conversation so far
    assert "我家门口路灯坏了三天" in page
    assert (
        desk.post(f"/staff/handoffs/{hid}/reply", text="您好，我是小王，马上帮您派单。").status_code
        == 303
    )
    [staff_reply] = updates()["messages"]
    assert staff_reply["text"] == "工作人员：您好，我是小王，马上帮您派单。"
    assert staff_reply["sender"] == "staff"
    new = desk.get(f"/staff/handoffs/{hid}/messages.json").json()
    assert [m["sender"] for m in new] == ["citizen", "staff"]
    # Handed back: the citizen is told, the page stops asking, and the bot answers again.
    assert desk.post(f"/staff/handoffs/{hid}/hand-back").status_code == 303
    after = updates(staff_reply["id"])
    assert after["with_staff"] is False
    assert [m["text"] for m in after["messages"]] == [
        "工作人员已经把对话交回给智能助手。您可以接着说。"
    ]
    assert say("谢谢") == {
        "messages": [{"text": "助手答：谢谢", "buttons": [], "speech": []}],
        "with_staff": False,
    }
    with unit_of_work(sessions) as s:
        done = s.get(HandoffRequest, hid)
        assert done is not None and done.resolved_at is not None and done.resolved_by == "xiaowang"


def test_one_person_holds_a_conversation_and_only_they_reply_or_hand_it_back(
    settings: Settings, db_url: str, sessions: sessionmaker[Session], desk: StaffBrowser
) -> None:
    hid = _handoff(sessions, f"web-{WEB_ID}", "web")
    assert (
        desk.post(f"/staff/handoffs/{hid}/reply", text="先回复").status_code == 409
    )  # not claimed
    assert desk.post(f"/staff/handoffs/{hid}/claim").status_code == 303
    app = create_staff_app(settings, RecordingEngine())
    with signed_in(app, db_url, Role.dispatcher, "xiaoli") as other:
        assert other.post(f"/staff/handoffs/{hid}/claim").status_code == 409
        assert other.post(f"/staff/handoffs/{hid}/reply", text="我来").status_code == 409
        assert other.post(f"/staff/handoffs/{hid}/close").status_code == 409
    with signed_in(app, db_url, Role.reviewer) as reviewer:
        assert reviewer.post(f"/staff/handoffs/{hid}/close").status_code == 403
    assert desk.post(f"/staff/handoffs/{hid}/close").status_code == 303
    assert desk.post(f"/staff/handoffs/{hid}/close").status_code == 409  # resolved already
    assert desk.get("/staff/handoffs.json").json() == []


def test_a_phone_caller_appears_with_the_number_and_the_call_and_is_closed_when_called_back(
    sessions: sessionmaker[Session], desk: StaffBrowser
) -> None:
    with unit_of_work(sessions) as s:
        s.add(Call(call_id="c1", caller="13800138000", line="sip"))
    hid = _handoff(sessions, "phone:13800138000", "phone", reason=Reason.key_zero)
    page = desk.get(f"/staff/handoffs/{hid}").text
    assert '<strong id="caller">13800138000</strong>' in page and "/staff/calls/" in page
    assert "已回电，结束" in page and 'id="reply"' not in page  # a call back, not a chat
    with unit_of_work(sessions) as s:
        [seen] = s.scalars(select(StaffAuditEntry).where(StaffAuditEntry.action == "reveal"))
        assert (seen.actor, seen.target) == ("xiaowang", f"handoff {hid}")
    assert desk.post(f"/staff/handoffs/{hid}/close").status_code == 303


def test_a_citizen_nobody_takes_is_told_once_when_someone_will_reply(
    sessions: sessionmaker[Session],
) -> None:
    policy = HandoffPolicy(wait=timedelta(minutes=3))
    web = _handoff(sessions, "web-waiting", "web")
    night = _handoff(sessions, "telegram-7", "telegram")
    phone = _handoff(sessions, "phone:13800138000", "phone")  # called back instead
    created = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    with unit_of_work(sessions) as s:
        for hid in (web, night, phone):
            row = s.get(HandoffRequest, hid)
            assert row is not None
            row.created_at = created
        s.get(HandoffRequest, night).created_at = created + timedelta(hours=12)  # type: ignore[union-attr]
    with unit_of_work(sessions) as s:
        assert handoff.tell_the_unclaimed(s, policy, now=created + timedelta(minutes=2)) == 0
        assert handoff.tell_the_unclaimed(s, policy, now=created + timedelta(minutes=4)) == 1
        late = created + timedelta(hours=12, minutes=4)  # 22:04 in Shanghai: desk closed
        assert handoff.tell_the_unclaimed(s, policy, now=late) == 1
        assert handoff.tell_the_unclaimed(s, policy, now=late) == 0  # told once
    with unit_of_work(sessions) as s:
        [day] = handoff.for_citizen_since(s, "web-waiting", 0)
        assert "尽快回复" in day.text and "我要投诉" in day.text
        [evening] = handoff.for_citizen_since(s, "telegram-7", 0)
        assert "8:00 到 20:00" in evening.text and "我要投诉" in evening.text
        assert handoff.for_citizen_since(s, "phone:13800138000", 0) == []


async def test_telegram_citizens_get_staff_replies_once(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    with _claimed(sessions, "telegram-42", "telegram") as (s, held):
        handoff.reply(s, held, "xiaowang", "您好，我是小王。")
    fake = FakeTelegram()
    with RunningFake(fake) as server:
        settings = Settings(
            database_url=db_url,
            telegram_token="123:test",  # type: ignore[arg-type]
            telegram_api_url=server.base_url,
        )
        app = build_application(settings, RecordingEngine(), push_every_s=None)
        async with app:
            assert await push_desk_messages_once(app.bot, sessions) == 1
            assert await push_desk_messages_once(app.bot, sessions) == 0  # never twice
    [sent] = fake.messages()
    assert int(sent["chat_id"]) == 42 and sent["text"] == "工作人员：您好，我是小王。"


def _tracker(text_: str, channel: str, slots: dict[str, Any] | None = None, **meta: str) -> Tracker:
    latest = {"text": text_, "intent": {"name": "affirm"}, "metadata": {"channel": channel, **meta}}
    return Tracker("x", slots or {}, latest, [], False, None, {}, "action_listen")


def test_the_reason_a_conversation_came_to_a_person() -> None:
    assert handoff_reason(_tracker("/handoff", "phone")) == Reason.key_zero
    assert handoff_reason(_tracker("/handoff", "web")) == Reason.asked  # the 转人工 button
    failed = _tracker("/handoff", "phone", handoff_reason="engine_failure")
    assert handoff_reason(failed) == Reason.engine_failure
    offered = _tracker("好", "web", {"pending_offer": "human"})
    assert handoff_reason(offered) == Reason.fell_back


def test_what_the_desk_page_fetches_is_masked_as_the_page_is(
    sessions: sessionmaker[Session], desk: StaffBrowser
) -> None:
    with _claimed(sessions, f"web-{WEB_ID}", "web") as (s, held):
        hid = held.id
        handoff.from_citizen(s, held, "有事打13912345678")
    [message] = desk.get(f"/staff/handoffs/{hid}/messages.json").json()
    assert message["text"] == "有事打139****5678"


def test_a_reloaded_page_gets_the_conversation_so_far_in_the_order_said(
    citizen: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    cid = f"web-{WEB_ID}"
    rasa_said(settings, cid, [("user", "我要找真人"), ("bot", "好的，马上帮您转人工。")])
    with _claimed(sessions, cid, "web") as (s, held):
        handoff.from_citizen(s, held, "路灯坏了")
        last = handoff.reply(s, held, "xiaowang", "您好，我来看看。").id
    history = citizen.get("/api/chat/history", params={"conversation_id": WEB_ID}).json()
    assert [(m["who"], m["text"]) for m in history["messages"]] == [
        ("citizen", "我要找真人"),
        ("assistant", "好的，马上帮您转人工。"),
        ("citizen", "路灯坏了"),
        ("staff", "工作人员：您好，我来看看。"),
    ]
    assert history["after"] == last and history["with_staff"] is True
    other = citizen.get("/api/chat/history", params={"conversation_id": "someoneelse1"}).json()
    assert other == {"messages": [], "after": 0, "with_staff": False}


async def test_a_photo_sent_on_telegram_while_a_person_holds_the_chat_is_shown_to_them(
    db_url: str, sessions: sessionmaker[Session], desk: StaffBrowser
) -> None:
    with _claimed(sessions, "telegram-42", "telegram") as (_s, held):
        hid = held.id
    jpeg = b"\xff\xd8\xff\xe0" + bytes(300) + b"\xff\xd9"
    fake = FakeTelegram(files={"p1": jpeg})
    photo = [{"file_id": "p1", "file_unique_id": "p1", "width": 2, "height": 2, "file_size": 304}]
    engine = RecordingEngine()
    message = {"message_id": 1, "date": 0, "chat": {"id": 42, "type": "private"}}
    sender = {"id": 42, "is_bot": False, "first_name": "王阿姨"}
    with RunningFake(fake) as server:
        settings = Settings(
            database_url=db_url,
            telegram_token="123:test",  # type: ignore[arg-type]
            telegram_api_url=server.base_url,
            telegram_file_url=server.base_file_url,
        )
        app = build_application(settings, engine, push_every_s=None)
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0.0, timeout=1)
            fake.queue({"message": {**message, "from": sender, "photo": photo, "caption": "看"}})
            for _ in range(100):
                if desk.get(f"/staff/handoffs/{hid}/messages.json").json():
                    break
                await asyncio.sleep(0.1)
            await app.updater.stop()
            await app.stop()
    assert engine.turns == []  # the person holds the chat: the bot said nothing
    [kept] = desk.get(f"/staff/handoffs/{hid}/messages.json").json()
    assert kept["text"] == "看" and kept["photo"].startswith("/staff/photos/")
    assert desk.get(kept["photo"]).content == jpeg
    assert f'<img src="{kept["photo"]}"' in desk.get(f"/staff/handoffs/{hid}").text


def test_only_a_stored_photo_is_kept_with_a_desk_message(sessions: sessionmaker[Session]) -> None:
    hid = _handoff(sessions, "telegram-43", "telegram")
    with unit_of_work(sessions) as s:
        held = s.get(HandoffRequest, hid)
        assert held is not None
        outside = handoff.from_citizen(s, held, "看", "https://evil.example/x.jpg")
        assert outside.photo is None


def test_a_reloaded_page_shows_a_tapped_button_by_its_words_and_not_the_greeting_asked_for(
    citizen: TestClient, settings: Settings
) -> None:
    turns = [
        ("user", "/greet"),  # what a new page asks for: never the citizen's words
        ("bot", "您好！", {"buttons": [{"title": "我要找茬", "payload": "/report_problem"}]}),
        ("user", "/report_problem"),
        ("bot", "请说说是什么问题。", {"custom": {"taps": "problem"}}),
        ("user", "路灯不亮、损坏"),  # the 路灯 button
        ("bot", "是路灯的问题，对吗？", {"custom": {"taps": "yes_no"}}),
        ("user", "/affirm"),
        ("user", "/deny"),  # nothing offered it any more: not shown as anything
    ]
    rasa_said(settings, f"web-{WEB_ID}", turns)
    history = citizen.get("/api/chat/history", params={"conversation_id": WEB_ID}).json()
    assert [(m["who"], m["text"]) for m in history["messages"]] == [
        ("assistant", "您好！"),
        ("citizen", "我要找茬"),
        ("assistant", "请说说是什么问题。"),
        ("citizen", "路灯"),
        ("assistant", "是路灯的问题，对吗？"),
        ("citizen", "对"),
    ]
