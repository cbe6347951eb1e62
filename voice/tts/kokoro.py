"""Kokoro-82M v1.0: the natural Mandarin voice, run inside a speech worker process.

Text becomes audio in four steps, all inside the worker (``KokoroVoice``):

1. numbers are written out as people say them (``read_numbers``): the G2P would read a
   phone number as one large quantity and a year as "two thousand and twenty-four";
2. misaki's Mandarin G2P turns characters into phonemes with tone arrows;
3. the phonemes become the model's vocabulary ids, cut at punctuation into pieces of at
   most ``MAX_IDS`` (the model's limit);
4. the ONNX model speaks each piece with the speaker's style row for that piece's length.

Why a worker process (``voice.tts.worker``, as for espeak): synthesis costs 0.5-1 CPU-s per
second of speech and the model holds about 300 MB, so it must never run on the call's event
loop, and a worker that hangs or dies is replaced without taking the phone line with it.
One worker serves both speeds: speed is an input of the model, so the slow speech a caller
asks for is the same voice at another speed and needs no second model in memory. Requests
to the worker are therefore ``[speed, text]`` in JSON (the worker passes strings).

Installing and checking the model folder is ``voice.model_install`` / ``voice.model_check``
(``liangwang models fetch kokoro-zh``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liangwang.settings import TtsSpeaker
from voice.audio import Audio
from voice.model_specs import KOKORO_MODEL_FILE, KOKORO_ZH, kokoro_voice_path
from voice.speech_text import is_speakable, read_numbers
from voice.tts.espeak import Backend, VoiceSettings
from voice.tts.sentences import speak_sentences
from voice.tts.worker import SpeechWorker, audio_from_worker

SAMPLE_RATE = 24000  # the model's output rate
MAX_IDS = 510  # phoneme ids the model takes between its two pad tokens
STYLE_DIM = 256  # one row of a speaker's style table
PAD = 0  # the id the model expects before and after every piece
# The model's speed input for normal speech: 4.5-5 syllables a second while speaking for
# zf_xiaoxiao (measured, pauses excluded), an everyday conversational pace. Callers who say
# 说慢一点 get LIANGWANG_TTS_SLOW_SPEED (0.8: about 3.7 syllables a second).
NORMAL_SPEED = 1.0
SLOW_SPEED = 0.8
# One onnxruntime thread per worker: on 2 cores two threads were slower per second of
# speech (0.7 against 0.53 CPU-s) while the recogniser or another call needs the other core.
THREADS = 1
# Bump when text handling changes what a text sounds like, so older cached WAVs are not used.
KOKORO_VERSION = 1
# Spoken once when a worker starts: proves the model, vocabulary and speaker work together.
PROBE_TEXT = "你好"

# misaki writes Chinese punctuation as ASCII; a long text is cut after one of these.
_CLAUSE_END = re.compile(r"(?<=[.,!?;:])")
_SPACE_ID_CHAR = " "

# What the model does with one piece: (tokens [1, n+2] int64, style [1, 256] float32,
# speed [1] float32) -> audio samples at 24 kHz, float32 in -1..1.
RunModel = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
G2P = Callable[[str], str]


def encode_request(text: str, speed: float) -> str:
    return json.dumps([speed, text], ensure_ascii=False)


def decode_request(request: str) -> tuple[str, float]:
    speed, text = json.loads(request)
    return str(text), float(speed)


def split_ids(phonemes: str, vocab: Mapping[str, int], limit: int) -> list[list[int]]:
    """The phonemes as vocabulary ids in pieces of at most ``limit``: whole clauses packed
    together, a clause longer than the limit cut at a word break (a space), else hard.
    Symbols outside the vocabulary (misaki's mark for an unknown character) are dropped."""
    space = vocab.get(_SPACE_ID_CHAR)
    pieces: list[list[int]] = []
    current: list[int] = []
    for clause in _CLAUSE_END.split(phonemes):
        ids = [vocab[symbol] for symbol in clause if symbol in vocab]
        while len(ids) > limit:
            window = ids[:limit]
            cut = max((i for i, v in enumerate(window) if v == space), default=0) or limit
            if current:
                pieces.append(current)
                current = []
            pieces.append(ids[:cut])
            ids = ids[cut:]
        if current and len(current) + len(ids) > limit:
            pieces.append(current)
            current = []
        current += ids
    if current:
        pieces.append(current)
    return [piece for piece in pieces if any(v != space for v in piece)]


def to_pcm16(samples: np.ndarray) -> bytes:
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    return (clipped * 32767.0).round().astype("<i2").tobytes()


class KokoroVoice:
    """Text to audio with one speaker. Lives inside the worker; the parts are injected so
    tests can watch what reaches the G2P and the model without loading either."""

    def __init__(
        self, *, g2p: G2P, vocab: Mapping[str, int], styles: np.ndarray, run: RunModel
    ) -> None:
        if styles.ndim != 3 or styles.shape[1:] != (1, STYLE_DIM):
            raise ValueError(f"a speaker's style table must be (n, 1, {STYLE_DIM}): {styles.shape}")
        self.g2p = g2p
        self.vocab = vocab
        self.styles = styles
        self.run = run
        # The style row is chosen by the piece's length, so a piece may not outgrow the table.
        self.limit = min(MAX_IDS, len(styles) - 1)

    @classmethod
    def load(cls, model_dir: Path, speaker: str, *, threads: int, workdir: Path) -> KokoroVoice:
        vocab = json.loads((model_dir / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        raw = np.fromfile(model_dir / kokoro_voice_path(speaker), dtype="<f4")
        if raw.size == 0 or raw.size % STYLE_DIM:
            raise ValueError(f"{kokoro_voice_path(speaker)} is not a style table")
        styles = raw.reshape(-1, 1, STYLE_DIM)
        return cls(
            g2p=mandarin_g2p(workdir),
            vocab={str(k): int(v) for k, v in vocab.items()},
            styles=styles,
            run=onnx_model(model_dir / KOKORO_MODEL_FILE, threads),
        )

    def pieces(self, text: str) -> list[list[int]]:
        phonemes = self.g2p(read_numbers(text).strip())
        return split_ids(phonemes, self.vocab, self.limit)

    def speak(self, text: str, speed: float) -> Audio:
        chunks = [
            self.run(
                np.array([[PAD, *ids, PAD]], dtype=np.int64),
                self.styles[len(ids)],
                np.array([speed], dtype=np.float32),
            ).reshape(-1)
            for ids in self.pieces(text)
        ]
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        return Audio(to_pcm16(samples), SAMPLE_RATE)


def mandarin_g2p(workdir: Path) -> G2P:
    """misaki's Mandarin G2P. Its default (legacy) mode is the one Kokoro v1.0 was trained
    with; ``version="1.1"`` belongs to the later zh-only model and needs extra data."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    # jieba caches its dictionary in the shared temporary folder by default; the worker's
    # private folder costs a second at start and trusts no file another user could write.
    jieba.dt.tmp_dir = str(workdir)
    from misaki.zh import ZHG2P

    g2p = ZHG2P()
    return lambda text: str(g2p(text)[0]) if text else ""


def onnx_model(path: Path, threads: int) -> RunModel:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: its warnings are about graph details
    session = ort.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )

    def run(tokens: np.ndarray, style: np.ndarray, speed: np.ndarray) -> np.ndarray:
        outputs = session.run(None, {"tokens": tokens, "style": style, "speed": speed})
        return np.asarray(outputs[0], dtype=np.float32)

    return run


@dataclass(frozen=True)
class KokoroBackend:
    """What the worker runs (a ``Backend``): loads the voice, speaks the probe, then answers
    ``[speed, text]`` requests with WAV bytes. A frozen dataclass so ``spawn`` can pickle it."""

    model_dir: Path
    speaker: str
    threads: int = THREADS

    def __call__(self, _label: VoiceSettings, workdir: Path) -> Callable[[str], bytes]:
        voice = KokoroVoice.load(
            self.model_dir, self.speaker, threads=self.threads, workdir=workdir
        )

        def speak(request: str) -> bytes:
            text, speed = decode_request(request)
            return voice.speak(text, speed).to_wav()

        speak(encode_request(PROBE_TEXT, NORMAL_SPEED))  # fail at start, not on a caller
        return speak


class KokoroSynthesizer:
    """``SpeechSynthesizer`` speaking Mandarin with Kokoro-82M in a worker process.

    Output is ``Audio`` at 24 kHz; callers resample. Thread-safe: requests are served one
    after another by the worker. The worker starts on first use, or at once with ``start()``
    (a few seconds: imports, the model, the G2P's dictionary).
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        speaker: str = TtsSpeaker.zf_xiaoxiao.value,
        speed: float = NORMAL_SPEED,
        slow_speed: float = SLOW_SPEED,
        threads: int = THREADS,
        timeout_s: float = 60.0,
        start_timeout_s: float = 120.0,
        backend: Backend | None = None,
    ) -> None:
        self.model_dir = model_dir
        self.speaker = speaker
        self.speed = speed
        self.slow_speed = slow_speed
        # The worker labels its process with these settings; Kokoro's own travel in the backend.
        label = VoiceSettings(voice=f"kokoro/{speaker}")
        self._worker = SpeechWorker(
            label, backend or KokoroBackend(model_dir, speaker, threads), timeout_s, start_timeout_s
        )

    @property
    def identity(self) -> str:
        """What decides how a text sounds; part of every cache key."""
        model = next(f.sha256 for f in KOKORO_ZH.files if f.path == KOKORO_MODEL_FILE)
        return json.dumps(
            ["kokoro", KOKORO_VERSION, model, self.speaker, self.speed, self.slow_speed]
        )

    @property
    def worker_starts(self) -> int:
        return self._worker.starts

    def start(self) -> None:
        """Start the worker now and let it speak its probe: raises ``SynthesizerError`` when
        the model cannot be loaded."""
        self._worker.start()

    def synthesize(self, text: str, *, slow: bool = False) -> Audio:
        if not is_speakable(text):
            return Audio(b"", SAMPLE_RATE)  # punctuation or nothing: nothing to say
        speed = self.slow_speed if slow else self.speed
        return audio_from_worker(self._worker.request(encode_request(text, speed)), text)

    def synthesize_sentences(self, text: str, *, slow: bool = False) -> Iterator[Audio]:
        return speak_sentences(self, text, slow=slow)

    def close(self) -> None:
        self._worker.close()

    def __enter__(self) -> KokoroSynthesizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
