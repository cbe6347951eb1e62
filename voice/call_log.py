"""A call's transcript as it happens: each turn numbered and stored off the event loop.

Shared by the calls we answer (voice/session.py) and the calls we place (call backs,
voice/callback_session.py). Storing never drops a call: a full disk or a database error is
logged, naming what was lost, and the caller still hears us.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from voice.audio import Audio
from voice.ports import TranscriptRecorder, TurnRecord
from voice.speaker import Speaker

log = logging.getLogger(__name__)


class CallLog:
    def __init__(self, recorder: TranscriptRecorder, call_id: str, speaker: Speaker) -> None:
        self.recorder = recorder
        self._call_id = call_id
        self._speaker = speaker
        self._turn_index = 0  # the next turn's number

    async def turn(
        self,
        caller_audio: Audio | None,
        recognized: str,
        confidence: float | None,
        keys: str,
        reply: Sequence[str],
        reply_audio: Sequence[Audio],
    ) -> None:
        """One turn: what the caller said or pressed, and what we answered."""
        joined = Audio.concat(reply_audio, reply_audio[0].rate) if reply_audio else None
        record = TurnRecord(
            index=self._turn_index,
            caller_audio=caller_audio,
            recognized=recognized,
            confidence=confidence,
            keys=keys,
            reply=tuple(reply),
            reply_audio=joined,
            latency_ms=self._speaker.take_latency(),
        )
        self._turn_index += 1
        await self.store(self.recorder.add_turn, self._call_id, record)

    async def store(self, method: Callable[..., None], *args: object) -> None:
        """Call one of the recorder's methods in a worker thread; log a failure."""
        try:
            await asyncio.to_thread(method, *args)
        except Exception:  # a full disk must not drop the call; the log says what was lost
            log.exception("could not record call %s", self._call_id)
