"""The AudioSocket line with a real TCP client speaking Asterisk's framing."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import uuid
from collections.abc import AsyncIterator

import numpy as np
import pytest

from voice.audio import Audio
from voice.line import AudioFrame, CallLine, Dtmf, Hangup, InboundEvent
from voice.telephony.audiosocket import (
    KIND_AUDIO,
    KIND_DTMF,
    KIND_ERROR,
    KIND_HANGUP,
    KIND_UUID,
    MAX_PAYLOAD,
    AudioSocketServer,
    encode_frame,
)

RATE = 8000
WAIT = 30.0


def tone(freq: float, seconds: float, amplitude: float = 6000.0) -> Audio:
    t = np.arange(int(seconds * RATE)) / RATE
    return Audio((amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes(), RATE)


class Bot:
    """Plays ``greeting`` at the start, records every event, hangs up on ``#``;
    raises for the call ids in ``fail_for``."""

    def __init__(self, greeting: Audio | None = None, fail_for: tuple[str, ...] = ()) -> None:
        self.greeting = greeting
        self.fail_for = fail_for
        self.events: dict[str, list[InboundEvent]] = {}
        self.lines: dict[str, CallLine] = {}
        self.finished: dict[str, asyncio.Event] = {}

    async def __call__(self, line: CallLine) -> None:
        events = self.events.setdefault(line.call_id, [])
        self.lines[line.call_id] = line
        done = self.finished.setdefault(line.call_id, asyncio.Event())
        try:
            if self.greeting is not None:
                await line.play(self.greeting)
            if line.call_id in self.fail_for:
                raise RuntimeError("this handler fails on purpose")
            while True:
                event = await line.inbound.get()
                events.append(event)
                if isinstance(event, Hangup):
                    return
                if event == Dtmf("#"):
                    await line.hangup()
        finally:
            done.set()

    async def finish(self, call_id: str) -> list[InboundEvent]:
        async def wait() -> None:
            while call_id not in self.finished:
                await asyncio.sleep(0.01)
            await self.finished[call_id].wait()

        await asyncio.wait_for(wait(), WAIT)
        return self.events.get(call_id, [])

    def audio(self, call_id: str) -> Audio:
        pcm = b"".join(e.pcm for e in self.events[call_id] if isinstance(e, AudioFrame))
        return Audio(pcm, RATE)


class Asterisk:
    """The Asterisk side of one AudioSocket connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.call_id = str(uuid.uuid4())

    @classmethod
    async def connect(cls, port: int) -> Asterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, kind: int, payload: bytes = b"") -> None:
        self.writer.write(encode_frame(kind, payload))
        await self.writer.drain()

    async def hello(self) -> None:
        await self.send(KIND_UUID, uuid.UUID(self.call_id).bytes)

    async def send_audio(self, audio: Audio) -> None:
        for frame in audio.frames():
            await self.send(KIND_AUDIO, frame)

    async def frame(self) -> tuple[int, bytes]:
        """The next frame from the server; (-1, b"") once it has closed the connection."""
        try:
            header = await asyncio.wait_for(self.reader.readexactly(3), WAIT)
        except asyncio.IncompleteReadError:
            return -1, b""
        kind, length = struct.unpack("!BH", header)
        return kind, await self.reader.readexactly(length)

    async def heard(self, seconds: float) -> Audio:
        pcm = b""
        while len(pcm) < seconds * RATE * 2:
            kind, payload = await self.frame()
            assert kind == KIND_AUDIO, kind
            assert len(payload) == 320  # the server always sends 20 ms frames
            pcm += payload
        return Audio(pcm, RATE)

    async def until_closed(self) -> list[int]:
        """Kinds of the frames the server sends until it closes the connection."""
        kinds = []
        while (kind := (await self.frame())[0]) != -1:
            kinds.append(kind)
        return kinds

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@pytest.fixture
async def server_for() -> AsyncIterator[list[AudioSocketServer]]:
    servers: list[AudioSocketServer] = []
    yield servers
    for server in servers:
        await server.stop()


async def start(
    servers: list[AudioSocketServer], bot: Bot, max_connections: int = 32
) -> AudioSocketServer:
    server = AudioSocketServer(bot, host="127.0.0.1", port=0, max_connections=max_connections)
    await server.start()
    servers.append(server)
    return server


async def test_call_with_uuid_audio_dtmf_and_caller_hangup(
    server_for: list[AudioSocketServer],
) -> None:
    greeting = tone(1000, 0.6)
    bot = Bot(greeting)
    server = await start(server_for, bot)
    asterisk = await Asterisk.connect(server.port)
    await asterisk.hello()
    heard = await asterisk.heard(0.6)
    spoken = tone(440, 1.0, amplitude=8000)
    await asterisk.send_audio(spoken)
    await asterisk.send(KIND_AUDIO, spoken.pcm[:100])  # a short frame: re-cut into 20 ms
    await asterisk.send(KIND_AUDIO, spoken.pcm[100:640])
    await asterisk.send(KIND_DTMF, b"5")
    await asterisk.send(KIND_HANGUP)
    events = await bot.finish(asterisk.call_id)
    await asterisk.close()

    line = bot.lines[asterisk.call_id]
    assert line.caller == line.call_id == asterisk.call_id  # Asterisk gives no number
    assert heard.rms() == pytest.approx(greeting.rms(), rel=0.01)
    assert heard.pcm == greeting.pcm  # no codec on this line: exactly what was played
    frames = [e for e in events if isinstance(e, AudioFrame)]
    assert all(len(f.pcm) == 320 for f in frames)
    assert len(frames) == 52  # 50 + the 640 bytes sent in two odd pieces
    assert bot.audio(asterisk.call_id).pcm[: len(spoken.pcm)] == spoken.pcm
    assert [e for e in events if not isinstance(e, AudioFrame)] == [Dtmf("5"), Hangup("caller")]
    assert not line.playing


async def test_bot_hangup_sends_a_hangup_frame_and_closes(
    server_for: list[AudioSocketServer],
) -> None:
    bot = Bot()
    server = await start(server_for, bot)
    asterisk = await Asterisk.connect(server.port)
    await asterisk.hello()
    await asterisk.send(KIND_DTMF, b"#")
    assert await asterisk.until_closed() == [KIND_HANGUP]
    events = await bot.finish(asterisk.call_id)
    assert events == [Dtmf("#"), Hangup("bot")]
    await asterisk.close()


async def test_stop_playback_drops_queued_audio(server_for: list[AudioSocketServer]) -> None:
    bot = Bot(tone(800, 5.0))
    server = await start(server_for, bot)
    asterisk = await Asterisk.connect(server.port)
    await asterisk.hello()
    await asterisk.heard(0.2)
    line = bot.lines[asterisk.call_id]
    assert line.playing
    line.stop_playback()
    assert not line.playing
    await asterisk.send(KIND_HANGUP)
    kinds = await asterisk.until_closed()
    assert kinds.count(KIND_AUDIO) < 10  # only what was already on its way
    await bot.finish(asterisk.call_id)


@pytest.mark.parametrize(
    ("frames", "why"),
    [
        ([encode_frame(KIND_AUDIO, bytes(320))], "audio before the UUID"),
        ([encode_frame(KIND_UUID, b"short")], "a UUID of the wrong size"),
    ],
)
async def test_a_bad_start_closes_the_connection_without_a_call(
    server_for: list[AudioSocketServer], frames: list[bytes], why: str
) -> None:
    bot = Bot()
    server = await start(server_for, bot)
    asterisk = await Asterisk.connect(server.port)
    for frame in frames:
        asterisk.writer.write(frame)
    assert await asterisk.until_closed() == [KIND_HANGUP], why
    assert bot.lines == {}
    await asterisk.close()


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (struct.pack("!BH", KIND_AUDIO, 0xFFFF), "a length far beyond any frame, never sent"),
        (struct.pack("!BH", KIND_AUDIO, MAX_PAYLOAD + 1) + bytes(MAX_PAYLOAD + 1), "oversized"),
        (encode_frame(0x42, b"?"), "an unknown frame type"),
        (encode_frame(KIND_AUDIO, bytes(321)), "audio with half a sample"),
        (encode_frame(KIND_DTMF, b"x"), "a DTMF frame that is no key"),
        (encode_frame(KIND_ERROR, b"\x04"), "Asterisk reports an error"),
    ],
)
async def test_malformed_frames_end_that_call_cleanly(
    server_for: list[AudioSocketServer], bad: bytes, why: str
) -> None:
    bot = Bot()
    server = await start(server_for, bot)
    asterisk = await Asterisk.connect(server.port)
    await asterisk.hello()
    await asterisk.send(KIND_AUDIO, bytes(320))
    asterisk.writer.write(bad)
    # The server hangs up without waiting for the 64 KiB the first case announces.
    assert await asterisk.until_closed() == [KIND_HANGUP], why
    events = await bot.finish(asterisk.call_id)
    assert events[-1] == Hangup("error"), why
    await asterisk.close()


async def test_a_failing_handler_ends_only_its_call(server_for: list[AudioSocketServer]) -> None:
    bot = Bot(tone(600, 3.0))
    server = await start(server_for, bot)
    good = await Asterisk.connect(server.port)
    bad = await Asterisk.connect(server.port)
    bot.fail_for = (bad.call_id,)
    await good.hello()
    await bad.hello()
    bad_kinds = await bad.until_closed()
    assert bad_kinds[-1] == KIND_HANGUP
    await bot.finish(bad.call_id)
    heard = await good.heard(1.0)  # the other call still plays and listens
    await good.send_audio(tone(300, 0.2))
    await good.send(KIND_DTMF, b"#")
    assert (await good.until_closed())[-1] == KIND_HANGUP
    events = await bot.finish(good.call_id)
    assert heard.rms() > 1000
    assert sum(isinstance(e, AudioFrame) for e in events) == 10
    assert events[-2:] == [Dtmf("#"), Hangup("bot")]
    assert server.lines == []
    for asterisk in (good, bad):
        await asterisk.close()


async def test_connections_past_the_cap_are_hung_up_and_calls_go_on(
    server_for: list[AudioSocketServer],
) -> None:
    bot = Bot(tone(600, 3.0))
    server = await start(server_for, bot, max_connections=2)
    call = await Asterisk.connect(server.port)
    await call.hello()
    idle = await Asterisk.connect(server.port)  # connected, never says which call
    await asyncio.sleep(0.2)
    extra = await Asterisk.connect(server.port)
    assert await extra.until_closed() == [KIND_HANGUP]
    assert server.refused == 1
    # The call in progress still hears its audio.
    assert (await call.heard(0.2)).rms() > 1000
    await call.send(KIND_HANGUP)
    await bot.finish(call.call_id)
    for peer in (call, idle, extra):
        await peer.close()
