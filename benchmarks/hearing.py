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
) -> tuple[list[tuple[str, str]], list[float]]:
    """(expected, heard) pairs and the wait after each clip: fed in 20 ms frames as the call
    loop feeds them, then finished."""
    known = RecognitionHints()
    pairs: list[tuple[str, str]] = []
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
    return pairs, waits


def escapes_heard(pairs: list[tuple[str, str]]) -> str:
    """How many of the always-on phrases (转人工, 再说一遍, 说慢一点) came through whole."""
    spoken = [(said, heard) for said, heard in pairs if said in ALWAYS]
    whole = sum(1 for said, heard in spoken if said in heard)
    return f"{whole}/{len(spoken)}"


def run() -> list[str]:
    samples = clips()
    rows = []
    with tempfile.TemporaryDirectory() as models:
        model_dir = install_whisper_base(Path(models) / "whisper-base")
        for beam in BEAMS:
            recognizer = WhisperRecognizer(model_dir, beam_size=beam)
            recognizer.load()
            for hinted in (False, True):
                pairs, waits = hear(recognizer, samples, hinted=hinted)
                rows.append(
                    f"| beam {beam}, {'with the line’s hints' if hinted else 'no hints'} "
                    f"| {character_error_rate(pairs):.1%} | {escapes_heard(pairs)} "
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
        "| setting | character error rate | escape phrases heard whole | wait after speech, "
        "median (p95) |",
        "|---|---|---|---|",
        *rows,
    ]


if __name__ == "__main__":
    print("\n".join(run()))
