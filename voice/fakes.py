"""Recording fakes of the voice ports, for pipeline tests and `liangwang call` dry runs.

They record what they were asked and answer from a script, so a test can assert the exact
sequence of what a call did. Audio is synthetic: a tone is "speech", zeros are silence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from voice.audio import Audio
from voice.errors import RecognizerError
from voice.line import AudioFrame, CallLine, Dtmf, Hangup, HangupBy
from voice.ports import Transcript, TurnRecord


def tone(ms: int, rate: int = 8000, hz: float = 440.0, level: int = 8000) -> Audio:
    t = np.arange(rate * ms // 1000) / rate
    return Audio((level * np.sin(2 * math.pi * hz * t)).astype("<i2").tobytes(), rate)


def speech_frames(ms: int, rate: int = 8000) -> list[AudioFrame]:
    return [AudioFrame(f) for f in tone(ms, rate).frames()]


def silence_frames(ms: int, rate: int = 8000) -> list[AudioFrame]:
    return [AudioFrame(f) for f in Audio.silence(ms / 1000, rate).frames()]


class FakeLine(CallLine):
    """A line that records what was played. Playback is instant unless ``hold_playback``
    is set: then audio counts as playing until the caller first barges in."""

    def __init__(self, caller: str = "13812345678", call_id: str = "call-1") -> None:
        super().__init__(caller=caller, call_id=call_id)
        self.played: list[Audio] = []
        self.stops = 0
        self.hung_up = False
        self.transfers: list[str] = []
        self.transfer_ok = False
        self.hold_playback = False
        self._holding = False

    def feed(self, *events: AudioFrame | Dtmf | Hangup | list[AudioFrame]) -> None:
        for item in events:
            for event in item if isinstance(item, list) else [item]:
                self.inbound.put_nowait(event)

    async def play(self, audio: Audio) -> None:
        self.played.append(audio)
        self._holding = self.hold_playback

    def stop_playback(self) -> None:
        self.stops += 1
        self._holding = self.hold_playback = False

    @property
    def playing(self) -> bool:
        return self._holding

    async def hangup(self) -> None:
        self.hung_up = True
        self.inbound.put_nowait(Hangup(by=HangupBy.bot))

    async def transfer(self, target: str) -> bool:
        self.transfers.append(target)
        return self.transfer_ok


class EnergyVad:
    """Speech when the frame is loud: exact for the synthetic tones the tests feed."""

    def __init__(self, threshold: float = 500.0) -> None:
        self.threshold = threshold

    def is_speech(self, frame: bytes, rate: int) -> bool:
        return Audio(frame, rate).rms() > self.threshold


@dataclass
class _ScriptedStream:
    owner: ScriptedRecognizer
    rate: int
    received: int = 0
    words: Transcript | None = None  # this utterance's script line, taken when first asked

    def accept(self, pcm: bytes) -> None:
        if self.owner.fail_on_accept:
            raise RecognizerError("scripted failure")
        self.received += len(pcm)

    def finish(self) -> Transcript:
        self.owner.finishes += 1
        self.owner.heard_bytes.append(self.received)
        return self._words()

    def _words(self) -> Transcript:
        if self.words is None:
            self.words = self.owner.next_line()
        return self.words


@dataclass
class _ScriptedPreviewStream(_ScriptedStream):
    """Like Whisper's stream: can transcribe what it has so far (the next script line)."""

    def preview(self) -> Transcript:
        self.owner.previews.append(self.received)
        return self._words()


@dataclass
class ScriptedRecognizer:
    """Answers each utterance with the next line of ``script`` (a text is heard with
    confidence 0.9; a ``Transcript`` as given)."""

    script: list[str | Transcript] = field(default_factory=list)
    name: str = "scripted"
    fail_on_accept: bool = False
    with_preview: bool = False  # streams that decode only at the end, like Whisper's
    heard_bytes: list[int] = field(default_factory=list)
    hints_seen: list[tuple[str, ...]] = field(default_factory=list)
    vocabulary_seen: list[tuple[str, ...]] = field(default_factory=list)
    previews: list[int] = field(default_factory=list)  # bytes heard at each preview
    finishes: int = 0

    def next_line(self) -> Transcript:
        if not self.script:
            return Transcript("", 0.0)
        line = self.script.pop(0)
        return line if isinstance(line, Transcript) else Transcript(line, 0.9)

    def start(
        self, rate: int, hints: Sequence[str] = (), vocabulary: Sequence[str] = ()
    ) -> _ScriptedStream:
        self.hints_seen.append(tuple(hints))
        self.vocabulary_seen.append(tuple(vocabulary))
        kind = _ScriptedPreviewStream if self.with_preview else _ScriptedStream
        return kind(self, rate)


@dataclass
class RecordingSynthesizer:
    """Returns a short tone per text (longer when slow) and records what it was asked."""

    said: list[tuple[str, bool]] = field(default_factory=list)

    def synthesize(self, text: str, *, slow: bool = False) -> Audio:
        self.said.append((text, slow))
        return tone(40 if slow else 20, rate=22050, hz=300)


@dataclass
class RecordingTranscripts:
    calls: dict[str, dict[str, object]] = field(default_factory=dict)
    turns: dict[str, list[TurnRecord]] = field(default_factory=dict)

    def start_call(self, call_id: str, caller: str, line: str) -> None:
        self.calls[call_id] = {"caller": caller, "line": line, "ended": None}
        self.turns[call_id] = []

    def add_turn(self, call_id: str, turn: TurnRecord) -> None:
        self.turns[call_id].append(turn)

    def end_call(self, call_id: str, reason: str) -> None:
        self.calls[call_id]["ended"] = reason
