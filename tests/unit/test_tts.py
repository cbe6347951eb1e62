"""Text-to-speech: real espeak-ng through pyttsx3 in its worker, the cache, and the text
preparation (numbers, sentences)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from liangwang.settings import Settings, TtsEngine
from voice.app import build_synthesizer
from voice.audio import Audio
from voice.errors import ModelMissing, SynthesizerError
from voice.speech_text import read_numbers, split_sentences
from voice.tts import (
    ESPEAK_RATE_HZ,
    NORMAL_WPM,
    VOICE_ID,
    CachedSynthesizer,
    EspeakSynthesizer,
    VoiceSettings,
)
from voice.tts.espeak import pyttsx3_backend
from voice.tts.worker import WORKER_NICENESS, SpeechWorker

WELCOME = "您好，这里是良旺助手。请问有什么可以帮您？"


@pytest.fixture(scope="module")
def synth() -> Iterator[EspeakSynthesizer]:
    with EspeakSynthesizer() as engine:
        yield engine


# --- real espeak-ng ------------------------------------------------------------------------


def test_the_mandarin_pinyin_voice_is_used() -> None:
    assert VOICE_ID == "sit/cmn-latn-pinyin"  # pyttsx3's id for espeak's cmn-Latn-pinyin


def test_a_missing_voice_fails_clearly() -> None:
    with (
        EspeakSynthesizer(voice="sit/no-such-voice") as engine,
        pytest.raises(ModelMissing, match="espeak-ng-data"),
    ):
        engine.synthesize("你好")


def test_speech_is_audible_and_plausibly_long(synth: EspeakSynthesizer) -> None:
    audio = synth.synthesize(WELCOME)
    assert audio.rate == ESPEAK_RATE_HZ
    assert audio.rms() > 1000
    syllables = 19
    assert 0.2 * syllables < audio.duration_s < 0.6 * syllables


def test_slow_is_noticeably_longer(synth: EspeakSynthesizer) -> None:
    normal = synth.synthesize(WELCOME)
    slow = synth.synthesize(WELCOME, slow=True)
    assert slow.duration_s > 1.2 * normal.duration_s
    assert slow.rms() > 1000


def test_digits_are_spoken_as_chinese_digits(synth: EspeakSynthesizer) -> None:
    written = synth.synthesize("工单号13812345678")
    spelled = synth.synthesize("工单号幺三八幺二三四五六七八")
    # espeak varies by a few samples between runs; the same words give the same length.
    assert written.duration_s == pytest.approx(spelled.duration_s, rel=0.02)


def test_nothing_to_say_gives_empty_audio(synth: EspeakSynthesizer) -> None:
    assert synth.synthesize("  。 ").pcm == b""


def test_sentences_are_synthesised_one_by_one(synth: EspeakSynthesizer) -> None:
    pieces = list(synth.synthesize_sentences(WELCOME + "好的。"))
    assert len(pieces) == 2
    assert all(piece.rms() > 1000 for piece in pieces)
    whole = synth.synthesize(WELCOME + "好的。")
    assert sum(p.duration_s for p in pieces) == pytest.approx(whole.duration_s, rel=0.15)


def test_concurrent_requests_from_threads(synth: EspeakSynthesizer) -> None:
    texts = ["您好。", "请问您住在哪个区？", "好的，我记下了。", "请您再说一遍。"]
    jobs = [(text, slow) for text in texts for slow in (False, True)]
    expected = {job: synth.synthesize(job[0], slow=job[1]).duration_s for job in jobs}
    jobs *= 3
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda job: synth.synthesize(job[0], slow=job[1]), jobs))
    # Each text at its own speed (slow is ~1.4x as long). Not to the sample: espeak's pauses
    # depend a little on the utterance before, which differs when requests interleave.
    for job, audio in zip(jobs, results, strict=True):
        assert audio.duration_s == pytest.approx(expected[job], rel=0.1)


# --- the worker's failures, with injected backends ------------------------------------------
# Module level so that the spawned worker can import them by name.


def _tone(text: str) -> bytes:
    t = np.arange(int(0.05 * len(text) * ESPEAK_RATE_HZ)) / ESPEAK_RATE_HZ
    samples = (8000 * np.sin(2 * np.pi * 220 * t)).astype("<i2")
    return Audio(samples.tobytes(), ESPEAK_RATE_HZ).to_wav()


def stalling_backend(settings: VoiceSettings, workdir: Path) -> Callable[[str], bytes]:
    def speak(text: str) -> bytes:
        if "卡住" in text:
            time.sleep(3600)  # like an espeak driver that never reports the end
        if "崩溃" in text:
            os._exit(3)
        return _tone(text)

    return speak


def broken_backend(settings: VoiceSettings, workdir: Path) -> Callable[[str], bytes]:
    raise RuntimeError("no audio device")


def test_a_hung_worker_times_out_and_the_next_request_works() -> None:
    with EspeakSynthesizer(backend=stalling_backend, timeout_s=1.0) as engine:
        assert engine.synthesize("你好").duration_s > 0
        started = time.monotonic()
        with pytest.raises(SynthesizerError, match="longer than 1 s"):
            engine.synthesize("卡住了")
        assert time.monotonic() - started < 5
        assert engine.synthesize("你好").duration_s > 0
        assert engine.worker_starts == 2


def test_a_dead_worker_is_restarted() -> None:
    with EspeakSynthesizer(backend=stalling_backend) as engine:
        with pytest.raises(SynthesizerError, match="died"):
            engine.synthesize("崩溃")
        assert engine.synthesize("你好").duration_s > 0
        assert engine.worker_starts == 2


def test_a_worker_that_cannot_start_is_an_error() -> None:
    with (
        EspeakSynthesizer(backend=broken_backend) as engine,
        pytest.raises(SynthesizerError, match="no audio device"),
    ):
        engine.synthesize("你好")


# --- cache ---------------------------------------------------------------------------------


class RecordingSynth:
    """Counts what reaches the engine; answers with a tone."""

    identity = "recording-v1"

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []
        self._lock = threading.Lock()

    def synthesize(self, text: str, *, slow: bool = False) -> Audio:
        with self._lock:
            self.calls.append((text, slow))
        time.sleep(0.01)  # long enough for concurrent callers to overlap
        return Audio.from_wav(_tone(text * (2 if slow else 1)))


def test_a_cache_hit_does_not_reach_the_engine(tmp_path: Path) -> None:
    inner = RecordingSynth()
    cache = CachedSynthesizer(inner, tmp_path)
    cache.warm(["请稍等。"])
    first = cache.synthesize("请稍等。")
    assert inner.calls == [("请稍等。", False)]
    cache.synthesize("请稍等。", slow=True)  # another speed is another entry
    assert len(inner.calls) == 2
    # A fresh cache over the same folder (a restarted service) still hits.
    assert CachedSynthesizer(inner, tmp_path).synthesize("请稍等。") == first
    assert len(inner.calls) == 2


def test_what_was_not_prepared_is_spoken_but_never_stored(tmp_path: Path) -> None:
    # A read-back holds the caller's phone number and words: it must not stay on disk.
    inner = RecordingSynth()
    cache = CachedSynthesizer(inner, tmp_path)
    readback = "电话，13812345678。"
    assert cache.synthesize(readback).duration_s > 0
    assert list(cache.synthesize_sentences(readback))
    assert len(inner.calls) == 2
    assert not cache.path(readback).exists()
    assert not list(tmp_path.rglob("*.wav"))


def test_the_key_covers_voice_and_rate_settings(tmp_path: Path) -> None:
    def cache(**settings: str | int) -> CachedSynthesizer:
        identity = EspeakSynthesizer(**settings).identity  # type: ignore[arg-type]
        return CachedSynthesizer(RecordingSynth(), tmp_path, identity=identity)

    keys = {
        cache().key("你好"),
        cache(rate_wpm=160).key("你好"),
        cache(voice="sit/cmn").key("你好"),
    }
    assert len(keys) == 3
    assert cache().key("你好") == cache().key("你好")


def test_a_corrupt_entry_is_synthesised_again(tmp_path: Path) -> None:
    inner = RecordingSynth()
    cache = CachedSynthesizer(inner, tmp_path)
    cache.path("你好").parent.mkdir(parents=True)
    cache.path("你好").write_bytes(b"RIFF")
    assert cache.synthesize("你好").duration_s > 0
    assert cache.warm(["你好"]) == 1  # made again and kept
    assert len(inner.calls) == 2
    assert Audio.from_wav(cache.path("你好")).duration_s > 0


def test_warm_caches_whole_prompts_and_their_sentences(tmp_path: Path) -> None:
    inner = RecordingSynth()
    cache = CachedSynthesizer(inner, tmp_path)
    # WELCOME and its two sentences; the apology is one sentence (对不起， is too short).
    assert cache.warm([WELCOME, "对不起，我没听清楚。"]) == 4
    assert cache.warm([WELCOME]) == 0
    calls = len(inner.calls)
    cache.synthesize(WELCOME)
    list(cache.synthesize_sentences(WELCOME))
    assert len(inner.calls) == calls


def test_stacks_given_one_speech_cache_make_each_sentence_once(tmp_path: Path) -> None:
    made = []
    for stack in ("one", "two"):
        settings = Settings(
            data_dir=tmp_path / stack,
            speech_cache_dir=tmp_path / "speech",
            tts_engine=TtsEngine.espeak,
        )
        cache, _note = build_synthesizer(settings)
        assert isinstance(cache.inner, EspeakSynthesizer)
        with cache.inner:
            made.append(cache.warm([WELCOME]))
    assert made == [3, 0]  # WELCOME and its two sentences, by the first stack only
    assert not (tmp_path / "one" / "tts-cache").exists()


def _warmed(cache: CachedSynthesizer, text: str) -> Audio:
    cache.warm([text])
    return cache.synthesize(text)


def test_concurrent_cache_use_never_sees_a_partial_file(tmp_path: Path) -> None:
    inner = RecordingSynth()
    texts = [f"第{i}句话。" for i in range(5)]
    jobs = texts * 8
    with ThreadPoolExecutor(max_workers=8) as pool:
        # A cache object per request, as separate processes would have.
        results = [*pool.map(lambda text: _warmed(CachedSynthesizer(inner, tmp_path), text), jobs)]
    for text, audio in zip(jobs, results, strict=True):
        assert audio == Audio.from_wav(_tone(text))
    assert len({text for text, _ in inner.calls}) == 5
    assert not list(tmp_path.rglob(".tmp-*"))  # no temporary files left behind


def test_cache_with_real_espeak(tmp_path: Path, synth: EspeakSynthesizer) -> None:
    cache = CachedSynthesizer(synth, tmp_path)
    cache.warm([WELCOME])  # the whole text and its two sentences
    first = cache.synthesize(WELCOME)
    assert cache.synthesize(WELCOME) == first
    assert (cache.hits, cache.misses) == (2, 3)


# --- text preparation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("13812345678", "幺三八幺二三四五六七八"),
        ("工单号20240501001", "工单号二零二四零五零幺零零幺"),
        ("12345", "幺二三四五"),
        ("0", "零"),
        ("7", "七"),
        ("10", "十"),
        ("12", "十二"),
        ("20", "二十"),
        ("105路", "一百零五路"),
        ("110", "一百一十"),
        ("222", "两百二十二"),
        ("1001", "一千零一"),
        ("1010", "一千零一十"),
        ("2000元", "两千元"),
        ("9999", "九千九百九十九"),
        ("007", "零零七"),
        ("９号窗口", "九号窗口"),
        ("3.5公里", "三点五公里"),
        ("50%", "百分之五十"),
        ("12.5%", "百分之十二点五"),
        ("2024年", "二零二四年"),
        ("2024-05-01", "二零二四年五月一日"),
        ("9:00", "九点"),
        ("9:05", "九点零五分"),
        ("17:30", "十七点三十分"),
        ("9:00-17:00", "九点到十七点"),
        ("1-3个工作日", "一到三个工作日"),
        ("021-12345678", "零二幺，幺二三四五六七八"),
        ("电话，135 2185 9992。", "电话，幺三五，二幺八五，九九九二。"),
        ("编号是 233 446。", "编号是 二三三，四四六。"),
        ("没有数字。", "没有数字。"),
    ],
)
def test_read_numbers(text: str, spoken: str) -> None:
    assert read_numbers(text) == spoken


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        (WELCOME, ["您好，这里是良旺助手。", "请问有什么可以帮您？"]),
        ("好，我记下了；请您稍等！", ["好，我记下了；", "请您稍等！"]),  # 好， is too short alone
        ("您说的是杨浦区吗？嗯。", ["您说的是杨浦区吗？嗯。"]),  # a short tail joins the last
        ("您好", ["您好"]),
        ("  。 ", []),
        ("", []),
        ("这是第一句。\n第二句话", ["这是第一句。", "第二句话"]),
    ],
)
def test_split_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


def test_speech_workers_yield_the_cpu_to_the_call_loop() -> None:
    # RTP is paced every 20 ms by the call loop; synthesis runs at a lower priority.
    worker = SpeechWorker(VoiceSettings(VOICE_ID, NORMAL_WPM, 1.0), pyttsx3_backend, 10, 30)
    try:
        worker.start()
        assert worker._process is not None and worker._process.pid is not None
        stat = Path(f"/proc/{worker._process.pid}/stat").read_text()
        nice = int(stat.rsplit(")", 1)[1].split()[16])  # field 19 of proc(5)
        assert nice == os.nice(0) + WORKER_NICENESS
    finally:
        worker.close()
