"""Text-to-speech: espeak-ng's Mandarin voice through pyttsx3, in worker processes, with a
cache of synthesised WAVs.

- ``voice.tts.espeak``: the voice, its rates, and the backend that runs in a worker.
- ``voice.tts.worker``: the worker process (start, ask, time out, restart).
- ``voice.tts.synthesizer``: ``EspeakSynthesizer``, the ``SpeechSynthesizer`` adapter.
- ``voice.tts.cache``: ``CachedSynthesizer``, WAVs on disk keyed by text and voice.
- ``voice.tts.sentences``: ``speak_sentences``, a reply's audio sentence by sentence.

The text itself is prepared in ``voice.speech_text`` (numbers, sentences). The names below
are the package's public interface; import them from here.
"""

from voice.tts.cache import CachedSynthesizer
from voice.tts.espeak import ESPEAK_RATE_HZ, NORMAL_WPM, SLOW_WPM, VOICE_ID, VoiceSettings
from voice.tts.sentences import speak_sentences
from voice.tts.synthesizer import EspeakSynthesizer

__all__ = [
    "ESPEAK_RATE_HZ",
    "NORMAL_WPM",
    "SLOW_WPM",
    "VOICE_ID",
    "CachedSynthesizer",
    "EspeakSynthesizer",
    "VoiceSettings",
    "speak_sentences",
]
