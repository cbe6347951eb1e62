"""Text-to-speech benchmarks: how soon a caller hears the first sentence, and how long each
sentence takes, for espeak-ng in its worker process, cold and through the cache."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.stack import percentile
from voice.ports import SpeechSynthesizer
from voice.speech_text import split_sentences
from voice.tts import CachedSynthesizer, EspeakSynthesizer, speak_sentences

# Replies of the length the dialogue gives, with the numbers it reads out.
TEXTS = [
    "您好，这里是良旺助手。请问有什么可以帮您？",
    "对不起，我没听清楚。请您再说一遍，或者按零转人工。",
    "办理居住证需要带身份证、租房合同和一张照片。您可以到街道社区事务受理服务中心办理，"
    "工作时间是9:00-17:00。",
    "好的，我已经帮您登记了路灯损坏的问题。您的工单号是20240501001，请记好。",
    "请问是在哪个区？比如杨浦区、普陀区。",
    "您反映的问题会在1-3个工作日内处理，处理结果会打电话告诉您。还有别的事吗？",
]


def measure_tts(
    synth: SpeechSynthesizer, texts: Sequence[str], *, slow: bool = False
) -> dict[str, float]:
    """Medians over ``texts``: seconds until the first sentence's audio is ready, seconds
    per sentence, and the real-time factor (synthesis time / audio time)."""
    first: list[float] = []
    per_sentence: list[float] = []
    busy = audio_s = 0.0
    for text in texts:
        started = last = time.perf_counter()
        for index, audio in enumerate(speak_sentences(synth, text, slow=slow)):
            now = time.perf_counter()
            if index == 0:
                first.append(now - started)
            per_sentence.append(now - last)
            audio_s += audio.duration_s
            last = now
        busy += last - started
    return {
        "texts": len(texts),
        "sentences": len(per_sentence),
        "first_audio_s": statistics.median(first),
        "first_audio_p95_s": percentile(first, 0.95),
        "per_sentence_s": statistics.median(per_sentence),
        "audio_s": audio_s,
        "real_time_factor": busy / audio_s if audio_s else 0.0,
    }


def _syllables_per_s(synth: EspeakSynthesizer, *, slow: bool) -> float:
    text = TEXTS[0]
    hanzi = sum("\u4e00" <= ch <= "\u9fff" for ch in text)
    return hanzi / synth.synthesize(text, slow=slow).duration_s


def run() -> list[str]:
    texts = TEXTS * 5
    sentences = sum(len(split_sentences(text)) for text in TEXTS)
    with EspeakSynthesizer() as synth, tempfile.TemporaryDirectory() as cache_dir:
        started = time.perf_counter()
        synth.start()
        start_s = time.perf_counter() - started
        rows = [
            ("espeak-ng, normal", measure_tts(synth, texts)),
            ("espeak-ng, slow", measure_tts(synth, texts, slow=True)),
        ]
        cache = CachedSynthesizer(synth, Path(cache_dir))
        rows.append(("cache, not prepared (made, not kept)", measure_tts(cache, TEXTS)))
        cache.warm(TEXTS)
        rows.append(("cache, prepared (hit)", measure_tts(cache, texts)))
        pace = (_syllables_per_s(synth, slow=False), _syllables_per_s(synth, slow=True))
    lines = [
        "## Text-to-speech",
        "",
        f"pyttsx3 + espeak-ng voice `{synth.normal.voice}` in worker processes; "
        f"{len(TEXTS)} typical replies ({sentences} sentences), each 5 times. "
        f"Both workers start in {start_s:.2f} s.",
        f"Pace: {synth.normal.rate_wpm} wpm ≈ {pace[0]:.1f} syllables/s, "
        f"slow {synth.slow.rate_wpm} wpm ≈ {pace[1]:.1f} syllables/s.",
        "",
        "| | first sentence ready, median (p95) | per sentence, median | real-time factor |",
        "|---|---|---|---|",
    ]
    for name, result in rows:
        lines.append(
            f"| {name} | {result['first_audio_s'] * 1000:.0f} ms "
            f"({result['first_audio_p95_s'] * 1000:.0f} ms) | "
            f"{result['per_sentence_s'] * 1000:.0f} ms | {result['real_time_factor']:.3f} |"
        )
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
