"""The espeak-ng backend: pyttsx3 driving espeak-ng's Mandarin voice, run inside a speech
worker process (``voice.tts.worker``), one fixed voice and rate per process."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# pyttsx3's id for espeak-ng's "Chinese (Mandarin, latin as Pinyin)" voice (file
# sit/cmn-Latn-pinyin). The plain "sit/cmn" voice reads many characters as English.
VOICE_ID = "sit/cmn-latn-pinyin"
ESPEAK_RATE_HZ = 22050  # espeak-ng's output rate; pyttsx3 writes its WAVs at this rate
# Words per minute as espeak counts them (espeak's default is 175 ≈ 3.5 syllables/s for
# Mandarin). 145 ≈ 2.8 syllables/s: clearly paced for older listeners on a phone line
# without dragging; 110 ≈ 2.1 syllables/s, about 1.3× as long, for callers who ask for slow.
NORMAL_WPM = 145
SLOW_WPM = 110

# Spoken once when a worker starts, to check that the Mandarin voice took.
PROBE_TEXT = "你好"


@dataclass(frozen=True)
class VoiceSettings:
    voice: str = VOICE_ID
    rate_wpm: int = NORMAL_WPM
    volume: float = 1.0


# What runs inside the worker: given the voice settings and a scratch folder, prepare an
# engine and return a function that turns one text into complete WAV bytes. Must be a
# module-level function (spawn pickles it by name); tests inject stalling ones.
Backend = Callable[[VoiceSettings, Path], Callable[[str], bytes]]


class VoiceMissingError(RuntimeError):
    """Raised inside the worker when espeak-ng has no voice with the configured id."""


def _complete_wav(path: Path) -> bytes | None:
    """The file's bytes once it is a whole WAV: a header whose data chunk length is all
    present. The writer (Python's ``wave``) first writes a header that says "no samples",
    then the samples, then patches the real length in on close; under load the first state
    can last long enough to look finished, so an empty data chunk never counts as done."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    offset = 12
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset + 4 : offset + 8], "little")
        if data[offset : offset + 4] == b"data":
            return data if size and len(data) >= offset + 8 + size else None
        offset += 8 + size + (size & 1)
    return None


def wait_for_wav(path: Path, *, poll_s: float = 0.005) -> bytes:
    """Block until ``path`` holds a complete WAV whose size has stopped changing. No deadline
    here: the parent's timeout ends a worker that waits forever."""
    previous: bytes | None = None
    while True:
        data = _complete_wav(path)
        if data is not None and previous is not None and len(data) == len(previous):
            return data
        previous = data
        time.sleep(poll_s)


def pyttsx3_backend(settings: VoiceSettings, workdir: Path) -> Callable[[str], bytes]:
    import pyttsx3

    engine = pyttsx3.init("espeak")
    voices = {voice.id for voice in engine.getProperty("voices")}
    if settings.voice not in voices:
        raise VoiceMissingError(settings.voice)
    engine.setProperty("voice", settings.voice)
    engine.setProperty("rate", settings.rate_wpm)
    engine.setProperty("volume", settings.volume)
    counter = itertools.count()

    def speak(text: str) -> bytes:
        path = workdir / f"{next(counter)}.wav"
        engine.save_to_file(text, str(path))
        engine.runAndWait()
        data = wait_for_wav(path)
        path.unlink()
        return data

    # pyttsx3 applies the queued properties with the first utterance; check the voice took.
    speak(PROBE_TEXT)
    if engine.getProperty("voice") != settings.voice:
        raise VoiceMissingError(settings.voice)
    return speak
