"""Telegram end to end: the real python-telegram-bot client against the local Bot API
stand-in, talking to the real Rasa and action servers of the running stack."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from telegram.ext import Application

from channels.telegram import build_application
from liangwang.dialogue import RasaRestEngine
from liangwang.settings import Settings
from liangwang.wording import Say, render
from ops.harness import RunningStack
from tests.fakes.telegram_api import FakeTelegram, RunningFake

pytestmark = pytest.mark.e2e


class Chat:
    """One Telegram user talking to the bot: sends updates, waits for the bot's replies."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.user_id = uuid.uuid4().int % 10**9
        self.seen = 0

    def _update(self, **content: Any) -> dict[str, Any]:
        user = {"id": self.user_id, "is_bot": False, "first_name": "王阿姨"}
        chat = {"id": self.user_id, "type": "private"}
        message = {"message_id": 1, "date": int(time.time()), "chat": chat, "from": user}
        return {"message": {**message, **content}}

    async def says(self, text: str, replies: int = 1) -> list[dict[str, Any]]:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
        self.fake.queue(self._update(**content))
        return await self._replies(replies)

    async def taps(self, payload: str, replies: int = 1) -> list[dict[str, Any]]:
        message = {
            "message_id": 2,
            "date": int(time.time()),
            "chat": {"id": self.user_id, "type": "private"},
        }
        self.fake.queue(
            {
                "callback_query": {
                    "id": uuid.uuid4().hex,
                    "from": {"id": self.user_id, "is_bot": False, "first_name": "王阿姨"},
                    "chat_instance": "x",
                    "message": {**message, "text": "…"},
                    "data": payload,
                }
            }
        )
        return await self._replies(replies)

    async def _replies(self, count: int) -> list[dict[str, Any]]:
        def mine() -> list[dict[str, Any]]:
            return [m for m in self.fake.messages() if int(m["chat_id"]) == self.user_id]

        deadline = time.monotonic() + 60
        while len(mine()) < self.seen + count and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        new = mine()[self.seen :]
        self.seen = len(mine())
        return new


@pytest.fixture
async def bot(stack: RunningStack) -> AsyncIterator[tuple[FakeTelegram, Application]]:  # type: ignore[type-arg]
    fake = FakeTelegram()
    with RunningFake(fake) as server:
        settings = Settings(
            data_dir=stack.data_dir,  # the stack's database: handoffs, drafts
            telegram_token=SecretStr("123:test"),
            telegram_api_url=server.base_url,
            telegram_file_url=server.base_file_url,
        )
        engine = RasaRestEngine(stack.rasa_url, timeout_s=30, max_chars=4000)
        app = build_application(settings, engine, push_every_s=None)
        async with app:
            assert app.post_init is not None and app.updater is not None
            await app.post_init(app)
            await app.start()
            await app.updater.start_polling(poll_interval=0.0, timeout=1)
            yield fake, app
            await app.updater.stop()
            await app.stop()
        await engine.aclose()


def buttons(message: dict[str, Any]) -> dict[str, str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return {b["text"]: b["callback_data"] for row in rows for b in row}


async def test_start_offers_the_three_choices_and_cancel_keeps_the_unfinished_complaint(
    bot: tuple[FakeTelegram, Application],  # type: ignore[type-arg]
) -> None:
    fake, _app = bot
    chat = Chat(fake)
    [greeting] = await chat.says("/start")
    assert "我要找茬" in buttons(greeting) and "办事指南" in greeting["text"]
    [asked] = await chat.taps(buttons(greeting)["我要找茬"])
    assert "什么问题" in asked["text"]
    [category] = await chat.says("小区门口的路灯坏了，晚上一片黑")
    assert "路灯" in category["text"] and set(buttons(category)) == {"对", "不对"}
    [district] = await chat.taps("/affirm")
    assert len(buttons(district)) == 16  # the districts, four to a row
    [cancelled] = await chat.says("/cancel")
    assert cancelled["text"] == render(Say("utter_channel_cancelled"))
    resumed = await chat.says("接着投诉")
    assert "路灯" in resumed[-1]["text"] and set(buttons(resumed[-1])) == {"对", "不对"}
    status = await chat.says("/status")
    assert status and "没听明白" not in str(status)  # 查进度 answered, never a fallback
