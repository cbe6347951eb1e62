"""Speech-to-text with Whisper (faster-whisper / CTranslate2 on the CPU), no network.

Whisper is not a streaming recogniser: the stream buffers the utterance and ``finish``
transcribes it in one go (resampled to 16 kHz, the model's rate). It hears natural Mandarin
well, also after the telephone's 8 kHz μ-law; a short turn costs about half a second on two
cores (see the encoder window below).

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
- The encoder sees only the part of its 30 s window that holds the turn (at least
  ``SHORT_WINDOW_FRAMES``, 15 s), not the silence after it: a phone turn is a few
  seconds, and encoding 30 s costs about three times as much as 15 s on two cores. The
  model was trained on full windows, so an answer it is unsure of (Whisper's own
  ``log_prob_threshold``, -1.0) is decoded again with the full window. Measured on the
  test speech: the same words, in about 0.45 s instead of 1.2 s.
- The answer may not be longer than the turn could hold (``TOKENS_PER_SECOND``):
  Whisper sometimes repeats a word until its 448 tokens run out ("对对对对…"), which
  would keep a caller waiting seconds for nothing.
"""

from __future__ import annotations

import contextvars
import logging
import math
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from liangwang.settings import SttEngine
from voice.audio import Audio
from voice.errors import AudioFormatError, ModelMissing, RecognizerError
from voice.model_loading import SharedModels
from voice.ports import Transcript

WHISPER_RATE = 16000
# Simplified-Chinese context: Whisper continues in the script and register of its prompt.
DEFAULT_PROMPT = "以下是普通话的句子。"
# With hints, the same context naming them; {} is the hints joined with 、.
DEFAULT_HINT_PROMPT = "以下是普通话的句子，关于{}。"
# With a vocabulary (an open turn), the context that some of these words may come up.
DEFAULT_VOCABULARY_PROMPT = "以下是普通话的句子，可能说到{}。"
_MIN_SECONDS = 0.1  # shorter than a syllable: nothing to hear, don't spend a second on it
# Hints go into both the prompt and the hotwords, and every prompt token is one the answer
# cannot use (448 in all). 120 characters (the 16 districts in full and short form) come
# to about 350 prompt tokens. A longer list is a vocabulary, not the expected answers: it
# is ignored rather than cut at an arbitrary phrase.
MAX_HINT_CHARS = 120
# A vocabulary goes into the prompt only (as hotwords it would be heard in noise): half the
# tokens of hints (about 1.4 tokens a character: 160 characters come to some 220 tokens),
# so a longer list fits and a long request still has room.
MAX_VOCABULARY_CHARS = 160
# The encoder's window, in 10 ms feature frames. faster-whisper pads the features of a
# short turn with zeros up to the full 3000; the short window keeps the turn, a second of
# that padding, and never less than 15 s (shorter windows lose short answers: 转人工).
FULL_WINDOW_FRAMES = 3000
SHORT_WINDOW_FRAMES = 1500
WINDOW_MARGIN_FRAMES = 100
# Whisper's log_prob_threshold: below it the decoder was guessing (exp(-1) ≈ 0.37 per token).
UNSURE_LOGPROB = -1.0
# Fast Mandarin is 6-7 characters a second and a character is one to three tokens.
TOKENS_PER_SECOND = 15
TOKEN_ALLOWANCE = 20
_REPLACEMENT = "\ufffd"  # half a character: a multi-byte token cut off mid-way

log = logging.getLogger(__name__)

_models: SharedModels[Any] = SharedModels(SttEngine.whisper, "Whisper")
# The window for the decode running in this thread (None: the full window). A context
# variable, because calls share one model and decode at the same time.
_encoder_window: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "whisper_encoder_window", default=None
)


def encoder_window() -> int | None:
    """The window the decode running here asked for (None: the full window)."""
    return _encoder_window.get()


def trim_window(features: np.ndarray, min_frames: int) -> np.ndarray:
    """The window's features up to the end of the audio plus a margin, at least
    ``min_frames`` wide (never wider than given). The padding faster-whisper adds is exact
    zeros; a column of real log-mel features is all zero only by rare coincidence, and
    then at worst trailing silence is taken for padding."""
    heard = np.any(features != 0.0, axis=tuple(range(features.ndim - 1)))  # per column
    columns = np.flatnonzero(heard)
    used = int(columns[-1]) + 1 if columns.size else 0
    keep = max(min_frames, used + WINDOW_MARGIN_FRAMES)
    return features[..., :keep] if keep < features.shape[-1] else features


@cache
def _model_class() -> type:
    from faster_whisper import WhisperModel  # heavy: imported by Whisper users only

    class WindowedWhisperModel(WhisperModel):  # type: ignore[misc]
        """faster-whisper's model, encoding a shorter window when this decode asks."""

        def encode(self, features: np.ndarray) -> Any:
            window = encoder_window()
            if window is not None:
                features = trim_window(features, window)
            return super().encode(features)

    return WindowedWhisperModel


def default_cpu_threads() -> int:
    # CTranslate2 gains little past 4 threads for the base model; leave cores for others.
    return max(1, min(4, os.cpu_count() or 1))


def load_model(path: Path, *, compute_type: str = "int8", cpu_threads: int = 0) -> Any:
    """The Whisper model in folder ``path``, loaded once per process and shared."""
    threads = cpu_threads or default_cpu_threads()

    def open_model(folder: Path) -> Any:
        return _model_class()(
            str(folder),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=threads,
            local_files_only=True,  # never reach for the network, even by mistake
        )

    return _models.get(path, open_model, compute_type, threads)


@cache
def _t2s() -> Any:
    from opencc import OpenCC

    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    converted: str = _t2s().convert(text)
    return converted


class WhisperRecognizer:
    """``SpeechRecognizer`` on faster-whisper, given a model folder that ``make_recognizer``
    has checked (a folder that is not a Whisper model still fails with ``ModelMissing``)."""

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
        vocabulary_prompt: str = DEFAULT_VOCABULARY_PROMPT,
        language: str = "zh",
        short_window: int | None = SHORT_WINDOW_FRAMES,
    ) -> None:
        if beam_size < 1:
            raise ValueError("beam_size must be at least 1")
        self.model_dir = Path(model_dir)
        self.compute_type = compute_type
        self.cpu_threads = cpu_threads or default_cpu_threads()
        # The phone line passes LIANGWANG_WHISPER_BEAM_SIZE; 1 (greedy) is the cheapest, and
        # 5 hears whole utterances better (docs/benchmarks.md, "Hearing").
        self.beam_size = beam_size
        self.initial_prompt = initial_prompt
        self.hint_prompt = hint_prompt
        self.vocabulary_prompt = vocabulary_prompt
        self.language = language
        # None: always the full 30 s window (for comparison; slower on every short turn).
        self.short_window = short_window
        self._warned_long_hints = False

    def load(self) -> Any:
        """Load the model now (at start-up) instead of on the first caller's turn."""
        return load_model(
            self.model_dir, compute_type=self.compute_type, cpu_threads=self.cpu_threads
        )

    def start(
        self, rate: int, hints: Sequence[str] = (), vocabulary: Sequence[str] = ()
    ) -> WhisperStream:
        if rate not in (8000, 16000):
            raise AudioFormatError(f"Whisper recognizer accepts 8000 or 16000 Hz, not {rate} Hz")
        self.load()  # a missing model fails at the start of the turn, not after it
        return WhisperStream(self, rate, tuple(hints), tuple(vocabulary))

    def transcribe(
        self, audio: Audio, hints: Sequence[str] = (), vocabulary: Sequence[str] = ()
    ) -> Transcript:
        """One whole utterance to text."""
        if audio.duration_s < _MIN_SECONDS or not audio.samples().any():
            return Transcript("", 0.0)
        samples = audio.resample(WHISPER_RATE).samples().astype(np.float32) / 32768.0
        phrases = self._usable_hints(hints)
        if phrases:
            prompt = self.hint_prompt.format("、".join(phrases))
        elif vocabulary and (words := _within(vocabulary, MAX_VOCABULARY_CHARS)):
            prompt = self.vocabulary_prompt.format("、".join(words))
        else:
            prompt = self.initial_prompt
        hotwords = " ".join(phrases)
        budget = self._answer_budget(audio.duration_s, prompt, hotwords)
        heard = self._decode(samples, prompt, hotwords, budget, self.short_window)
        if self.short_window is not None and not _sure(heard):
            heard = self._decode(samples, prompt, hotwords, budget, None)
        heard = [h for h in heard if h[0]]
        if not heard:
            return Transcript("", 0.0)
        text = to_simplified("".join(t for t, _, _ in heard))
        return Transcript(text, confidence_of(heard))

    def _decode(
        self, samples: np.ndarray, prompt: str, hotwords: str, budget: int, window: int | None
    ) -> list[tuple[str, float, float]]:
        """(text, avg_logprob, no_speech_prob) per segment, the encoder seeing ``window``
        frames (None: the full window)."""
        token = _encoder_window.set(window)
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
                hotwords=hotwords or None,
                without_timestamps=True,
                max_new_tokens=budget,
            )
            # Segments are decoded lazily: read them while the window is set.
            return [(s.text.strip(), s.avg_logprob, s.no_speech_prob) for s in segments]
        except ModelMissing:
            raise
        except Exception as exc:
            raise RecognizerError(f"Whisper failed: {exc}") from exc
        finally:
            _encoder_window.reset(token)

    def _answer_budget(self, seconds: float, prompt: str, hotwords: str) -> int:
        """Tokens the answer may take: what the turn could hold, within what the decoder's
        context leaves after the prompt (start-of-previous, hotwords, prompt, then the
        start, language, task and no-timestamps tokens)."""
        model = self.load()
        tokenizer = model.hf_tokenizer
        prompt_tokens = 5 + sum(
            len(tokenizer.encode(" " + text, add_special_tokens=False).ids)
            for text in (prompt, hotwords)
            if text
        )
        wanted = TOKEN_ALLOWANCE + math.ceil(seconds * TOKENS_PER_SECOND)
        # max_length: the decoder's context (448), prompt and answer together.
        return max(1, min(wanted, int(model.max_length) - prompt_tokens - 1))

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


def _within(words: Sequence[str], max_chars: int) -> list[str]:
    """The words in order, as many as fit in ``max_chars`` joined with 、."""
    kept: list[str] = []
    used = -1
    for word in dict.fromkeys(w.strip() for w in words if w.strip()):
        if used + 1 + len(word) > max_chars:
            break
        kept.append(word)
        used += 1 + len(word)
    return kept


def _sure(segments: Sequence[tuple[str, float, float]]) -> bool:
    """Whether a short-window decode can stand: words, no cut-off character, and no
    segment the decoder was guessing at."""
    return (
        any(text for text, _, _ in segments)
        and all(logprob >= UNSURE_LOGPROB for _, logprob, _ in segments)
        and not any(_REPLACEMENT in text for text, _, _ in segments)
    )


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

    def __init__(
        self,
        recognizer: WhisperRecognizer,
        rate: int,
        hints: tuple[str, ...],
        vocabulary: tuple[str, ...] = (),
    ) -> None:
        self._recognizer = recognizer
        self._rate = rate
        self._hints = hints
        self._vocabulary = vocabulary
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
        audio = Audio(bytes(self._pcm), self._rate)
        return self._recognizer.transcribe(audio, self._hints, self._vocabulary)

    def finish(self) -> Transcript:
        if self._result is None:
            audio = Audio(bytes(self._pcm), self._rate)
            self._result = self._recognizer.transcribe(audio, self._hints, self._vocabulary)
        return self._result
