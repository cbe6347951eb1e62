"""What a telephone line gives one call, whatever the line is (SIP/RTP, AudioSocket, a file).

A line adapter answers a call, creates a ``CallLine`` and runs the call handler on it as its
own task, so calls are isolated: one call's failure ends that call only. Inbound audio
arrives as 20 ms frames of 16-bit PCM at ``CallLine.rate``; outbound audio is queued with
``play`` and paced out by the adapter, which can drop the queue at once (barge-in).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from voice.audio import Audio


@dataclass(frozen=True)
class AudioFrame:
    pcm: bytes  # 20 ms, 16-bit PCM at the line's rate


@dataclass(frozen=True)
class Dtmf:
    digit: str  # one of 0-9 * # A-D


class HangupBy(StrEnum):
    """Who ended the call."""

    caller = "caller"
    bot = "bot"  # the assistant said goodbye (or handed over)
    timeout = "timeout"  # the line went quiet (no RTP, no SIP answer)
    shutdown = "shutdown"  # the server is stopping
    error = "error"  # a protocol error on the line


@dataclass(frozen=True)
class Hangup:
    by: HangupBy = HangupBy.caller


InboundEvent = AudioFrame | Dtmf | Hangup


# A minute of 20 ms frames: far more than a call falls behind on a busy machine, and a
# bound on what a caller (or a flood of RTP) can make us hold, about 1 MB at 8 kHz.
MAX_QUEUED_FRAMES = 3000


class Inbound(asyncio.Queue[InboundEvent]):
    """What the caller does, in the order it arrived. A key or a hang-up also sets
    ``caller_acted`` the moment it arrives: speech still being synthesised stops for it,
    so a key pressed during a long answer is acted on at once, not after the whole answer
    has been made (on a busy machine, that can take longer than the answer lasts).

    Bounded: past ``max_frames`` queued audio frames the oldest frame is dropped (keys and
    hang-ups never are), so a stalled call cannot grow without limit."""

    def __init__(self, max_frames: int = MAX_QUEUED_FRAMES) -> None:
        super().__init__()
        self.caller_acted = asyncio.Event()
        self.max_frames = max_frames
        self.frames = 0
        self.dropped_frames = 0

    def _put(self, item: InboundEvent) -> None:  # the hooks asyncio's own queues override
        if isinstance(item, AudioFrame):
            if self.frames >= self.max_frames:
                self._drop_oldest_frame()
            self.frames += 1
        else:
            self.caller_acted.set()
        super()._put(item)

    def _get(self) -> InboundEvent:
        item = super()._get()
        if isinstance(item, AudioFrame):
            self.frames -= 1
        return item

    def _drop_oldest_frame(self) -> None:
        queued = self._queue  # type: ignore[attr-defined]  # asyncio.Queue's own deque
        for index, event in enumerate(queued):
            if isinstance(event, AudioFrame):
                del queued[index]
                self.frames -= 1
                self.dropped_frames += 1
                return


class CallLine(ABC):
    """One call as the handler sees it."""

    kind = "line"  # which kind of line, for transcripts: sip, audiosocket, file, microphone

    def __init__(self, *, caller: str, call_id: str, rate: int = 8000) -> None:
        self.caller = caller  # the caller's number or address, used as their identity
        self.call_id = call_id
        self.rate = rate
        self.inbound = Inbound()

    @abstractmethod
    async def play(self, audio: Audio) -> None:
        """Queue ``audio`` to be sent; returns once queued, not once played."""

    @abstractmethod
    def stop_playback(self) -> None:
        """Drop everything queued and not yet sent (caller barged in)."""

    @property
    @abstractmethod
    def playing(self) -> bool:
        """True while queued audio is still being sent."""

    async def wait_played(self) -> None:
        """Return once everything queued so far has been sent (or dropped)."""
        while self.playing:
            await asyncio.sleep(0.02)

    @abstractmethod
    async def hangup(self) -> None:
        """End the call from our side (SIP BYE, AudioSocket hangup frame)."""

    async def transfer(self, target: str) -> bool:
        """Hand the call to ``target`` (a person). False when the line cannot transfer."""
        return False


CallHandler = Callable[[CallLine], Awaitable[None]]
