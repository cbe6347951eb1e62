"""``CachedSynthesizer``: the sentences the line says again and again (the domain's fixed
prompts, the catalog's answers) kept as WAVs on disk, so saying them costs a file read."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from voice.audio import Audio
from voice.errors import AudioFormatError
from voice.ports import SpeechSynthesizer
from voice.speech_text import split_sentences
from voice.tts.sentences import speak_sentences


class CachedSynthesizer:
    """Keeps the texts it is asked to ``warm`` as WAVs under ``cache_dir``, keyed by the sha256
    of the text, the speed and the inner synthesiser's ``identity`` (voice, rates, version).

    Only warmed texts are written: anything else said during a call (a read-back of the
    caller's description, their phone number, a ticket number) is synthesised and spoken
    but never stored, so no caller's words lie on disk and the cache stays the size of the
    domain and the catalog.

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
        return self._get(text, slow=slow, keep=False)

    def _get(self, text: str, *, slow: bool, keep: bool) -> Audio:
        path = self.path(text, slow=slow)
        with contextlib.suppress(FileNotFoundError, AudioFormatError):
            audio = Audio.from_wav(path)
            with self._count_lock:
                self.hits += 1
            return audio
        audio = self.inner.synthesize(text, slow=slow)
        with self._count_lock:
            self.misses += 1
        if keep:
            self._store(path, audio)
        return audio

    def synthesize_sentences(self, text: str, *, slow: bool = False) -> Iterator[Audio]:
        return speak_sentences(self, text, slow=slow)

    def warm(self, texts: Iterable[str], *, slow: bool = False) -> int:
        """Synthesise and keep texts ahead of the first call: each whole text and each of
        its sentences, so both ``synthesize`` and ``synthesize_sentences`` hit the cache.
        Returns how many entries had to be synthesised."""
        before = self.misses
        for text in texts:
            for piece in dict.fromkeys([text, *split_sentences(text)]):
                self._get(piece, slow=slow, keep=True)
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
