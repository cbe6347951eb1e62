"""The microphone line, driven the way PortAudio drives it: 20 ms blocks from its own thread.
(No sound card here: the callback is called by the test, PortAudio is the outer edge.)"""

from __future__ import annotations

import asyncio
import threading

from voice.audio import Audio, frame_bytes
from voice.fakes import tone
from voice.line import AudioFrame, Hangup, HangupBy
from voice.microphone import RATE, MicrophoneLine

BLOCK = frame_bytes(RATE)


def block_from_another_thread(line: MicrophoneLine, pcm: bytes) -> bytearray:
    out = bytearray(BLOCK)
    thread = threading.Thread(target=line.on_block, args=(pcm, out, BLOCK // 2, None, None))
    thread.start()
    thread.join()
    return out


async def test_microphone_blocks_become_frames_and_replies_go_to_the_speaker() -> None:
    line = MicrophoneLine(asyncio.get_running_loop(), caller="kiosk-1")
    spoken = tone(20, rate=RATE).pcm
    out = block_from_another_thread(line, spoken)
    assert bytes(out) == bytes(BLOCK)  # nothing to say yet: silence
    assert await asyncio.wait_for(line.inbound.get(), 1) == AudioFrame(spoken)

    reply = tone(60, rate=RATE)
    await line.play(reply)
    assert line.playing
    first = block_from_another_thread(line, bytes(BLOCK))
    assert bytes(first) == reply.pcm[:BLOCK]
    line.stop_playback()  # barge-in: the rest is dropped at once
    assert not line.playing
    assert bytes(block_from_another_thread(line, bytes(BLOCK))) == bytes(BLOCK)


async def test_replies_at_other_rates_are_resampled_for_the_speaker() -> None:
    line = MicrophoneLine(asyncio.get_running_loop())
    await line.play(Audio.silence(0.1, rate=22050))
    played = 0
    while line.playing:
        block_from_another_thread(line, bytes(BLOCK))
        played += 1
    assert played == 5  # 100 ms at 16 kHz in 20 ms blocks


async def test_hangup_ends_the_call_loop() -> None:
    line = MicrophoneLine(asyncio.get_running_loop())
    await line.hangup()
    assert line.inbound.get_nowait() == Hangup(by=HangupBy.bot)
