"""Telegram end to end: the real python-telegram-bot client against the local Bot API
stand-in, talking to the real Rasa and action servers of the running stack."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from telegram.ext import Application

from channels.telegram import build_application
from liangwang.complaints import tickets
from liangwang.db import sessions_for, unit_of_work
from liangwang.dialogue import RasaRestEngine
from liangwang.settings import PROJECT_ROOT, Settings, SttEngine
from liangwang.wording import Say, render
from ops.harness import RunningStack
from tests.fakes.telegram_api import FakeTelegram, RunningFake
from voice.audio import Audio
from voice.channel_speech import ChannelSpeech
from voice.recording_codec import decode_recording, encode_voice_note

pytestmark = pytest.mark.e2e
VOICE_FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "voice"
PHOTO = b"\xff\xd8\xff\xe0" + bytes(600) + b"\xff\xd9"  # a JPEG's frame, as a photo's bytes


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

    async def speaks(self, recording: str, replies: int = 1) -> list[dict[str, Any]]:
        """A voice note of one of the spoken test phrases (tests/fixtures/voice)."""
        note = encode_voice_note(Audio.from_wav(VOICE_FIXTURES / f"{recording}.wav"))
        file_id = uuid.uuid4().hex
        self.fake.files[file_id] = note
        voice = {"file_id": file_id, "file_unique_id": file_id, "duration": 3}
        self.fake.queue(self._update(voice={**voice, "file_size": len(note)}))
        return await self._replies(replies)

    async def sends(self, replies: int = 1, **content: Any) -> list[dict[str, Any]]:
        """A location, a photo…: ``content`` as the message's fields."""
        self.fake.queue(self._update(**content))
        return await self._replies(replies)

    def voices(self) -> list[bytes]:
        return [v["voice"] for v in self.fake.voices() if int(v["chat_id"]) == self.user_id]

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
async def bot(
    stack: RunningStack, whisper_model: Path
) -> AsyncIterator[tuple[FakeTelegram, Application]]:  # type: ignore[type-arg]
    fake = FakeTelegram()
    with RunningFake(fake) as server:
        settings = Settings(
            data_dir=stack.data_dir,  # the stack's database: handoffs, drafts, photos
            telegram_token=SecretStr("123:test"),
            telegram_api_url=server.base_url,
            telegram_file_url=server.base_file_url,
            telegram_messages_per_minute=120,  # a test taps faster than any person
            stt_engine=SttEngine.whisper,  # the phone line's recogniser, as in the stack
            whisper_model=whisper_model,
        )
        engine = RasaRestEngine(stack.rasa_url, timeout_s=30, max_chars=4000)
        sessions = sessions_for(settings.effective_database_url)
        speech = ChannelSpeech.from_settings(settings, sessions)
        app = build_application(settings, engine, push_every_s=None, speech=speech)
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


async def test_a_voice_note_is_heard_and_answered_in_writing_and_by_voice(
    bot: tuple[FakeTelegram, Application],  # type: ignore[type-arg]
) -> None:
    fake, _app = bot
    chat = Chat(fake)
    heard, *answer = await chat.speaks("jinglaoka", replies=2)  # 我想办张敬老卡
    # What was heard is shown as heard (Whisper base may hear 金老卡: the dialogue matches
    # names by their sounds), then the answer about the service that was meant.
    assert heard["text"].startswith("我听到的是") and "老卡" in heard["text"], heard
    assert "敬老卡" in str(answer) and "没听明白" not in str(answer), answer
    deadline = time.monotonic() + 60
    while not chat.voices() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    [spoken] = chat.voices()
    assert decode_recording(spoken, rate=16000, max_seconds=300).duration_s > 1


async def test_a_complaint_filed_by_buttons_alone_with_a_location_and_a_photo(
    bot: tuple[FakeTelegram, Application],  # type: ignore[type-arg]
    stack: RunningStack,
) -> None:
    """Someone who cannot type: the kind of problem, the answers, all by buttons; the place
    by Telegram's location button; a photo."""
    fake, _app = bot
    chat = Chat(fake)
    [greeting] = await chat.says("/start")
    [asked] = await chat.taps(buttons(greeting)["我要找茬"])
    [category] = await chat.taps(buttons(asked)["路灯"])
    assert "路灯" in category["text"], category
    [district] = await chat.taps(buttons(category)["对"])
    [place] = await chat.taps(buttons(district)["静安区"])
    [[share]] = place["reply_markup"]["keyboard"]  # Telegram's own button, under the input
    assert share["request_location"] and share["text"] == "发送我的位置"
    # Far from the place of the browser's complaint (tests/e2e/test_browser_voice.py), which
    # would otherwise be offered for 并单.
    shanghai = {"latitude": 31.2655, "longitude": 121.4452}
    [when] = await chat.sends(location=shanghai)  # what tapping it sends
    [phone] = await chat.taps(buttons(when)["跳过"])
    assert "不留" in buttons(phone), phone
    [photo] = await chat.taps(buttons(phone)["不留"])
    fake.files["p1"] = PHOTO
    size = {"width": 2, "height": 2, "file_size": len(PHOTO)}
    [readback] = await chat.sends(photo=[{"file_id": "p1", "file_unique_id": "p1", **size}])
    assert "我念一遍" in readback["text"], readback
    [filed] = await chat.taps(buttons(readback)["对"])
    number = re.search(r"编号是 (\d{3}) (\d{3})", filed["text"])
    assert number, filed
    assert photo  # the photo was asked for
    stored = Settings(data_dir=stack.data_dir).effective_database_url
    with unit_of_work(sessions_for(stored)) as session:
        ticket = tickets.by_number(session, number[1] + number[2])
        assert (
            ticket is not None and ticket.category == "streetlight" and ticket.district == "静安区"
        )
        assert ticket.lat == pytest.approx(31.2655) and ticket.media_url
