"""Text-to-speech in worker processes, with a cache of synthesised WAVs: Kokoro-82M, the
natural Mandarin voice (the default when installed), and espeak-ng through pyttsx3, the
fallback and low-resource choice (``LIANGWANG_TTS_ENGINE``).

- ``voice.tts.kokoro``: ``KokoroSynthesizer`` and the Kokoro backend that runs in a worker.
- ``voice.tts.espeak``: the espeak voice, its rates, and the backend that runs in a worker.
- ``voice.tts.worker``: the worker process (start, ask, time out, restart).
- ``voice.tts.synthesizer``: ``EspeakSynthesizer``, the espeak ``SpeechSynthesizer`` adapter.
- ``voice.tts.cache``: ``CachedSynthesizer``, WAVs on disk keyed by text and voice.
- ``voice.tts.sentences``: ``speak_sentences``, a reply's audio sentence by sentence.

The text itself is prepared in ``voice.speech_text`` (numbers, sentences). The names below
are the package's public interface; import them from here.
"""

from voice.tts.cache import CachedSynthesizer
from voice.tts.espeak import ESPEAK_RATE_HZ, NORMAL_WPM, SLOW_WPM, VOICE_ID, VoiceSettings
from voice.tts.kokoro import KokoroSynthesizer
from voice.tts.sentences import speak_sentences
from voice.tts.synthesizer import EspeakSynthesizer

__all__ = [
    "ESPEAK_RATE_HZ",
    "NORMAL_WPM",
    "SLOW_WPM",
    "VOICE_ID",
    "CachedSynthesizer",
    "EspeakSynthesizer",
    "KokoroSynthesizer",
    "VoiceSettings",
    "speak_sentences",
]
