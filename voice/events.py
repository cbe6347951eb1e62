"""Typed events a call emits, in order. Tests collect them and compare exact sequences;
the benchmark reads their timestamps (monotonic seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from time import monotonic


class SpokeReason(StrEnum):
    """Why we spoke: the dialogue's reply, or one of the line's own prompts."""

    reply = "reply"  # the dialogue's answer to the caller
    repeat = "repeat"  # the last answer again ("再说一遍" or ``*``)
    reprompt = "reprompt"  # the caller has been silent
    not_heard = "not-heard"  # nothing (or only a low-confidence guess) was recognised
    slower = "slower"  # the caller asked us to speak more slowly
    apology = "apology"  # an engine failed; the caller is handed to a person
    goodbye = "goodbye"  # the last words before we hang up


class CallEndReason(StrEnum):
    """Why a call ended; also what ``CallSession.run`` returns and the transcript keeps."""

    caller_hangup = "caller-hangup"
    goodbye = "goodbye"  # the dialogue said goodbye
    handoff = "handoff"  # transferred, or staff will call back
    silence = "silence"  # the caller never answered the reprompts
    error = "error"  # a bug in the call loop (logged)
    cancelled = "cancelled"  # the server stopped the call


@dataclass(frozen=True)
class CallEvent:
    at: float = field(default_factory=monotonic, compare=False, kw_only=True)


@dataclass(frozen=True)
class CallStarted(CallEvent):
    caller: str


@dataclass(frozen=True)
class SpeechStarted(CallEvent):
    pass


@dataclass(frozen=True)
class BargeIn(CallEvent):
    """The caller spoke (or pressed a key) while we were talking: playback stopped."""


@dataclass(frozen=True)
class PatienceSet(CallEvent):
    """The words so far set how long the caller's closing silence may last."""

    patience: str  # quick | default | hesitant (voice/endpointing.py)
    end_silence_ms: int


@dataclass(frozen=True)
class TurnEnded(CallEvent):
    """End of the caller's speech was detected (after the patient silence)."""

    speech_s: float = field(compare=False)


@dataclass(frozen=True)
class Recognized(CallEvent):
    text: str
    confidence: float = field(compare=False)


@dataclass(frozen=True)
class KeysEntered(CallEvent):
    keys: str


@dataclass(frozen=True)
class SentToDialogue(CallEvent):
    text: str


@dataclass(frozen=True)
class Spoke(CallEvent):
    """A reply started playing; ``first_audio_at`` is when its first audio was queued."""

    texts: tuple[str, ...]
    reason: SpokeReason


@dataclass(frozen=True)
class FirstAudio(CallEvent):
    """First audio of a reply queued on the line; paired with the TurnEnded before it."""


@dataclass(frozen=True)
class Reprompted(CallEvent):
    count: int


@dataclass(frozen=True)
class SlowedDown(CallEvent):
    pass


@dataclass(frozen=True)
class HandedOver(CallEvent):
    transferred: bool


@dataclass(frozen=True)
class PipelineFailed(CallEvent):
    code: str


@dataclass(frozen=True)
class CallEnded(CallEvent):
    reason: CallEndReason
