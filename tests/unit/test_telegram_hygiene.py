"""The Telegram channel's manners (channels/telegram.py, channels/telegram_sending.py), with
the real python-telegram-bot client against the local Bot API stand-in: the command menu,
private chats only, a per-user rate limit, one slow user holding up no one, sends retried
after flood control and network errors, and an unexpected error logged and apologised for."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from telegram.error import Forbidden, NetworkError, RetryAfter

from channels.telegram import build_application, webhook_options
from channels.telegram_push import push_updates_once, retry_pause
from channels.telegram_sending import with_retries
from liangwang import leases
from liangwang.conversation import BotMessage
from liangwang.db import unit_of_work, utcnow
from liangwang.dialogue import RecordingEngine, UserTurn
from liangwang.settings import Settings
from liangwang.wording import Say, render
from ops.harness import free_port
from tests.fakes.telegram_api import FakeTelegram, RunningFake
from tests.unit.test_telegram import run_bot, text_update

GROUP = {"id": -500, "type": "group", "title": "楼组群"}


def from_user(user_id: int, text: str, chat: dict[str, object] | None = None) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": f"用户{user_id}"}
    where = chat or {"id": user_id, "type": "private"}
    message = {"message_id": 1, "date": int(time.time()), "chat": where, "from": user}
    entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {
        "message": {**message, "text": text, **({"entities": entities} if text[0] == "/" else {})}
    }


async def test_the_menu_commands_are_registered_and_reach_the_dialogue_as_intents() -> None:
    fake = FakeTelegram()
    engine = RecordingEngine(lambda turn: [BotMessage(f"答：{turn.text}")])
    commands = ["/start", "/status", "/human", "/help@lw_test_bot"]
    await run_bot(fake, engine, [from_user(42, c) for c in commands], 4)
    assert [t.text for t in engine.turns] == [
        "/greet",
        "/check_status",
        "/handoff",
        "/ask_capabilities",
    ]
    [menu] = [params for method, params in fake.sent if method == "setMyCommands"]
    names = [c["command"] for c in menu["commands"]]
    assert names == ["start", "help", "status", "human", "cancel", "voice"]
    assert all(c["description"] for c in menu["commands"])


async def test_a_group_is_told_once_to_write_privately_and_nothing_reaches_the_dialogue() -> None:
    fake = FakeTelegram()
    engine = RecordingEngine(lambda turn: [BotMessage("答")])
    updates = [from_user(7, "你好", GROUP), from_user(8, "路灯坏了", GROUP), from_user(42, "你好")]
    messages = await run_bot(fake, engine, updates, 2)
    await asyncio.sleep(0.5)  # a third message to the group would have come by now
    texts = [m["text"] for m in fake.messages()]
    assert texts.count(render(Say("utter_channel_private_only"))) == 1
    assert [t.conversation_id for t in engine.turns] == ["telegram-42"]
    assert len(messages) == 2


async def test_a_user_sending_too_fast_is_asked_once_to_slow_down() -> None:
    fake = FakeTelegram()
    engine = RecordingEngine(lambda turn: [BotMessage(f"答：{turn.text}")])
    # 3 a minute: one at once (a third of a minute's worth), then one every 20 s.
    flood = [from_user(42, f"第{n}条") for n in range(5)] + [from_user(43, "别人的")]
    await run_bot(fake, engine, flood, 3, per_user_per_minute=3)
    await asyncio.sleep(0.5)
    texts = [m["text"] for m in fake.messages()]
    assert texts.count(render(Say("utter_channel_slow_down"))) == 1
    assert sorted(t.text for t in engine.turns) == ["别人的", "第0条"]  # others are served


async def test_one_slow_turn_holds_up_no_other_user() -> None:
    class SlowForOne(RecordingEngine):
        async def send(self, turn: UserTurn) -> list[BotMessage]:
            if turn.conversation_id == "telegram-42":
                await asyncio.sleep(3)
            return [BotMessage(f"答：{turn.text}")]

    fake = FakeTelegram()
    messages = await run_bot(fake, SlowForOne(), [from_user(42, "慢"), from_user(43, "快")], 2)
    assert [m["text"] for m in messages] == ["答：快", "答：慢"]


async def test_an_unexpected_error_is_logged_with_its_user_and_apologised_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(turn: UserTurn) -> list[BotMessage]:
        raise RuntimeError("a bug")

    [sent] = await run_bot(FakeTelegram(), RecordingEngine(broken), [text_update("你好")], 1)
    assert sent["text"] == render(Say("utter_channel_failed"))
    failed = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("telegram-42" in r.getMessage() and r.exc_info for r in failed)


async def test_sends_are_retried_after_flood_control_and_network_errors() -> None:
    attempts: list[str] = []
    failures: list[Exception] = [
        RetryAfter(timedelta(seconds=0.2)),
        NetworkError("connection reset"),
    ]

    async def send() -> str:
        attempts.append("try")
        if failures:
            raise failures.pop(0)
        return "sent"

    assert await with_retries(send) == "sent" and len(attempts) == 3

    async def blocked() -> str:
        attempts.append("blocked")
        raise Forbidden("bot was blocked by the user")

    with pytest.raises(Forbidden):
        await with_retries(blocked)
    assert attempts.count("blocked") == 1  # a blocked bot is not retried


async def test_a_send_the_api_refuses_with_retry_after_arrives_once() -> None:
    fake = FakeTelegram(retry_after_once=True)
    engine = RecordingEngine(lambda turn: [BotMessage("答")])
    messages = await run_bot(fake, engine, [from_user(42, "你好")], 1)
    assert [m["text"] for m in messages] == ["答"]
    tried = [p for m, p in fake.sent if m == "sendMessage"]
    assert len(tried) == 2  # the refused one, then the one that went through


async def test_webhook_mode_refuses_a_post_without_the_secret_and_answers_one_with_it(
    db_url: str,
) -> None:
    fake = FakeTelegram()
    engine = RecordingEngine(lambda turn: [BotMessage(f"答：{turn.text}")])
    port = free_port()
    with RunningFake(fake) as server:
        settings = Settings(
            database_url=db_url,
            telegram_token=SecretStr("123:test"),
            telegram_api_url=server.base_url,
            telegram_webhook_url=f"http://127.0.0.1:{port}/telegram/updates",
            telegram_webhook_secret=SecretStr("the-secret_1"),
            telegram_webhook_port=port,
        )
        app = build_application(settings, engine, push_every_s=None)
        async with app:
            assert app.updater is not None
            await app.updater.start_webhook(**webhook_options(settings))
            await app.start()
            update = {"update_id": 1, **from_user(42, "你好")}
            url = settings.telegram_webhook_url
            async with httpx.AsyncClient() as client:
                forged = await client.post(url, json=update)
                wrong = await client.post(
                    url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
                )
                right = await client.post(
                    url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "the-secret_1"}
                )
            messages = await asyncio.to_thread(fake.wait_for_messages, 1)
            await app.updater.stop()
            await app.stop()
    assert (forged.status_code, wrong.status_code, right.status_code) == (403, 403, 200)
    assert [m["text"] for m in messages] == ["答：你好"]
    assert [t.text for t in engine.turns] == ["你好"]  # the refused posts reached nothing
    [hook] = [params for method, params in fake.sent if method == "setWebhook"]
    assert hook["url"] == settings.telegram_webhook_url and hook["secret_token"] == "the-secret_1"


def test_webhook_mode_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        Settings(telegram_webhook_url="https://example.gov/telegram")
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        Settings(
            telegram_webhook_url="https://example.gov/telegram",
            telegram_webhook_secret=SecretStr("has spaces"),
        )


async def test_cancel_starts_the_dialogue_afresh_and_says_the_draft_is_kept() -> None:
    fake = FakeTelegram()
    engine = RecordingEngine(lambda turn: [] if turn.text == "/restart" else [BotMessage("答")])
    [sent] = await run_bot(fake, engine, [from_user(42, "/cancel")], 1)
    assert [t.text for t in engine.turns] == ["/restart"]
    assert sent["text"] == render(Say("utter_channel_cancelled"))


async def test_a_user_who_blocked_the_bot_stalls_no_other_push_and_is_tried_again_later(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    from liangwang.complaints import tickets
    from liangwang.complaints.models import Ticket, TicketAction
    from liangwang.complaints.tickets import NewTicket

    with unit_of_work(sessions) as s:
        for user in (41, 42, 43):  # 42 blocked the bot; its ticket changed in between
            ticket = tickets.file_ticket(
                s,
                NewTicket(
                    category="streetlight",
                    description="路灯坏了",
                    channel="telegram",
                    district="普陀",
                    identity=f"telegram-{user}",
                ),
                actor=f"telegram-{user}",
            )
            tickets.transition(s, ticket, TicketAction.dispatch, actor="staff", department="所")
    fake = FakeTelegram(blocked={42})
    with RunningFake(fake) as server:
        settings = Settings(
            database_url=db_url,
            telegram_token=SecretStr("123:test"),
            telegram_api_url=server.base_url,
        )
        app = build_application(settings, RecordingEngine(), push_every_s=None)
        async with app:
            assert await push_updates_once(app.bot, sessions) == 2
            assert await push_updates_once(app.bot, sessions) == 0  # nothing sent twice
            with unit_of_work(sessions) as s:
                blocked = s.scalars(select(Ticket).where(Ticket.identity == "telegram-42")).one()
                assert blocked.push_failures == 1 and "Forbidden" in str(blocked.push_error)
                assert blocked.push_retry_at is not None
                blocked.push_retry_at = utcnow() - timedelta(seconds=1)  # its pause is over
            fake.blocked.clear()  # and the user unblocked the bot
            assert await push_updates_once(app.bot, sessions) == 1
    assert sorted(int(m["chat_id"]) for m in fake.messages()) == [41, 42, 43]


def test_the_pause_after_failed_pushes_doubles_up_to_a_day() -> None:
    assert [retry_pause(n) for n in (1, 2, 3)] == [
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=4),
    ]
    assert retry_pause(30) == timedelta(days=1)


def test_of_several_channel_processes_one_holds_the_pushers_lease(
    sessions: sessionmaker[Session],
) -> None:
    ttl, now = timedelta(seconds=30), utcnow()
    with unit_of_work(sessions) as s:
        assert leases.hold(s, "telegram-pusher", "a", ttl, now)
    with unit_of_work(sessions) as s:
        assert not leases.hold(s, "telegram-pusher", "b", ttl, now)
        assert leases.hold(s, "telegram-pusher", "a", ttl, now + timedelta(seconds=10))
    with unit_of_work(sessions) as s:  # a stopped renewing (it died): b takes over
        assert leases.hold(s, "telegram-pusher", "b", ttl, now + timedelta(seconds=41))
        assert not leases.hold(s, "telegram-pusher", "a", ttl, now + timedelta(seconds=42))
