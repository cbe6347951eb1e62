"""``EspeakSynthesizer``: the ``SpeechSynthesizer`` adapter for espeak-ng, with one worker
process for normal speech and one for slow speech."""

from __future__ import annotations

import json
from collections.abc import Iterator

from voice.audio import Audio
from voice.speech_text import is_speakable, read_numbers
from voice.tts.espeak import (
    ESPEAK_RATE_HZ,
    NORMAL_WPM,
    SLOW_WPM,
    VOICE_ID,
    Backend,
    VoiceSettings,
    pyttsx3_backend,
)
from voice.tts.sentences import speak_sentences
from voice.tts.worker import SpeechWorker, audio_from_worker

# Bump when text normalisation or engine handling changes what a text sounds like, so
# cached WAVs from an older version are not reused.
SPEECH_VERSION = 2


class EspeakSynthesizer:
    """``SpeechSynthesizer`` speaking Mandarin with espeak-ng through pyttsx3.

    Output is ``Audio`` at 22050 Hz; callers resample. Thread-safe: requests for the same
    speed are served one after another by that speed's worker (espeak needs ~20 ms for a
    sentence). Workers start on first use, or at once with ``start()``.
    """

    def __init__(
        self,
        *,
        voice: str = VOICE_ID,
        rate_wpm: int = NORMAL_WPM,
        slow_rate_wpm: int = SLOW_WPM,
        volume: float = 1.0,
        timeout_s: float = 10.0,
        start_timeout_s: float = 30.0,
        backend: Backend = pyttsx3_backend,
    ) -> None:
        self.normal = VoiceSettings(voice, rate_wpm, volume)
        self.slow = VoiceSettings(voice, slow_rate_wpm, volume)
        self._workers = {
            speed: SpeechWorker(settings, backend, timeout_s, start_timeout_s)
            for speed, settings in ((False, self.normal), (True, self.slow))
        }

    @property
    def identity(self) -> str:
        """What decides how a text sounds; part of every cache key."""
        return json.dumps(
            ["espeak-pyttsx3", SPEECH_VERSION, self.normal.__dict__, self.slow.__dict__],
            sort_keys=True,
        )

    @property
    def worker_starts(self) -> int:
        return sum(worker.starts for worker in self._workers.values())

    def start(self) -> None:
        """Start both workers now (each takes about a second), not on the first call."""
        for worker in self._workers.values():
            worker.start()

    def synthesize(self, text: str, *, slow: bool = False) -> Audio:
        spoken = read_numbers(text).strip()
        if not is_speakable(spoken):
            return Audio(b"", ESPEAK_RATE_HZ)  # punctuation or nothing: nothing to say
        return audio_from_worker(self._workers[slow].request(spoken), spoken)

    def synthesize_sentences(self, text: str, *, slow: bool = False) -> Iterator[Audio]:
        return speak_sentences(self, text, slow=slow)

    def close(self) -> None:
        for worker in self._workers.values():
            worker.close()

    def __enter__(self) -> EspeakSynthesizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
