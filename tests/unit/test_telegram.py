"""The Telegram channel with the real python-telegram-bot client talking HTTP to a local
stand-in for Telegram's servers, and a recording dialogue engine."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from channels.telegram import build_application, configure_logging
from liangwang.conversation import BotMessage
from liangwang.db import migrate
from liangwang.dialogue import (
    DialogueEngine,
    DialogueError,
    RasaRestEngine,
    RecordingEngine,
    UserTurn,
    check_length,
    without_control_characters,
)
from liangwang.settings import Settings
from liangwang.speech import Speech
from liangwang.spoken import grouped
from liangwang.wording import Say, render
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
    engine: DialogueEngine,
    updates: list[dict[str, object]],
    expect_messages: int,
    photo_limit: int = 5_000_000,
    per_user_per_minute: int = 20,
    speech: Speech | None = None,
) -> list[dict[str, object]]:
    with RunningFake(fake) as server:
        settings = Settings(
            telegram_token="123:test",  # type: ignore[arg-type]
            telegram_api_url=server.base_url,
            telegram_file_url=server.base_file_url,
            max_photo_bytes=photo_limit,
            telegram_messages_per_minute=per_user_per_minute,
        )
        migrate(settings.effective_database_url)  # as `liangwang run` does before channels
        app = build_application(settings, engine, push_every_s=None, speech=speech)
        async with app:
            assert app.post_init is not None
            await app.post_init(app)  # as run_polling does: the command menu
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
    from channels.telegram_push import push_updates_once
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
            assert await push_updates_once(app.bot, sessions) == 0  # 受理: nothing new to say
            with unit_of_work(sessions) as s:
                ticket = tickets.by_number(s, number)
                assert ticket is not None
                tickets.transition(s, ticket, "dispatch", actor="staff")
            assert await push_updates_once(app.bot, sessions) == 1
            assert await push_updates_once(app.bot, sessions) == 0  # told once only
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
    assert fake.downloads == ["files/small"]
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


# A surrogate-escaped byte (U+DC80-U+DCFF, as bytes.decode(errors="surrogateescape") keeps a
# byte that is not UTF-8) as json.dumps writes it.
_ESCAPED_BYTE = re.compile(rb"\\udc([89a-f][0-9a-f])")


class EscapingTelegram(FakeTelegram):
    """Serves updates as JSON may carry them, every non-ASCII character as a \\u escape: a
    lone surrogate arrives escaped ("\\ud800"), a surrogate-escaped byte as that raw byte (a
    body that is not UTF-8). The plain stand-in writes UTF-8 and can carry neither: each of
    its getUpdates would fail with a 500, and no later update would arrive either."""

    def app(self) -> FastAPI:
        api = FastAPI()

        @api.post("/bot{token}/getUpdates")
        async def updates(token: str, request: Request) -> Response:
            params = dict(await request.form())
            self.sent.append(("getUpdates", params))
            body = json.dumps({"ok": True, "result": await self._result("getUpdates", params)})
            raw = _ESCAPED_BYTE.sub(lambda m: bytes.fromhex(m[1].decode()), body.encode())
            return Response(raw, media_type="application/json")

        api.mount("/", super().app())
        return api


LIMIT = Settings().max_message_chars


class RasaStandIn:
    """The real adapter (RasaRestEngine, as the channel process runs it) with a stand-in for
    Rasa's webhook behind it: the test sees what Rasa itself would be given. The stand-in
    echoes it, so hostile text also travels back out through Telegram."""

    def __init__(self) -> None:
        self.received: list[str] = []
        transport = httpx.MockTransport(self._answer)
        self.engine = RasaRestEngine(
            "http://rasa", timeout_s=5, max_chars=LIMIT, transport=transport
        )

    def _answer(self, request: httpx.Request) -> httpx.Response:
        message = str(json.loads(request.content)["message"])
        self.received.append(message)
        return httpx.Response(200, json=[{"text": f"收到：{message}"}])


def answered(update: dict[str, object], reaching_rasa: str) -> tuple[object, ...]:
    return update, reaching_rasa, f"收到：{reaching_rasa}"


def update_of(kind: str, chat: dict[str, object] = CHAT, **content: object) -> dict[str, object]:
    sender = {"from": USER} if chat is CHAT else {}  # a channel post has no sender
    return {kind: {"message_id": 4, "date": int(time.time()), "chat": chat, **sender, **content}}


CHANNEL = {"id": -1001, "type": "channel", "title": "街道公告"}
STICKER = {
    "file_id": "s",
    "file_unique_id": "s",
    "type": "regular",
    "width": 512,
    "height": 512,
    "is_animated": False,
    "is_video": False,
}
EMPTY = render(Say("utter_channel_empty"))

HOSTILE = [
    pytest.param(text_update(" \n\t\u3000 "), None, EMPTY, id="only-spaces"),
    pytest.param(text_update("\x00\x07\x1b"), None, EMPTY, id="only-control-characters"),
    pytest.param(*answered(text_update("\x00\x07你好\x1b[31m"), "你好[31m"), id="control"),
    pytest.param(
        text_update("长" * 35_000),  # 105 KB of UTF-8; Telegram's own limit is 4096
        None,
        render(Say("utter_channel_too_long", {"limit": str(LIMIT), "length": "35000"})),
        id="100-kb",
    ),
    # What PTB makes of them: a "\ud800" escape decodes to a lone surrogate, which
    # UTF-8 cannot encode; bytes that are not UTF-8 are replaced (U+FFFD) when decoding.
    pytest.param(*answered(text_update("\ud800路灯坏了"), "\ufffd路灯坏了"), id="lone-surrogate"),
    pytest.param(
        *answered(text_update("路灯\udcff\udcfe坏了"), "路灯\ufffd\ufffd坏了"), id="not-utf-8"
    ),
    pytest.param(*answered(text_update("👍🙏"), "👍🙏"), id="emoji"),
    pytest.param(
        *answered(text_update("敬老卡 عربي русский 한국어"), "敬老卡 عربي русский 한국어"),
        id="scripts",
    ),
    # Update kinds nothing handles are left alone: no reply, nothing to the engine.
    pytest.param(text_update(""), None, None, id="empty-text"),  # Telegram never sends it
    pytest.param(update_of("message", sticker=STICKER), None, None, id="sticker"),
    pytest.param(update_of("a_kind_of_a_later_bot_api"), None, None, id="unknown-kind"),
    # PTB's TEXT filter takes an edit too: it is answered as a message.
    pytest.param(
        *answered(update_of("edited_message", text="路灯坏了", edit_date=1), "路灯坏了"),
        id="edited-message",
    ),
    # A channel (or group) is told once that the assistant works in private chats only.
    pytest.param(
        update_of("channel_post", CHANNEL, text="停水通知"),
        None,
        render(Say("utter_channel_private_only")),
        id="channel-post",
    ),
]


@pytest.mark.parametrize(("update", "reaching_rasa", "reply"), HOSTILE)
async def test_hostile_text_is_answered_clearly_and_the_bot_serves_on(
    update: dict[str, object],
    reaching_rasa: str | None,
    reply: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rasa = RasaStandIn()
    replies = [reply] if reply else []
    messages = await run_bot(
        EscapingTelegram(), rasa.engine, [update, text_update("你好")], len(replies) + 1
    )
    await rasa.engine.aclose()
    # The hostile message's reply (or none), and the next message served as ever (in
    # either order: updates are handled concurrently, and a channel is not the user).
    assert sorted(m["text"] for m in messages) == sorted([*replies, "收到：你好"])
    assert rasa.received == [*([reaching_rasa] if reaching_rasa else []), "你好"]
    assert all(without_control_characters(t) == t and len(t) <= LIMIT for t in rasa.received)
    # No exception escaped a handler (PTB logs it at ERROR, and nobody hears an apology),
    # and the engine never failed (the channel logs that at ERROR before apologising).
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
