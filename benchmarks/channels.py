"""Telegram and the web page, measured end to end on the real stack (Rasa, the action server,
the web app with Whisper base and the project's voice).

- Telegram text: an update queued at the local Bot API stand-in → the reply's sendMessage
  arriving there, through the real python-telegram-bot client polling it. Anchor: the same
  question sent straight to Rasa's REST channel in the same run (what the channel adds).
- Telegram voice: a 5 s voice note (a recorded question, OGG/Opus) → the voice reply's
  sendVoice arriving. Anchor: the same question typed, in the same run.
- Web press-to-talk: a recorded question streamed over the page's WebSocket in real time
  (a tenth of a second every tenth of a second, as the page sends it), then ``end`` → the
  first reply's audio received (``POST /api/chat/speech``, as the page asks for it).
  Anchor: the same question typed (``POST /api/chat``) → its first audio, same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import websockets
from pydantic import SecretStr
from telegram.ext import Application

from benchmarks.stack import percentile
from channels.telegram import build_application
from liangwang.db import sessions_for
from liangwang.dialogue import RasaRestEngine, UserTurn
from liangwang.settings import Settings, SttEngine
from ops.harness import RunningStack, make_stack
from tests.fakes.telegram_api import FakeTelegram, RunningFake
from voice.audio import Audio
from voice.channel_speech import ChannelSpeech
from voice.model_install import install_whisper_base
from voice.recording_codec import encode_voice_note

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "voice"
QUESTION = "shebaoka_bu"  # 我的社保卡丢了，怎么补办？ (3.4 s)
TYPED = "我的社保卡丢了，怎么补办？"
NOTE_S = 5.0
ROUNDS = 12
PIECE_S = 0.1  # what the page sends at a time


def _ms(seconds: list[float]) -> str:
    p50, p95 = percentile(seconds, 0.5), percentile(seconds, 0.95)
    return f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"


def _ratio(measured: list[float], anchor: list[float]) -> str:
    return f"{percentile(measured, 0.95) / percentile(anchor, 0.95):.2f}"


async def _timed(rounds: int, turn: Callable[[], Awaitable[None]]) -> list[float]:
    await turn()  # warm: the first of each kind loads models and caches
    took = []
    for _ in range(rounds):
        started = time.perf_counter()
        await turn()
        took.append(time.perf_counter() - started)
        await asyncio.sleep(1.0)  # within every rate limit, as a person would be
    return took


# --- Telegram ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def telegram_bot(
    stack: RunningStack, whisper: Path
) -> AsyncIterator[tuple[FakeTelegram, Application]]:  # type: ignore[type-arg]
    fake = FakeTelegram()
    server = RunningFake(fake)
    with server:
        settings = Settings(
            data_dir=stack.data_dir,
            telegram_token=SecretStr("123:bench"),
            telegram_api_url=server.base_url,
            telegram_file_url=server.base_file_url,
            telegram_messages_per_minute=1000,
            stt_engine=SttEngine.whisper,
            whisper_model=whisper,
        )
        speech = ChannelSpeech.from_settings(
            settings, sessions_for(settings.effective_database_url)
        )
        engine = RasaRestEngine(stack.rasa_url, timeout_s=60, max_chars=4000)
        app = build_application(settings, engine, push_every_s=None, speech=speech)
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0.0, timeout=1)
            yield fake, app
            await app.updater.stop()
            await app.stop()
        await engine.aclose()


def _update(user: int, **content: Any) -> dict[str, Any]:
    sender = {"id": user, "is_bot": False, "first_name": "bench"}
    message = {"message_id": 1, "date": int(time.time()), "chat": {"id": user, "type": "private"}}
    return {"message": {**message, "from": sender, **content}}


async def _sent(fake: FakeTelegram, method: str, user: int, before: int) -> None:
    def count() -> int:
        return sum(1 for m, p in list(fake.sent) if m == method and int(p["chat_id"]) == user)

    while count() <= before:
        await asyncio.sleep(0.005)


async def telegram_rounds(stack: RunningStack, whisper: Path) -> dict[str, list[float]]:
    spoken = Audio.from_wav(FIXTURES / f"{QUESTION}.wav").resample(16000)
    note = encode_voice_note(spoken + Audio.silence(NOTE_S - spoken.duration_s, rate=16000))
    async with telegram_bot(stack, whisper) as (fake, _app):
        fake.files["note"] = note

        async def text_turn() -> None:
            user = uuid.uuid4().int % 10**9  # a new conversation each time, as the anchor
            fake.queue(_update(user, text=TYPED))
            await _sent(fake, "sendMessage", user, 0)

        async def voice_turn() -> None:
            user = uuid.uuid4().int % 10**9
            voice = {"file_id": "note", "file_unique_id": "note", "duration": 5}
            fake.queue(_update(user, voice={**voice, "file_size": len(note)}))
            await _sent(fake, "sendVoice", user, 0)

        engine = RasaRestEngine(stack.rasa_url, timeout_s=60, max_chars=4000)

        async def bare_turn() -> None:
            await engine.send(UserTurn(f"bench-{uuid.uuid4().hex}", TYPED, "rest"))

        try:
            return {
                "rasa": await _timed(ROUNDS, bare_turn),
                "text": await _timed(ROUNDS, text_turn),
                "voice": await _timed(ROUNDS, voice_turn),
            }
        finally:
            await engine.aclose()


# --- the web page -----------------------------------------------------------------------


async def _first_audio(web: httpx.AsyncClient, reply: dict[str, Any]) -> None:
    first_piece = reply["messages"][0]["speech"][0]  # as the page asks: the first piece
    spoken = await web.post("/api/chat/speech", json=first_piece)
    spoken.raise_for_status()


async def web_rounds(stack: RunningStack) -> dict[str, list[float]]:
    pcm = Audio.from_wav(FIXTURES / f"{QUESTION}.wav").resample(16000).pcm
    piece = int(16000 * PIECE_S) * 2
    socket_url = stack.web_url.replace("http://", "ws://") + "/api/chat/voice"
    after_end: list[float] = []
    async with httpx.AsyncClient(base_url=stack.web_url, timeout=60) as web:

        async def typed_turn() -> None:
            page = uuid.uuid4().hex
            said = await web.post("/api/chat", json={"conversation_id": page, "text": TYPED})
            said.raise_for_status()
            await _first_audio(web, said.json())

        async def spoken_turn() -> None:
            page = uuid.uuid4().hex
            async with websockets.connect(f"{socket_url}?conversation_id={page}&rate=16000") as ws:
                for start in range(0, len(pcm), piece):
                    await ws.send(pcm[start : start + piece])
                    await asyncio.sleep(PIECE_S)  # spoken in real time
                ended = time.perf_counter()
                await ws.send("end")
                reply: dict[str, Any] = {}
                while "reply" not in reply:
                    reply = json.loads(await ws.recv())
                    if "error" in reply:
                        raise RuntimeError(reply["error"])
                await _first_audio(web, reply["reply"])
                after_end.append(time.perf_counter() - ended)

        typed = await _timed(ROUNDS, typed_turn)
        await _timed(ROUNDS, spoken_turn)
    return {"typed": typed, "spoken": after_end[1:]}  # the warm-up round left out


def run() -> list[str]:
    with tempfile.TemporaryDirectory(prefix="lw-bench-channels-") as tmp:
        root = Path(tmp)
        whisper = install_whisper_base(root / "whisper-base")
        stack = make_stack(root / "data", whisper_model=whisper)
        stack.start()
        try:
            telegram = asyncio.run(telegram_rounds(stack, whisper))
            web = asyncio.run(web_rounds(stack))
        finally:
            stack.stop()
    n = ROUNDS
    return [
        "## Channels",
        "",
        "| Measure | Result | Anchor (same run) | Ratio of p95 |",
        "|---|---|---|---|",
        f"| Telegram text in → reply sent (n={n}) | {_ms(telegram['text'])} "
        f"| the same question straight to Rasa: {_ms(telegram['rasa'])} "
        f"| {_ratio(telegram['text'], telegram['rasa'])} |",
        f"| Telegram 5 s voice note in → voice reply sent (n={n}) | {_ms(telegram['voice'])} "
        f"| the same question typed: {_ms(telegram['text'])} "
        f"| {_ratio(telegram['voice'], telegram['text'])} |",
        f"| Web press-to-talk: end of speech → first reply audio (n={len(web['spoken'])}) "
        f"| {_ms(web['spoken'])} | the same question typed → first audio: {_ms(web['typed'])} "
        f"| {_ratio(web['spoken'], web['typed'])} |",
        "",
        f"The question is a recorded Mandarin phrase ({QUESTION}.wav, 3.4 s: "
        f"{TYPED}); each round is a new conversation. Telegram runs the real",
        "python-telegram-bot client against the local Bot API stand-in (no network",
        "latency to Telegram's servers is included); its voice reply is the whole answer",
        "spoken by the project's voice (Kokoro when installed) and encoded as OGG/Opus. The",
        "web figure starts when the page sends `end` (a press of the button, or two",
        "seconds of quiet after speech, which comes on top when the citizen does not",
        "press) and ends with the first reply's first piece (a sentence or two) received as",
        "WAV, as the page plays it; Telegram's ends with the first reply's voice note sent.",
    ]
