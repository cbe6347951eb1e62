"""A reply spoken sentence by sentence, so the first can be played while the rest are
synthesised."""

from __future__ import annotations

from collections.abc import Iterator

from voice.audio import Audio
from voice.ports import SpeechSynthesizer
from voice.speech_text import split_sentences


def speak_sentences(synth: SpeechSynthesizer, text: str, *, slow: bool = False) -> Iterator[Audio]:
    """Audio for each piece of ``split_sentences(text)``, produced one at a time."""
    for sentence in split_sentences(text):
        yield synth.synthesize(sentence, slow=slow)
