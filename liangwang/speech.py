"""The port through which text channels hear and speak: a Telegram voice note or the web
page's press-to-talk recognised as the phone line hears a caller (the same engine, with the
hints of the question just asked), and replies spoken in the project's voice.

The adapter is ``voice.channel_speech.ChannelSpeech``, wired in by ``ops`` (channels and
the web app know only this port). ``NoSpeech`` stands where no speech model is installed:
the channels then say that voice is not available and ask the citizen to type or tap.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from liangwang.conversation import BotMessage


class SpeechUnavailable(Exception):
    """No speech model is installed (or it does not load): voice cannot be used now."""


class UnreadableRecording(Exception):
    """What was sent is not a recording we can hear (not audio, or too long)."""


@dataclass(frozen=True)
class Heard:
    text: str  # empty when nothing was understood
    confidence: float

    @property
    def anything(self) -> bool:
        return bool(self.text.strip())

    def metadata(self) -> dict[str, object]:
        """What a channel sends with the words heard (staff review reads the confidence)."""
        return {"input": "voice", "confidence": round(self.confidence, 3)}


class Listening(Protocol):
    """One utterance streamed in as it is spoken (16-bit mono PCM at the rate asked for)."""

    def accept(self, pcm: bytes) -> None:
        """Raises ``UnreadableRecording`` for bytes that are not whole samples."""
        ...

    @property
    def full(self) -> bool:
        """The longest turn is reached: what comes after is not heard."""
        ...

    async def finish(self) -> Heard: ...


class Speech(ABC):
    @property
    @abstractmethod
    def available(self) -> bool:
        """Whether voice can be offered (a model is installed)."""

    @abstractmethod
    async def hear_recording(self, conversation_id: str, recording: bytes) -> Heard:
        """A whole recording (OGG/Opus, WebM…). Raises ``UnreadableRecording``,
        ``SpeechUnavailable``."""

    @abstractmethod
    async def listen(self, conversation_id: str, rate: int) -> Listening:
        """Begin hearing PCM streamed at ``rate`` (8000 or 16000)."""

    @abstractmethod
    def asked(self, conversation_id: str, replies: Sequence[BotMessage]) -> None:
        """What the assistant just said: the next recording is heard with its hints."""

    @abstractmethod
    def sentences(self, text: str) -> list[str]:
        """``text`` in the pieces it is spoken in, the first ready soonest (a page plays one
        while the next is made)."""

    @abstractmethod
    async def speak_wav(self, texts: Sequence[str]) -> bytes:
        """``texts`` spoken one after another, as a WAV file a browser plays."""

    @abstractmethod
    async def speak_voice_note(self, texts: Sequence[str]) -> bytes:
        """``texts`` spoken one after another, as an OGG/Opus voice note."""


class NoSpeech(Speech):
    """No speech model here: nothing can be heard or said."""

    @property
    def available(self) -> bool:
        return False

    async def hear_recording(self, conversation_id: str, recording: bytes) -> Heard:
        raise SpeechUnavailable

    async def listen(self, conversation_id: str, rate: int) -> Listening:
        raise SpeechUnavailable

    def asked(self, conversation_id: str, replies: Sequence[BotMessage]) -> None:
        pass

    def sentences(self, text: str) -> list[str]:
        return []

    async def speak_wav(self, texts: Sequence[str]) -> bytes:
        raise SpeechUnavailable

    async def speak_voice_note(self, texts: Sequence[str]) -> bytes:
        raise SpeechUnavailable
