"""The ports of the voice pipeline: what a call needs from speech engines.

Real adapters: ``voice.stt_vosk``, ``voice.stt_whisper`` (speech-to-text), ``voice.tts``
(pyttsx3 + espeak-ng), ``voice.vad`` (webrtcvad). Recording fakes for pipeline tests live
in ``voice.fakes``. Engines are synchronous and may be slow; the call loop runs them in a
worker thread so one slow engine never blocks another call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from voice.audio import Audio


@dataclass(frozen=True)
class Transcript:
    text: str
    confidence: float  # 0..1; engines without a score report 1.0 for non-empty text


class RecognizerStream(Protocol):
    """One utterance being recognised. ``accept`` takes 16-bit PCM at the stream's rate."""

    def accept(self, pcm: bytes) -> None: ...

    def finish(self) -> Transcript: ...


@runtime_checkable
class PreviewStream(RecognizerStream, Protocol):
    """A stream that can transcribe what it has so far (engines that only decode at the
    end, like Whisper): lets the call loop decode during the end-of-turn silence."""

    def preview(self) -> Transcript: ...


class SpeechRecognizer(Protocol):
    name: str

    def start(
        self, rate: int, hints: Sequence[str] = (), vocabulary: Sequence[str] = ()
    ) -> RecognizerStream:
        """Begin an utterance at ``rate`` (8000 or 16000). ``hints`` are the answers the
        caller is likely to give (districts, yes/no, the choices offered); ``vocabulary``
        is words an open turn may contain (the catalog's and the categories' names), only
        for engines that can be steered by them without hearing them where they were not
        said. Engines that cannot use either ignore it."""
        ...


class SpeechSynthesizer(Protocol):
    def synthesize(self, text: str, *, slow: bool = False) -> Audio:
        """Speak ``text``; ``slow`` is the slower rate a caller asked for."""
        ...


class VoiceActivityDetector(Protocol):
    def is_speech(self, frame: bytes, rate: int) -> bool:
        """``frame`` is 20 ms of 16-bit PCM at ``rate``."""
        ...


@dataclass(frozen=True)
class TurnRecord:
    """One exchange of a call, as staff will review it."""

    index: int
    caller_audio: Audio | None  # what the caller said (None for a keypad-only turn)
    recognized: str
    confidence: float | None
    keys: str  # DTMF keys pressed in this turn
    reply: tuple[str, ...]  # what we said back
    reply_audio: Audio | None
    latency_ms: int | None  # end of caller speech → first reply audio queued


class TranscriptRecorder(Protocol):
    """Keeps every call's transcript. Called from a worker thread, never on the event loop."""

    def start_call(self, call_id: str, caller: str, line: str) -> None: ...

    def add_turn(self, call_id: str, turn: TurnRecord) -> None: ...

    def end_call(self, call_id: str, reason: str) -> None: ...
