"""Speech-recognition benchmarks: real-time factor and the wait after the caller stops, on
telephone audio (8 kHz μ-law), for Vosk (Korean model: the Vosk code path) and Whisper base
(Mandarin test speech)."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.stack import percentile
from voice.audio import Audio
from voice.model_check import vosk_ko_files
from voice.model_install import install_whisper_base
from voice.ports import SpeechRecognizer
from voice.stt_vosk import VoskRecognizer
from voice.stt_whisper import WhisperRecognizer

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def telephone(audio: Audio, rate: int) -> Audio:
    """``audio`` as a phone line delivers it: resampled, and through G.711 μ-law at 8 kHz."""
    return audio.over_telephone() if rate == 8000 else audio.resample(rate)


def measure_rtf(
    recognizer: SpeechRecognizer,
    wav_paths: Sequence[Path],
    rate: int = 8000,
    *,
    rounds: int = 1,
) -> dict[str, float]:
    """Feed each file in 20 ms frames, as the call loop does, and time it.

    ``real_time_factor``: processing time / audio duration (median over files and rounds;
    below 1 keeps up with the caller). ``finish_s``: time spent in ``finish()`` alone — the
    silence a caller hears after they stop talking, before the dialogue even starts."""
    clips = [telephone(Audio.from_wav(path), rate) for path in wav_paths]
    rtf: list[float] = []
    finish: list[float] = []
    for _ in range(rounds):
        for clip in clips:
            started = time.perf_counter()
            stream = recognizer.start(rate)
            for frame in clip.frames():
                stream.accept(frame)
            finishing = time.perf_counter()
            stream.finish()
            done = time.perf_counter()
            rtf.append((done - started) / clip.duration_s)
            finish.append(done - finishing)
    return {
        "files": len(clips),
        "audio_s": sum(clip.duration_s for clip in clips),
        "real_time_factor": statistics.median(rtf),
        "real_time_factor_p95": percentile(rtf, 0.95),
        "finish_s": statistics.median(finish),
        "finish_p95_s": percentile(finish, 0.95),
    }


def _timed_load(recognizer: VoskRecognizer | WhisperRecognizer) -> float:
    started = time.perf_counter()
    recognizer.load()
    return time.perf_counter() - started


def _seconds(paths: Sequence[Path]) -> str:
    durations = [Audio.from_wav(path).duration_s for path in paths]
    return f"{min(durations):.1f}-{max(durations):.1f} s" if durations else "none"


def run() -> list[str]:
    mandarin = sorted((FIXTURES / "voice").glob("*.wav"))
    korean = sorted((FIXTURES / "vosk_ko").glob("*.wav"))
    rows: list[tuple[str, float, dict[str, float]]] = []
    ko = vosk_ko_files()
    if ko is not None:
        vosk = VoskRecognizer(ko[0])
        load_s = _timed_load(vosk)
        for rate in (8000, 16000):
            rows.append(
                (f"Vosk, Korean model, {rate // 1000} kHz", load_s, measure_rtf(vosk, korean, rate))
            )
    with tempfile.TemporaryDirectory() as models:
        model_dir = install_whisper_base(Path(models) / "whisper-base")
        whisper = WhisperRecognizer(model_dir)
        load_s = _timed_load(whisper)
        for rate in (8000, 16000):
            rows.append(
                (
                    f"Whisper base int8, beam 1, {rate // 1000} kHz",
                    load_s,
                    measure_rtf(whisper, mandarin, rate),
                )
            )
        full_window = WhisperRecognizer(model_dir, short_window=None)
        rows.append(
            (
                "… 8 kHz, always the full 30 s encoder window (before)",
                load_s,
                measure_rtf(full_window, mandarin, 8000),
            )
        )
    lines = [
        "## Speech recognition",
        "",
        "Each clip fed in 20 ms frames; 8 kHz goes through G.711 μ-law. Mandarin: "
        f"{len(mandarin)} test clips of {_seconds(mandarin)}; Korean: {len(korean)} espeak-ng "
        f"clips of {_seconds(korean)}. Whisper transcribes when the turn ends, so all of its "
        "time is a wait; its encoder sees the turn in a 15 s window instead of the full "
        "30 s one, and decodes again in the full window when unsure (voice/stt_whisper.py). "
        "The call loop starts that decode during the caller's closing silence.",
        "",
        "| | load | real-time factor, median (p95) | wait after speech, median (p95) |",
        "|---|---|---|---|",
    ]
    for name, load_s, result in rows:
        lines.append(
            f"| {name} | {load_s:.1f} s | {result['real_time_factor']:.2f} "
            f"({result['real_time_factor_p95']:.2f}) | {result['finish_s'] * 1000:.0f} ms "
            f"({result['finish_p95_s'] * 1000:.0f} ms) |"
        )
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
