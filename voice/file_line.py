"""A call from a recording: the WAV is the caller, what we say is collected (and can be
written to a WAV). Used by ``liangwang call FILE.wav`` and the end-to-end voice tests."""

from __future__ import annotations

import uuid

from voice.audio import Audio
from voice.line import AudioFrame, CallLine, Hangup

LINE_RATES = (8000, 16000)


class FileLine(CallLine):
    kind = "file"

    def __init__(self, recording: Audio, *, caller: str = "", tail_s: float = 2.0) -> None:
        rate = recording.rate if recording.rate in LINE_RATES else 16000
        super().__init__(caller=caller or "recording", call_id=f"file-{uuid.uuid4().hex[:12]}")
        self.rate = rate
        self.played: list[Audio] = []
        self.hung_up = False
        # The whole recording, then enough silence for the last turn to end, then hang up.
        audio = recording.resample(rate) + Audio.silence(tail_s, rate)
        for frame in audio.frames():
            self.inbound.put_nowait(AudioFrame(frame))
        self.inbound.put_nowait(Hangup())

    async def play(self, audio: Audio) -> None:
        self.played.append(audio)

    def stop_playback(self) -> None:
        pass

    @property
    def playing(self) -> bool:
        return False

    async def hangup(self) -> None:
        self.hung_up = True

    def reply_audio(self, rate: int = 16000) -> Audio:
        return Audio.concat(self.played, rate)
