"""Telephone lines: real adapters that answer calls and hand each one to a call handler.

- ``voice.telephony.sip.SipServer``: SIP over UDP with G.711 RTP (callers, SIP trunks, PBXs).
- ``voice.telephony.audiosocket.AudioSocketServer``: Asterisk's AudioSocket over TCP.

Both send audio through ``PacedLine``, defined here because pacing is what they share:
frames leave on an absolute 20 ms schedule of the monotonic clock, so scheduling delays do
not add up to drift, and every send time is recorded for the jitter benchmark.
This module imports neither adapter, so each can be used without the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
from abc import abstractmethod
from collections import deque
from dataclasses import dataclass

from voice.audio import FRAME_MS, Audio, frame_bytes
from voice.line import CallLine

log = logging.getLogger(__name__)

FRAME_S = FRAME_MS / 1000
# If the event loop was blocked for longer than this, the schedule restarts from now instead
# of sending the missed frames in a burst a jitter buffer would have to discard anyway.
_MAX_LATE_S = 0.2
# Send times kept for statistics: ten minutes of packets; older ones are dropped.
_KEEP_SEND_TIMES = 30_000


@dataclass(frozen=True)
class PacerStats:
    """How regularly frames left. Intervals are between consecutive sends, in milliseconds."""

    packets: int
    mean_interval_ms: float
    jitter_ms: float  # standard deviation of the intervals
    max_interval_ms: float
    max_late_ms: float  # worst delay of a send behind its scheduled time

    @classmethod
    def from_times(cls, send_times: list[float], late: list[float]) -> PacerStats:
        intervals = [(b - a) * 1000 for a, b in itertools.pairwise(send_times)]
        if not intervals:
            return cls(len(send_times), 0.0, 0.0, 0.0, max(late, default=0.0) * 1000)
        mean = sum(intervals) / len(intervals)
        variance = sum((i - mean) ** 2 for i in intervals) / len(intervals)
        return cls(
            packets=len(send_times),
            mean_interval_ms=mean,
            jitter_ms=math.sqrt(variance),
            max_interval_ms=max(intervals),
            max_late_ms=max(late, default=0.0) * 1000,
        )


class PacedLine(CallLine):
    """A ``CallLine`` whose outbound audio is sent as one frame every 20 ms.

    Subclasses implement ``_send_frame``; ``idle_silence`` says whether a frame of silence
    is sent when nothing is queued (RTP: yes) or nothing at all (AudioSocket: no).
    """

    idle_silence = False

    def __init__(self, *, caller: str, call_id: str, rate: int = 8000) -> None:
        super().__init__(caller=caller, call_id=call_id, rate=rate)
        self._frames: deque[bytes] = deque()
        self._frame_size = frame_bytes(rate)
        self._pacer: asyncio.Task[None] | None = None
        self._send_times: deque[float] = deque(maxlen=_KEEP_SEND_TIMES)
        self._late: deque[float] = deque(maxlen=_KEEP_SEND_TIMES)

    # -- CallLine ------------------------------------------------------------------------

    async def play(self, audio: Audio) -> None:
        if self._pacer is None or self._pacer.done():
            return  # the call has ended: nothing will ever send it
        self._frames.extend(audio.resample(self.rate).frames())

    def stop_playback(self) -> None:
        self._frames.clear()

    @property
    def playing(self) -> bool:
        return bool(self._frames)

    # -- statistics ----------------------------------------------------------------------

    @property
    def send_times(self) -> list[float]:
        """Monotonic-clock time of every frame sent (the last ten minutes' worth)."""
        return list(self._send_times)

    def pacer_stats(self) -> PacerStats:
        return PacerStats.from_times(list(self._send_times), list(self._late))

    # -- for subclasses ------------------------------------------------------------------

    @abstractmethod
    def _send_frame(self, pcm: bytes | None, *, resumed: bool) -> bool:
        """Send one 20 ms frame of PCM (None: the idle frame). ``resumed`` is true for the
        first frame after a gap in the schedule (start, stall, or playback after idle).
        Returns whether something was sent."""

    def _start_pacing(self) -> None:
        self._pacer = asyncio.create_task(self._pace(), name=f"pacer-{self.call_id}")

    async def _stop_pacing(self) -> None:
        self._frames.clear()
        if self._pacer is not None:
            self._pacer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pacer

    async def _pace(self) -> None:
        try:
            await self._pace_frames()
        except Exception:  # a bug here must not pass silently: the caller hears nothing
            log.exception("pacer of call %s failed; no more audio will be sent", self.call_id)

    async def _pace_frames(self) -> None:
        start = time.monotonic()
        sent = 0  # frames since ``start``
        resumed = True
        was_idle = True
        while True:
            due = start + sent * FRAME_S
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            now = time.monotonic()
            if now - due > _MAX_LATE_S:
                log.debug(
                    "pacer of %s stalled %.0f ms; restarting", self.call_id, (now - due) * 1e3
                )
                start, sent, due, resumed = now, 0, now, True
            pcm = self._frames.popleft() if self._frames else None
            if pcm is None and not self.idle_silence:
                was_idle = True
            else:
                try:
                    if self._send_frame(pcm, resumed=resumed or (was_idle and pcm is not None)):
                        self._send_times.append(now)
                        self._late.append(now - due)
                except OSError as exc:  # e.g. network unreachable: keep time, try next frame
                    log.debug("send failed on %s: %s", self.call_id, exc)
                resumed = False
                was_idle = pcm is None
            sent += 1
