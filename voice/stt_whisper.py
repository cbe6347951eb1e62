"""Speech-to-text with Whisper (faster-whisper / CTranslate2 on the CPU), no network.

Whisper is not a streaming recogniser: the stream buffers the utterance and ``finish``
transcribes it in one go (resampled to 16 kHz, the model's rate). It hears natural Mandarin
well, also after the telephone's 8 kHz μ-law, but costs a roughly fixed 1-2 s per short
utterance on two cores because the encoder always sees a 30 s window.

Choices that matter:

- Always a local folder: given a model *name*, faster-whisper would try to download it.
- ``temperature=0`` and no conditioning on previous text: deterministic output and no
  runaway repetition; ``vad_filter=False`` because the call loop's VAD already cut the turn.
- Whisper often writes Mandarin in traditional characters. A simplified-Chinese
  ``initial_prompt`` steers it to simplified; whatever still comes out traditional is
  converted with OpenCC's t2s tables, because the NLU and the catalog are simplified.
- Hints bias without excluding anything (unlike a Vosk grammar): they go in twice, as
  ``hotwords`` and named in the prompt ("…，关于敬老卡、路灯。"). Measured on the test
  speech, either alone misses names the pair gets (敬老卡 over 8 kHz μ-law, 补办, 路灯).
  They are meant as the answers expected in this turn; a whole catalog's worth (more than
  ``MAX_HINT_CHARS``) is ignored, because it would crowd out the answer and bias towards
  whichever phrases happened to come first.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from voice.audio import Audio
from voice.errors import AudioFormatError, ModelMissing, RecognizerError
from voice.ports import Transcript

WHISPER_RATE = 16000
MODEL_LAYOUT = ("model.bin", "config.json", "tokenizer.json")
WHISPER_SETTING = "LIANGWANG_WHISPER_MODEL"
WHISPER_FIX = "liangwang models fetch whisper-base"
# Simplified-Chinese context: Whisper continues in the script and register of its prompt.
DEFAULT_PROMPT = "以下是普通话的句子。"
# With hints, the same context naming them; {} is the hints joined with 、.
DEFAULT_HINT_PROMPT = "以下是普通话的句子，关于{}。"
_MIN_SECONDS = 0.1  # shorter than a syllable: nothing to hear, don't spend a second on it
# Hints go into both the prompt and the hotwords, and every prompt token is one the answer
# cannot use (448 in all). 120 characters (the 16 districts in full and short form) come
# to about 350 prompt tokens. A longer list is a vocabulary, not the expected answers: it
# is ignored rather than cut at an arbitrary phrase.
MAX_HINT_CHARS = 120

log = logging.getLogger(__name__)

_models: dict[tuple[Path, str, int], Any] = {}
_models_lock = threading.Lock()


def default_cpu_threads() -> int:
    # CTranslate2 gains little past 4 threads for the base model; leave cores for others.
    return max(1, min(4, os.cpu_count() or 1))


def load_model(path: Path, *, compute_type: str = "int8", cpu_threads: int = 0) -> Any:
    """The Whisper model in folder ``path``, loaded once per process and shared."""
    key = (path.resolve(), compute_type, cpu_threads or default_cpu_threads())
    with _models_lock:
        model = _models.get(key)
        if model is None:
            missing = [name for name in MODEL_LAYOUT if not (key[0] / name).is_file()]
            if missing:
                raise ModelMissing(
                    f"Whisper model at {key[0]} is missing or incomplete (no {', '.join(missing)})",
                    setting=WHISPER_SETTING,
                    fix=WHISPER_FIX,
                )
            from faster_whisper import WhisperModel  # heavy: imported by Whisper users only

            try:
                model = WhisperModel(
                    str(key[0]),
                    device="cpu",
                    compute_type=compute_type,
                    cpu_threads=key[2],
                    local_files_only=True,  # never reach for the network, even by mistake
                )
            except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError variants
                raise ModelMissing(
                    f"Whisper model at {key[0]} could not be loaded ({exc}); it may be corrupt",
                    setting=WHISPER_SETTING,
                    fix=WHISPER_FIX,
                ) from exc
            _models[key] = model
        return model


@cache
def _t2s() -> Any:
    from opencc import OpenCC

    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    converted: str = _t2s().convert(text)
    return converted


class WhisperRecognizer:
    """``SpeechRecognizer`` backed by a faster-whisper model folder."""

    name = "whisper"

    def __init__(
        self,
        model_dir: Path,
        *,
        compute_type: str = "int8",
        cpu_threads: int | None = None,
        beam_size: int = 1,
        initial_prompt: str = DEFAULT_PROMPT,
        hint_prompt: str = DEFAULT_HINT_PROMPT,
        language: str = "zh",
    ) -> None:
        if beam_size < 1:
            raise ValueError("beam_size must be at least 1")
        self.model_dir = Path(model_dir)
        self.compute_type = compute_type
        self.cpu_threads = cpu_threads or default_cpu_threads()
        # 1 (greedy) is the default: every extra beam adds decoder work to every turn, and
        # greedy decoding hears the test speech (tests/unit/test_stt_engines.py).
        self.beam_size = beam_size
        self.initial_prompt = initial_prompt
        self.hint_prompt = hint_prompt
        self.language = language
        self._warned_long_hints = False

    def load(self) -> Any:
        """Load the model now (at start-up) instead of on the first caller's turn."""
        return load_model(
            self.model_dir, compute_type=self.compute_type, cpu_threads=self.cpu_threads
        )

    def start(self, rate: int, hints: Sequence[str] = ()) -> WhisperStream:
        if rate not in (8000, 16000):
            raise AudioFormatError(f"Whisper recognizer accepts 8000 or 16000 Hz, not {rate} Hz")
        self.load()  # a missing model fails at the start of the turn, not after it
        return WhisperStream(self, rate, tuple(hints))

    def transcribe(self, audio: Audio, hints: Sequence[str] = ()) -> Transcript:
        """One whole utterance to text."""
        if audio.duration_s < _MIN_SECONDS or not audio.samples().any():
            return Transcript("", 0.0)
        samples = audio.resample(WHISPER_RATE).samples().astype(np.float32) / 32768.0
        phrases = self._usable_hints(hints)
        prompt = self.hint_prompt.format("、".join(phrases)) if phrases else self.initial_prompt
        try:
            segments, _info = self.load().transcribe(
                samples,
                language=self.language,
                task="transcribe",
                beam_size=self.beam_size,
                temperature=0.0,
                vad_filter=False,
                condition_on_previous_text=False,
                initial_prompt=prompt or None,
                hotwords=" ".join(phrases) or None,
                without_timestamps=True,
            )
            heard = [(s.text.strip(), s.avg_logprob, s.no_speech_prob) for s in segments]
        except ModelMissing:
            raise
        except Exception as exc:
            raise RecognizerError(f"Whisper failed: {exc}") from exc
        heard = [h for h in heard if h[0]]
        if not heard:
            return Transcript("", 0.0)
        text = to_simplified("".join(t for t, _, _ in heard))
        return Transcript(text, confidence_of(heard))

    def _usable_hints(self, hints: Sequence[str]) -> list[str]:
        phrases = list(dict.fromkeys(h.strip() for h in hints if h.strip()))
        if sum(len(p) + 1 for p in phrases) - 1 <= MAX_HINT_CHARS:
            return phrases
        if not self._warned_long_hints:
            self._warned_long_hints = True
            log.warning(
                "%d hints ignored: longer than %d characters in all; pass the answers "
                "expected in this turn",
                len(phrases),
                MAX_HINT_CHARS,
            )
        return []


def confidence_of(segments: Sequence[tuple[str, float, float]]) -> float:
    """Mean per-token probability (exp of avg_logprob), discounted by the chance that the
    segment is not speech at all, weighted by each segment's length."""
    total = sum(len(text) for text, _, _ in segments)
    if not total:
        return 0.0
    score = sum(
        len(text) * math.exp(logprob) * (1.0 - no_speech) for text, logprob, no_speech in segments
    )
    return min(max(score / total, 0.0), 1.0)


class WhisperStream:
    """Buffers one utterance; ``finish`` transcribes it."""

    def __init__(self, recognizer: WhisperRecognizer, rate: int, hints: tuple[str, ...]) -> None:
        self._recognizer = recognizer
        self._rate = rate
        self._hints = hints
        self._pcm = bytearray()
        self._result: Transcript | None = None

    def accept(self, pcm: bytes) -> None:
        if self._result is not None:
            raise RecognizerError("audio after finish(): start a new stream per utterance")
        if len(pcm) % 2:
            raise AudioFormatError("PCM length is not a whole number of 16-bit samples")
        self._pcm.extend(pcm)

    def preview(self) -> Transcript:
        """Transcribe what was heard so far without ending the utterance. The call loop
        starts this once the caller has been quiet a moment, so that when the patient
        end-of-turn silence is over the words are already known."""
        return self._recognizer.transcribe(Audio(bytes(self._pcm), self._rate), self._hints)

    def finish(self) -> Transcript:
        if self._result is None:
            audio = Audio(bytes(self._pcm), self._rate)
            self._result = self._recognizer.transcribe(audio, self._hints)
        return self._result
