"""The speech worker: a long-lived ``spawn`` process that runs a backend and answers one
text at a time.

Why a worker process: pyttsx3's espeak driver synthesises on espeak's own thread, so
``save_to_file`` + ``runAndWait`` can return before the WAV is written, and the driver can
hang. The engine therefore lives in its own process that only replies once the WAV on disk
is complete; the parent kills and restarts it when it dies or takes longer than
``timeout_s``. Changing the rate between utterances is racy in the same driver (a queued rate
change can be cancelled together with the previous utterance), so each worker is started
with one fixed rate: one worker for normal speech, one for slow speech.

The application's entry point must keep its start-up code under
``if __name__ == "__main__":`` because ``spawn`` re-imports the main module in the worker.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from voice.audio import Audio
from voice.errors import AudioFormatError, ModelMissing, SynthesizerError
from voice.tts.espeak import Backend, VoiceMissingError, VoiceSettings

# Synthesis is bulk work that can wait a few milliseconds; the call loop must send an RTP
# packet every 20 ms. On a small machine the worker therefore yields the CPU to it.
WORKER_NICENESS = 10


def _serve(conn: Connection, settings: VoiceSettings, workdir: Path, backend: Backend) -> None:
    os.nice(WORKER_NICENESS)
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


class SpeechWorker:
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


def audio_from_worker(wav: bytes, text: str) -> Audio:
    """A worker's WAV as ``Audio``; unreadable or empty audio for ``text`` is an error."""
    try:
        audio = Audio.from_wav(wav)
    except AudioFormatError as exc:
        raise SynthesizerError(f"the speech worker sent unusable audio: {exc}") from exc
    if not audio.pcm:
        raise SynthesizerError(f"the speech engine produced no audio for {text!r}")
    return audio
