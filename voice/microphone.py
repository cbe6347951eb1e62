"""``liangwang call --mic``: a call through this computer's microphone and speaker, for a
kiosk or a demo. Uses PortAudio through ``sounddevice``; one duplex stream at 16 kHz moves
20 ms blocks both ways, so barge-in works as on the phone line."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from typing import Any

from liangwang.settings import Settings
from voice.audio import Audio, frame_bytes
from voice.events import CallEvent
from voice.line import AudioFrame, CallLine, Hangup, HangupBy

RATE = 16000

# What the operator is told at the terminal, in Chinese and English.
MESSAGES = {
    "no_portaudio": "没有可用的声卡库 / PortAudio is not available: {error}",
    "speak": "请对着麦克风说话，按 Ctrl-C 挂断。/ Speak; Ctrl-C hangs up.",
    "no_device": "打不开麦克风或扬声器 / cannot open the microphone or speaker: {error}",
}


class MicrophoneLine(CallLine):
    kind = "microphone"

    def __init__(self, loop: asyncio.AbstractEventLoop, caller: str = "") -> None:
        super().__init__(caller=caller or "microphone", call_id=f"mic-{uuid.uuid4().hex[:12]}")
        self.rate = RATE
        self._loop = loop
        self._lock = threading.Lock()
        self._pending = bytearray()  # audio waiting for the speaker
        self.ended = asyncio.Event()

    # Called by PortAudio on its own thread every 20 ms.
    def on_block(self, indata: Any, outdata: Any, frames: int, time: Any, status: Any) -> None:
        pcm = bytes(indata)
        self._loop.call_soon_threadsafe(self.inbound.put_nowait, AudioFrame(pcm))
        want = len(outdata)
        with self._lock:
            chunk = bytes(self._pending[:want])
            del self._pending[:want]
        outdata[:] = chunk + bytes(want - len(chunk))

    async def play(self, audio: Audio) -> None:
        with self._lock:
            self._pending += audio.resample(RATE).pcm

    def stop_playback(self) -> None:
        with self._lock:
            self._pending.clear()

    @property
    def playing(self) -> bool:
        with self._lock:
            return bool(self._pending)

    async def hangup(self) -> None:
        self.ended.set()
        self.inbound.put_nowait(Hangup(by=HangupBy.bot))


def run_microphone_call(
    settings: Settings,
    *,
    caller: str = "",
    on_event: Callable[[CallEvent], None] | None = None,
) -> int:
    """One call through the sound card; ``on_event`` sees the call's events (the command
    line prints them), so this module needs nothing from the command that runs it."""
    try:
        import sounddevice
    except OSError as exc:  # PortAudio itself is missing
        print(MESSAGES["no_portaudio"].format(error=exc))
        return 1
    from voice.app import build_engines, call_config
    from voice.session import CallSession

    engines = build_engines(settings)

    async def run() -> None:
        line = MicrophoneLine(asyncio.get_running_loop(), caller)
        block = frame_bytes(RATE) // 2
        stream = sounddevice.RawStream(
            samplerate=RATE, blocksize=block, channels=1, dtype="int16", callback=line.on_block
        )
        with stream:
            print(MESSAGES["speak"], flush=True)
            try:
                await CallSession(line, engines, call_config(settings), on_event).run()
            finally:
                await engines.dialogue.aclose()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    except sounddevice.PortAudioError as exc:
        print(MESSAGES["no_device"].format(error=exc))
        return 1
    return 0
