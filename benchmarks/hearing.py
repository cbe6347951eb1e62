"""Recognition accuracy on the phone line: Whisper base with beam 1 and beam 5, with and
without the phone line's hints, on the natural test speech through 8 kHz μ-law.

The character error rate says how well each setting hears; the wait after speech says what
it costs (the decode that runs once the caller stops, before the dialogue can answer).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.cer import character_error_rate
from benchmarks.stack import percentile
from liangwang.conversation import Expect
from liangwang.settings import Settings
from voice.audio import Audio
from voice.hints import ALWAYS, RecognitionHints
from voice.model_install import install_whisper_base
from voice.stt_whisper import WhisperRecognizer

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "voice"
# What the dialogue expects when a caller gives these answers (custom.expect in the domain).
EXPECTED_KIND = {
    "shi": Expect.yes_no, "dui": Expect.yes_no, "duiduidui": Expect.yes_no,
    "budui": Expect.yes_no, "buduibudui": Expect.yes_no, "jingan": Expect.district,
}  # fmt: skip
BEAMS = (1, 5)


def clips() -> list[tuple[str, str, Audio]]:
    manifest = yaml.safe_load((FIXTURES / "manifest.yml").read_text(encoding="utf-8"))
    return [
        (name, entry["text"], Audio.from_wav(FIXTURES / entry["file"]).over_telephone())
        for name, entry in manifest.items()
    ]


def hear(
    recognizer: WhisperRecognizer, samples: list[tuple[str, str, Audio]], *, hinted: bool
) -> tuple[list[tuple[str, str]], list[float], list[float]]:
    """(expected, heard) pairs, the recogniser's confidence and the wait after each clip:
    fed in 20 ms frames as the call loop feeds them, then finished."""
    known = RecognitionHints()
    pairs: list[tuple[str, str]] = []
    confidences: list[float] = []
    waits: list[float] = []
    for name, text, audio in samples:
        hints = known.for_turn(EXPECTED_KIND.get(name)) if hinted else ()
        stream = recognizer.start(audio.rate, hints)
        for frame in audio.frames():
            stream.accept(frame)
        started = time.perf_counter()
        heard = stream.finish()
        waits.append(time.perf_counter() - started)
        pairs.append((text, heard.text))
        confidences.append(heard.confidence)
    return pairs, confidences, waits


def escapes_heard(pairs: list[tuple[str, str]], confidences: list[float]) -> str:
    """How many of the always-on phrases (转人工, 再说一遍, 说慢一点) came through whole and
    sure enough to act on (the call loop asks again below LIANGWANG_VOICE_MIN_CONFIDENCE)."""
    floor = Settings().voice_min_confidence
    spoken = [
        (said, heard, sure)
        for (said, heard), sure in zip(pairs, confidences, strict=True)
        if said in ALWAYS
    ]
    acted_on = sum(1 for said, heard, sure in spoken if said in heard and sure >= floor)
    return f"{acted_on}/{len(spoken)}"


def run() -> list[str]:
    samples = clips()
    rows = []
    with tempfile.TemporaryDirectory() as models:
        model_dir = install_whisper_base(Path(models) / "whisper-base")
        for beam in BEAMS:
            recognizer = WhisperRecognizer(model_dir, beam_size=beam)
            recognizer.load()
            for hinted in (False, True):
                pairs, confidences, waits = hear(recognizer, samples, hinted=hinted)
                rows.append(
                    f"| beam {beam}, {'with the line’s hints' if hinted else 'no hints'} "
                    f"| {character_error_rate(pairs):.1%} | {escapes_heard(pairs, confidences)} "
                    f"| {statistics.median(waits) * 1000:.0f} ms "
                    f"({percentile(waits, 0.95) * 1000:.0f} ms) |"
                )
    return [
        "## Hearing: Whisper beam 1 and beam 5",
        "",
        f"The {len(samples)} natural test clips (tests/fixtures/voice) through 8 kHz μ-law, "
        "fed in 20 ms frames; character error rate over all clips (figures read as the "
        "characters said). Hints: what the phone line passes when the dialogue expects a "
        "yes/no or a district (voice/hints.py), nothing for open questions. The wait is "
        "the decode after the clip ends, without the call loop's preview decode (the Phone "
        "line section measures the whole reply).",
        "",
        "| setting | character error rate | escape phrases heard whole and above the "
        "confidence floor | wait after speech, "
        "median (p95) |",
        "|---|---|---|---|",
        *rows,
    ]


if __name__ == "__main__":
    print("\n".join(run()))
