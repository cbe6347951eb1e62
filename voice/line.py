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


class Inbound(asyncio.Queue[InboundEvent]):
    """What the caller does, in the order it arrived. A key or a hang-up also sets
    ``caller_acted`` the moment it arrives: speech still being synthesised stops for it,
    so a key pressed during a long answer is acted on at once, not after the whole answer
    has been made (on a busy machine, that can take longer than the answer lasts)."""

    def __init__(self) -> None:
        super().__init__()
        self.caller_acted = asyncio.Event()

    def _put(self, item: InboundEvent) -> None:  # the hook asyncio's own queues override
        super()._put(item)
        if not isinstance(item, AudioFrame):
            self.caller_acted.set()


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
