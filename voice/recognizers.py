"""The speech recogniser the settings ask for, built on a checked model folder."""

from __future__ import annotations

from collections.abc import Sequence

from liangwang.settings import Settings, SttEngine
from voice.model_check import require
from voice.ports import SpeechRecognizer


def make_recognizer(settings: Settings, *, escape_phrases: Sequence[str] = ()) -> SpeechRecognizer:
    """The recognizer ``LIANGWANG_STT_ENGINE`` asks for, with its model checked (not yet
    loaded: call its ``load()`` at start-up to pay the 1-3 s before the first call)."""
    spec, path = require(settings)
    if spec.engine is SttEngine.whisper:
        from voice.stt_whisper import WhisperRecognizer

        return WhisperRecognizer(path, beam_size=settings.whisper_beam_size)
    from voice.stt_vosk import VoskRecognizer

    return VoskRecognizer(path, escape_phrases=escape_phrases)


def load_now(recognizer: SpeechRecognizer) -> SpeechRecognizer:
    """Load the recogniser's model now (1-3 s), not on the first caller's first words."""
    load = getattr(recognizer, "load", None)
    if callable(load):
        load()
    return recognizer
