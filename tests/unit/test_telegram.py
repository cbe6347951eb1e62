"""The Telegram channel with the real python-telegram-bot client talking HTTP to a local
stand-in for Telegram's servers, and a recording dialogue engine."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from channels.telegram import build_application, configure_logging
from liangwang.conversation import BotMessage
from liangwang.dialogue import DialogueError, RecordingEngine, UserTurn, check_length
from liangwang.settings import Settings
from liangwang.spoken import grouped
from tests.fakes.telegram_api import FakeTelegram, RunningFake

USER = {"id": 42, "is_bot": False, "first_name": "王阿姨"}
CHAT = {"id": 42, "type": "private"}


def text_update(text: str) -> dict[str, object]:
    return {
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": CHAT,
            "from": USER,
            "text": text,
        }
    }


def button_update(data: str) -> dict[str, object]:
    message = {"message_id": 2, "date": int(time.time()), "chat": CHAT, "text": "…"}
    return {
        "callback_query": {
            "id": "cb1",
            "from": USER,
            "chat_instance": "x",
            "message": message,
            "data": data,
        }
    }


async def run_bot(
    fake: FakeTelegram,
    engine: RecordingEngine,
    updates: list[dict[str, object]],
    expect_messages: int,
    photo_limit: int = 5_000_000,
) -> list[dict[str, object]]:
    with RunningFake(fake) as server:
        settings = Settings(
            telegram_token="123:test",  # type: ignore[arg-type]
            telegram_api_url=server.base_url,
            telegram_file_url=server.base_file_url,
            max_photo_bytes=photo_limit,
        )
        app = build_application(settings, engine)
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0.0, timeout=1)
            for update in updates:
                fake.queue(update)
            messages = await asyncio.to_thread(fake.wait_for_messages, expect_messages)
            await app.updater.stop()
            await app.stop()
        return messages


async def test_text_and_buttons_round_trip() -> None:
    fake = FakeTelegram()
    buttons = [{"title": "转人工", "payload": "/handoff"}]
    engine = RecordingEngine(lambda turn: [BotMessage("您好！", buttons)])
    messages = await run_bot(fake, engine, [text_update("你好")], 1)
    assert engine.turns == [UserTurn("telegram-42", "你好", "telegram")]
    [sent] = messages
    assert int(sent["chat_id"]) == 42 and sent["text"] == "您好！"
    keyboard = sent["reply_markup"]["inline_keyboard"]  # type: ignore[index]
    assert keyboard == [[{"text": "转人工", "callback_data": "/handoff"}]]

    fake2 = FakeTelegram()
    engine2 = RecordingEngine(lambda turn: [BotMessage("好的，马上帮您转人工。")])
    await run_bot(fake2, engine2, [button_update("/handoff")], 1)
    assert engine2.turns == [UserTurn("telegram-42", "/handoff", "telegram")]
    assert "answerCallbackQuery" in [method for method, _ in fake2.sent]


async def test_a_checklist_arrives_as_one_message() -> None:
    checklist = "办敬老卡要带这些材料：\n1. 居民身份证，原件1份\n2. 居民户口簿，原件1份"
    engine = RecordingEngine(lambda turn: [BotMessage(checklist)])
    [sent] = await run_bot(FakeTelegram(), engine, [text_update("要带什么材料")], 1)
    assert sent["text"] == checklist


def down(turn: UserTurn) -> list[BotMessage]:
    raise DialogueError("connection refused")


def silent(turn: UserTurn) -> list[BotMessage]:
    return []  # what Rasa answers when a custom action fails


@pytest.mark.parametrize("failure", [down, silent])
async def test_engine_down_or_silent_apologises_and_quotes_the_message_back(
    failure: Callable[[UserTurn], list[BotMessage]],
) -> None:
    [sent] = await run_bot(
        FakeTelegram(), RecordingEngine(failure), [text_update("路灯坏了三天了")], 1
    )
    assert "暂时没有响应" in str(sent["text"]) and "路灯坏了三天了" in str(sent["text"])


async def test_too_long_message_gets_a_clear_answer() -> None:
    limit = Settings().max_message_chars

    def like_the_real_engine(turn: UserTurn) -> list[BotMessage]:
        check_length(turn.text, limit)  # RasaRestEngine refuses long text the same way
        return []

    engine = RecordingEngine(like_the_real_engine)
    [sent] = await run_bot(FakeTelegram(), engine, [text_update("长" * (limit + 1))], 1)
    assert f"最多 {limit} 个字" in str(sent["text"])


async def test_shared_location_reaches_the_engine_as_metadata() -> None:
    engine = RecordingEngine(lambda turn: [BotMessage("收到位置")])
    location = {
        "message": {
            "message_id": 3,
            "date": int(time.time()),
            "chat": CHAT,
            "from": USER,
            "location": {"latitude": 31.23, "longitude": 121.47},
        }
    }
    await run_bot(FakeTelegram(), engine, [location], 1)
    [turn] = engine.turns
    assert turn.text == "我的位置"
    assert turn.metadata == {"location": {"lat": 31.23, "long": 121.47}}


async def test_status_changes_are_pushed_to_the_citizen(db_url: str) -> None:
    from channels.telegram import push_updates_once
    from liangwang.complaints import tickets
    from liangwang.complaints.tickets import NewTicket
    from liangwang.db import sessions_for, unit_of_work

    sessions = sessions_for(db_url)
    with unit_of_work(sessions) as s:
        t = tickets.file_ticket(
            s,
            NewTicket(
                category="garbage",
                description="垃圾没人收",
                channel="telegram",
                district="普陀",
                identity="telegram-42",
            ),
            actor="telegram-42",
        )
        number = t.number
    fake = FakeTelegram()
    with RunningFake(fake) as server:
        settings = Settings(telegram_token="123:test", telegram_api_url=server.base_url)  # type: ignore[arg-type]
        app = build_application(settings, RecordingEngine(), push_every_s=None)
        async with app:
            assert await push_updates_once(app, sessions) == 0  # 受理: nothing new to say
            with unit_of_work(sessions) as s:
                ticket = tickets.by_number(s, number)
                assert ticket is not None
                tickets.transition(s, ticket, "dispatch", actor="staff")
            assert await push_updates_once(app, sessions) == 1
            assert await push_updates_once(app, sessions) == 0  # told once only
    [sent] = fake.messages()
    assert int(sent["chat_id"]) == 42
    assert "新进展" in str(sent["text"]) and "区绿化市容局" in str(sent["text"])
    assert grouped(number) in str(sent["text"])


def photo_update(sizes: list[tuple[str, int]], caption: str | None = None) -> dict[str, object]:
    photo = [
        {
            "file_id": fid,
            "file_unique_id": fid,
            "width": 90 * n,
            "height": 90 * n,
            "file_size": size,
        }
        for n, (fid, size) in enumerate(sizes, start=1)
    ]
    message = {"message_id": 3, "date": int(time.time()), "chat": CHAT, "from": USER}
    return {"message": {**message, "photo": photo, **({"caption": caption} if caption else {})}}


async def test_a_photo_is_kept_by_us_and_the_token_never_reaches_the_ticket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIANGWANG_DATA_DIR", str(tmp_path))
    fake = FakeTelegram()
    fake.files = {"small": b"s" * 20_000, "big": b"b" * 60_000}
    engine = RecordingEngine(lambda turn: [BotMessage("收到照片")])
    await run_bot(
        fake,
        engine,
        [photo_update([("small", 20_000), ("big", 60_000)], "路灯坏了")],
        1,
        photo_limit=50_000,
    )
    [turn] = engine.turns
    media = str(turn.metadata["media_url"])
    assert re.fullmatch(r"photos/[0-9a-f]{32}\.jpg", media) and "123:test" not in media
    # The largest size within the limit, downloaded and stored.
    assert fake.downloads == ["photos/small.jpg"]
    assert (tmp_path / media).read_bytes() == b"s" * 20_000
    assert turn.text == "路灯坏了"


def test_the_bot_api_urls_with_the_token_are_never_logged() -> None:
    root, httpx_log = logging.getLogger(), logging.getLogger("httpx")
    levels = root.level, httpx_log.level
    root.setLevel(logging.INFO)  # as the channel process runs
    httpx_log.setLevel(logging.NOTSET)
    try:
        configure_logging()
        assert root.isEnabledFor(logging.INFO)
        assert not httpx_log.isEnabledFor(logging.INFO)  # where httpx logs each URL
    finally:
        root.setLevel(levels[0])
        httpx_log.setLevel(levels[1])
