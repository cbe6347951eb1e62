"""Text-to-speech: pyttsx3 driving espeak-ng's Mandarin voice, in a worker process.

Why a worker process: pyttsx3's espeak driver synthesises on espeak's own thread, so
``save_to_file`` + ``runAndWait`` can return before the WAV is written, and the driver can
hang. The engine therefore lives in a long-lived ``spawn`` process that answers one text at a
time and only replies once the WAV on disk is complete; the parent kills and restarts it when
it dies or takes longer than ``timeout_s``. Changing the rate between utterances is racy in
the same driver (a queued rate change can be cancelled together with the previous
utterance), so each worker is started with one fixed rate: one worker for normal speech, one
for slow speech.

The application's entry point must keep its start-up code under
``if __name__ == "__main__":`` because ``spawn`` re-imports the main module in the worker.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Protocol

from voice.audio import Audio
from voice.errors import AudioFormatError, ModelMissing, SynthesizerError
from voice.ports import SpeechSynthesizer

# pyttsx3's id for espeak-ng's "Chinese (Mandarin, latin as Pinyin)" voice (file
# sit/cmn-Latn-pinyin). The plain "sit/cmn" voice reads many characters as English.
VOICE_ID = "sit/cmn-latn-pinyin"
ESPEAK_RATE_HZ = 22050  # espeak-ng's output rate; pyttsx3 writes its WAVs at this rate
# Words per minute as espeak counts them (espeak's default is 175 ≈ 3.5 syllables/s for
# Mandarin). 145 ≈ 2.8 syllables/s: clearly paced for older listeners on a phone line
# without dragging; 110 ≈ 2.1 syllables/s, about 1.3× as long, for callers who ask for slow.
NORMAL_WPM = 145
SLOW_WPM = 110
# Bump when text normalisation or engine handling changes what a text sounds like, so
# cached WAVs from an older version are not reused.
SPEECH_VERSION = 2


@dataclass(frozen=True)
class VoiceSettings:
    voice: str = VOICE_ID
    rate_wpm: int = NORMAL_WPM
    volume: float = 1.0


# --- text preparation ----------------------------------------------------------------------

_DIGIT_WORDS = "零一二三四五六七八九"
_PHONE_WORDS = "零幺二三四五六七八九"  # phone/ticket numbers say 幺 for 1, as operators do
_UNITS = ("", "十", "百", "千")
_FULLWIDTH = str.maketrans("０１２３４５６７８９％：．", "0123456789%:.")
_SPEAKABLE = re.compile(r"[0-9A-Za-z\u3400-\u9fff]")


def _digits(run: str, words: str = _PHONE_WORDS) -> str:
    return "".join(words[int(ch)] for ch in run)


def _cardinal(n: int) -> str:
    """0..9999 as a Chinese number: 10 → 十, 105 → 一百零五, 2000 → 两千."""
    if n == 0:
        return "零"
    text = str(n)
    out: list[str] = []
    pending_zero = False
    for i, ch in enumerate(text):
        digit, place = int(ch), len(text) - 1 - i
        if digit == 0:
            pending_zero = True
            continue
        if pending_zero and out:
            out.append("零")
        pending_zero = False
        word = "两" if digit == 2 and place >= 2 else _DIGIT_WORDS[digit]
        if digit == 1 and place == 1 and not out:
            word = ""  # 十二, not 一十二
        out.append(word + _UNITS[place])
    return "".join(out)


def _number(run: str) -> str:
    """A digit run: long runs (phone and ticket numbers) and runs with a leading zero are
    read digit by digit; shorter runs as numbers."""
    if len(run) >= 5 or (len(run) > 1 and run.startswith("0")):
        return _digits(run)
    return _cardinal(int(run))


def _decimal(whole: str, fraction: str | None) -> str:
    spoken = _number(whole)
    return spoken + "点" + _digits(fraction, _DIGIT_WORDS) if fraction else spoken


def _clock(hour: str, minute: str) -> str:
    if minute == "00":
        return _cardinal(int(hour)) + "点"
    # 9:05 → 九点零五分, 9:30 → 九点三十分
    spoken = _digits(minute, _DIGIT_WORDS) if minute.startswith("0") else _cardinal(int(minute))
    return f"{_cardinal(int(hour))}点{spoken}分"


_TIME = r"(?:[01]?\d|2[0-4]):[0-5]\d"
_NUMBER_PATTERN = re.compile(
    rf"(?P<range>(?P<t1>{_TIME})\s*[-~～–—]\s*(?P<t2>{_TIME}))"
    r"|(?P<date>(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2}))(?!\d)"
    rf"|(?P<time>{_TIME})(?!\d)"
    r"|(?P<pct>(?P<pw>\d+)(?:\.(?P<pf>\d+))?%)"
    r"|(?P<year>\d{4})(?=年)"
    r"|(?P<pair>(?P<a>\d+)\s*[-~～–—]\s*(?P<b>\d+))"
    r"|(?P<groups>\d{2,4}(?: \d{2,4})+)(?![\d.])"
    r"|(?P<dec>(?P<w>\d+)(?:\.(?P<f>\d+))?)"
)


def _spell(match: re.Match[str]) -> str:
    g = match.group
    if g("range"):
        return _spell_time(g("t1")) + "到" + _spell_time(g("t2"))
    if g("date"):
        year, month, day = _digits(g("y"), _DIGIT_WORDS), int(g("mo")), int(g("d"))
        return f"{year}年{_cardinal(month)}月{_cardinal(day)}日"
    if g("time"):
        return _spell_time(g("time"))
    if g("pct"):
        return "百分之" + _decimal(g("pw"), g("pf"))
    if g("year"):
        return _digits(g("year"), _DIGIT_WORDS)  # 2024年 → 二零二四年
    if g("pair"):
        a, b = g("a"), g("b")
        if _number(a) == _cardinal(int(a)) and _number(b) == _cardinal(int(b)):
            return _cardinal(int(a)) + "到" + _cardinal(int(b))  # 1-3个工作日 → 一到三个工作日
        return _number(a) + "，" + _number(b)  # 021-12345678: two digit groups, with a pause
    if g("groups"):
        # "135 2185 9992", "233 446": a phone or ticket number written in groups for the
        # ear: digit by digit, with a pause between the groups.
        parts = g("groups").split(" ")
        if sum(len(p) for p in parts) >= 5:
            return "，".join(_digits(p) for p in parts)
        return " ".join(_number(p) for p in parts)
    return _decimal(g("w"), g("f"))


def _spell_time(text: str) -> str:
    hour, minute = text.split(":")
    return _clock(hour, minute)


def read_numbers(text: str) -> str:
    """Write ASCII (and full-width) digits out in Chinese so espeak reads them in Mandarin
    (it reads 12345 as "十二千…" and 50% half in English). Runs of 5+ digits, such as phone
    and ticket numbers, are read digit by digit with 幺 for 1; shorter runs as numbers;
    also times (9:30 → 九点三十分), ranges (9:00-17:00, 1-3 → 一到三), phone numbers with an
    area code, dates, years, percentages and decimals."""
    return _NUMBER_PATTERN.sub(_spell, text.translate(_FULLWIDTH))


_SENTENCE_END = re.compile(r"(?<=[。！？；，!?;\n])|(?<=,)(?!\d)")  # not inside 1,000
MIN_SENTENCE_CHARS = 4


def split_sentences(text: str) -> list[str]:
    """Split at 。！？；， (and ASCII equivalents), keeping the punctuation so espeak pauses
    naturally. Pieces with fewer than ``MIN_SENTENCE_CHARS`` speakable characters ("好，")
    are joined to the next piece rather than spoken as a choppy fragment of their own."""
    pieces: list[str] = []
    carry = ""
    for raw in _SENTENCE_END.split(text):
        piece = carry + raw.strip()
        if len(_SPEAKABLE.findall(piece)) < MIN_SENTENCE_CHARS:
            carry = piece
            continue
        pieces.append(piece)
        carry = ""
    if pieces:
        pieces[-1] += carry  # a short tail ("嗯。") goes with the sentence before it
    elif _SPEAKABLE.search(carry):
        pieces.append(carry)
    return pieces


# --- sentence streaming --------------------------------------------------------------------


class SentenceSynthesizer(SpeechSynthesizer, Protocol):
    def synthesize_sentences(self, text: str, *, slow: bool = False) -> Iterator[Audio]:
        """Audio for each piece of ``split_sentences(text)``, produced one at a time so the
        first can be played while the rest are synthesised."""
        ...


def speak_sentences(synth: SpeechSynthesizer, text: str, *, slow: bool = False) -> Iterator[Audio]:
    for sentence in split_sentences(text):
        yield synth.synthesize(sentence, slow=slow)


# --- the worker process --------------------------------------------------------------------

# What runs inside the worker: given the voice settings and a scratch folder, prepare an
# engine and return a function that turns one text into complete WAV bytes. Must be a
# module-level function (spawn pickles it by name); tests inject stalling ones.
Backend = Callable[[VoiceSettings, Path], Callable[[str], bytes]]


class VoiceMissingError(RuntimeError):
    """Raised inside the worker when espeak-ng has no voice with the configured id."""


def _complete_wav(path: Path) -> bytes | None:
    """The file's bytes once it is a whole WAV: a header whose data chunk length is all
    present. The writer (Python's ``wave``) first writes a header that says "no samples",
    then the samples, then patches the real length in on close; under load the first state
    can last long enough to look finished, so an empty data chunk never counts as done."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    offset = 12
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset + 4 : offset + 8], "little")
        if data[offset : offset + 4] == b"data":
            return data if size and len(data) >= offset + 8 + size else None
        offset += 8 + size + (size & 1)
    return None


def wait_for_wav(path: Path, *, poll_s: float = 0.005) -> bytes:
    """Block until ``path`` holds a complete WAV whose size has stopped changing. No deadline
    here: the parent's timeout ends a worker that waits forever."""
    previous: bytes | None = None
    while True:
        data = _complete_wav(path)
        if data is not None and previous is not None and len(data) == len(previous):
            return data
        previous = data
        time.sleep(poll_s)


def pyttsx3_backend(settings: VoiceSettings, workdir: Path) -> Callable[[str], bytes]:
    import pyttsx3

    engine = pyttsx3.init("espeak")
    voices = {voice.id for voice in engine.getProperty("voices")}
    if settings.voice not in voices:
        raise VoiceMissingError(settings.voice)
    engine.setProperty("voice", settings.voice)
    engine.setProperty("rate", settings.rate_wpm)
    engine.setProperty("volume", settings.volume)
    counter = itertools.count()

    def speak(text: str) -> bytes:
        path = workdir / f"{next(counter)}.wav"
        engine.save_to_file(text, str(path))
        engine.runAndWait()
        data = wait_for_wav(path)
        path.unlink()
        return data

    # pyttsx3 applies the queued properties with the first utterance; check the voice took.
    speak("你好")
    if engine.getProperty("voice") != settings.voice:
        raise VoiceMissingError(settings.voice)
    return speak


def _serve(conn: Connection, settings: VoiceSettings, workdir: Path, backend: Backend) -> None:
    # pyttsx3 prints a line for every file it saves; keep the service's output clean.
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    try:
        speak = backend(settings, workdir)
    except VoiceMissingError as exc:
        conn.send(("missing", str(exc)))
        return
    except Exception as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", ""))
    while True:
        try:
            text = conn.recv()
        except EOFError:
            return  # the parent has gone
        try:
            conn.send(("audio", speak(text)))
        except Exception as exc:
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))


class _Worker:
    """One engine process with fixed settings; serves one request at a time."""

    def __init__(
        self, settings: VoiceSettings, backend: Backend, timeout_s: float, start_timeout_s: float
    ) -> None:
        self.settings = settings
        self._backend = backend
        self._timeout_s = timeout_s
        self._start_timeout_s = start_timeout_s
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._workdir: Path | None = None
        self.starts = 0  # how many processes were started, for tests and logs

    def request(self, text: str) -> bytes:
        with self._lock:
            conn = self._ensure_started()
            try:
                conn.send(text)
            except OSError as exc:
                self._stop()
                raise SynthesizerError(f"the speech worker has died: {exc}") from exc
            return self._reply(conn, self._timeout_s, "synthesis")

    def start(self) -> None:
        with self._lock:
            self._ensure_started()

    def _ensure_started(self) -> Connection:
        if self._process is not None and self._process.is_alive() and self._conn is not None:
            return self._conn
        self._stop()
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._workdir = Path(tempfile.mkdtemp(prefix="liangwang-tts-"))
        process = context.Process(
            target=_serve,
            args=(child, self.settings, self._workdir, self._backend),
            name=f"tts-{self.settings.rate_wpm}wpm",
            daemon=True,
        )
        process.start()
        child.close()
        self._process, self._conn = process, parent
        self.starts += 1
        self._reply(parent, self._start_timeout_s, "start-up")
        return parent

    def _reply(self, conn: Connection, timeout_s: float, what: str) -> bytes:
        try:
            if not conn.poll(timeout_s):
                self._stop()
                raise SynthesizerError(
                    f"speech {what} took longer than {timeout_s:g} s; the worker was restarted"
                )
            kind, payload = conn.recv()
        except (EOFError, OSError) as exc:
            self._stop()
            raise SynthesizerError(f"the speech worker died during {what}") from exc
        if kind == "audio":
            assert isinstance(payload, bytes)
            return payload
        if kind == "ready":
            return b""
        self._stop()
        if kind == "missing":
            raise ModelMissing(
                f"espeak-ng has no voice {payload!r} (Mandarin, latin as Pinyin)",
                setting="VoiceSettings.voice",
                fix="install the Debian packages espeak-ng and espeak-ng-data "
                "(the voice file is sit/cmn-Latn-pinyin)",
            )
        raise SynthesizerError(f"speech {what} failed: {payload}")

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            self._process.terminate()
            self._process.join(1)
            if self._process.is_alive():
                self._process.kill()  # an engine stuck in C code may ignore SIGTERM
                self._process.join(1)
            if not self._process.is_alive():
                self._process.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._process = self._conn = self._workdir = None

    def close(self) -> None:
        with self._lock:
            self._stop()


class EspeakSynthesizer:
    """``SpeechSynthesizer`` speaking Mandarin with espeak-ng through pyttsx3.

    Output is ``Audio`` at 22050 Hz; callers resample. Thread-safe: requests for the same
    speed are served one after another by that speed's worker (espeak needs ~20 ms for a
    sentence). Workers start on first use, or at once with ``start()``.
    """

    def __init__(
        self,
        *,
        voice: str = VOICE_ID,
        rate_wpm: int = NORMAL_WPM,
        slow_rate_wpm: int = SLOW_WPM,
        volume: float = 1.0,
        timeout_s: float = 10.0,
        start_timeout_s: float = 30.0,
        backend: Backend = pyttsx3_backend,
    ) -> None:
        self.normal = VoiceSettings(voice, rate_wpm, volume)
        self.slow = VoiceSettings(voice, slow_rate_wpm, volume)
        self._workers = {
            speed: _Worker(settings, backend, timeout_s, start_timeout_s)
            for speed, settings in ((False, self.normal), (True, self.slow))
        }

    @property
    def identity(self) -> str:
        """What decides how a text sounds; part of every cache key."""
        return json.dumps(
            ["espeak-pyttsx3", SPEECH_VERSION, self.normal.__dict__, self.slow.__dict__],
            sort_keys=True,
        )

    @property
    def worker_starts(self) -> int:
        return sum(worker.starts for worker in self._workers.values())

    def start(self) -> None:
        """Start both workers now (each takes about a second), not on the first call."""
        for worker in self._workers.values():
            worker.start()

    def synthesize(self, text: str, *, slow: bool = False) -> Audio:
        spoken = read_numbers(text).strip()
        if not _SPEAKABLE.search(spoken):
            return Audio(b"", ESPEAK_RATE_HZ)  # punctuation or nothing: nothing to say
        wav = self._workers[slow].request(spoken)
        try:
            audio = Audio.from_wav(wav)
        except AudioFormatError as exc:
            raise SynthesizerError(f"the speech engine wrote an unusable WAV: {exc}") from exc
        if not audio.pcm:
            raise SynthesizerError(f"the speech engine produced no audio for {spoken!r}")
        return audio

    def synthesize_sentences(self, text: str, *, slow: bool = False) -> Iterator[Audio]:
        return speak_sentences(self, text, slow=slow)

    def close(self) -> None:
        for worker in self._workers.values():
            worker.close()

    def __enter__(self) -> EspeakSynthesizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- cache ---------------------------------------------------------------------------------


class CachedSynthesizer:
    """Keeps every synthesised text as a WAV under ``cache_dir``, keyed by the sha256 of the
    text, the speed and the inner synthesiser's ``identity`` (voice, rates, version).

    Safe for concurrent use by threads and processes: a WAV is written to a temporary file
    and renamed into place, so a reader sees a whole file or none. Two simultaneous misses
    for one text both synthesise; the second rename wins, with identical content.
    """

    def __init__(self, inner: SpeechSynthesizer, cache_dir: Path, *, identity: str | None = None):
        self.inner = inner
        self.cache_dir = cache_dir
        self.identity = identity or str(getattr(inner, "identity", type(inner).__qualname__))
        self.hits = 0
        self.misses = 0
        self._count_lock = threading.Lock()

    def key(self, text: str, *, slow: bool = False) -> str:
        material = json.dumps([self.identity, text, slow], ensure_ascii=False)
        return hashlib.sha256(material.encode("utf-8")).hexdigest()

    def path(self, text: str, *, slow: bool = False) -> Path:
        key = self.key(text, slow=slow)
        return self.cache_dir / key[:2] / f"{key}.wav"

    def synthesize(self, text: str, *, slow: bool = False) -> Audio:
        path = self.path(text, slow=slow)
        with contextlib.suppress(FileNotFoundError, AudioFormatError):
            audio = Audio.from_wav(path)
            with self._count_lock:
                self.hits += 1
            return audio
        audio = self.inner.synthesize(text, slow=slow)
        with self._count_lock:
            self.misses += 1
        self._store(path, audio)
        return audio

    def synthesize_sentences(self, text: str, *, slow: bool = False) -> Iterator[Audio]:
        return speak_sentences(self, text, slow=slow)

    def warm(self, texts: Iterable[str], *, slow: bool = False) -> int:
        """Synthesise fixed prompts ahead of the first call: each whole text and each of its
        sentences, so both ``synthesize`` and ``synthesize_sentences`` hit the cache.
        Returns how many entries had to be synthesised."""
        before = self.misses
        for text in texts:
            for piece in dict.fromkeys([text, *split_sentences(text)]):
                self.synthesize(piece, slow=slow)
        return self.misses - before

    def _store(self, path: Path, audio: Audio) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".wav")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(audio.to_wav())
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
