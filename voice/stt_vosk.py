"""Speech-to-text with Vosk (Kaldi): streaming, runs on telephone audio, no network.

The model is loaded once per process and shared by every call; each utterance gets its own
``KaldiRecognizer``, which is what makes concurrent calls safe (a Vosk model is read-only
after loading, a recogniser is not thread-safe).

How hints are used. A Vosk *grammar* does not bias recognition, it restricts it: a
recogniser with a grammar can only output the listed phrases. So hints are taken as a
*closed list of expected short answers* (yes/no, a district, one of the offered services):

- Without hints the open-vocabulary recogniser runs (the normal case).
- With hints, the stream decodes with a grammar of the hint phrases (split into words the
  model knows; phrases with unknown words are dropped), plus ``escape_phrases`` (so that,
  e.g., 转人工 always gets through) and ``[unk]`` when the model has that word.
- If the grammar result contains ``[unk]`` — the caller said something else — the audio,
  which the stream keeps, is decoded again without the grammar and that text is returned.
  A caller is never forced onto the list when the model can say "something else".
- Models without ``[unk]`` (the small Korean model used in tests) cannot say that: with
  them a grammar maps any speech onto the list. Pass hints only when a short answer from
  the list is expected.
- A long list (more than ``max_grammar_phrases``, e.g. every service name of the catalog)
  is a vocabulary, not a set of expected answers: it is ignored and the open recogniser
  runs, with one warning per recogniser.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from liangwang.settings import SttEngine
from voice.errors import AudioFormatError, RecognizerError
from voice.model_loading import SharedModels
from voice.ports import Transcript

UNKNOWN = "[unk]"

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Vosk puts a space between words; Chinese is written without them, Korean with them.
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")
_HAS_CJK = re.compile(rf"[{_CJK}]")
_LONGEST_WORD = 8  # characters; longer dictionary words are rare and never needed for hints
MAX_GRAMMAR_PHRASES = 64  # enough for the 16 districts in full and short form, and more

log = logging.getLogger(__name__)

_models: SharedModels[Any] = SharedModels(SttEngine.vosk, "Vosk")


def _open(folder: Path) -> Any:
    import vosk  # imported here: loading Kaldi costs memory only for Vosk users

    vosk.SetLogLevel(-1)  # Kaldi logs every load step to stderr; keep warnings
    return vosk.Model(str(folder))


def load_model(path: Path) -> Any:
    """The Vosk model at ``path``, loaded on first use and shared by the whole process."""
    return _models.get(path, _open)


def join_words(words: Iterable[str]) -> str:
    """Words as text: spaces kept between Korean/Latin words, dropped between Chinese ones."""
    return _SPACE_BETWEEN_CJK.sub("", " ".join(w for w in words if w))


class VoskRecognizer:
    """``SpeechRecognizer`` backed by a Vosk model folder (8 kHz and 16 kHz input).

    ``model_path`` is a folder already checked by ``voice.model_check`` (``make_recognizer``
    does that); loading it still fails with ``ModelMissing`` when it is not a Vosk model."""

    name = "vosk"

    def __init__(
        self,
        model_path: Path,
        *,
        sample_rates: Sequence[int] = (8000, 16000),
        escape_phrases: Sequence[str] = (),
        max_grammar_phrases: int = MAX_GRAMMAR_PHRASES,
    ) -> None:
        self.model_path = Path(model_path)
        self.sample_rates = tuple(sample_rates)
        self.escape_phrases = tuple(escape_phrases)
        self.max_grammar_phrases = max_grammar_phrases
        self._warned_long_hints = False

    def load(self) -> Any:
        """Load the model now (at start-up) instead of on the first call's first words."""
        return load_model(self.model_path)

    def start(
        self, rate: int, hints: Sequence[str] = (), vocabulary: Sequence[str] = ()
    ) -> VoskStream:
        # A vocabulary is not used: as a grammar it would restrict an open turn to it.
        if rate not in self.sample_rates:
            raise AudioFormatError(f"Vosk recognizer accepts {self.sample_rates} Hz, not {rate} Hz")
        model = self.load()
        grammar = self.grammar(hints) if hints else None
        return VoskStream(model, rate, grammar)

    def grammar(self, hints: Sequence[str]) -> list[str] | None:
        """The grammar for ``hints``, or None when no hint can be expressed in the model's
        words (then the open recogniser runs: an empty grammar would recognise nothing) or
        when there are too many hints to be a list of expected answers."""
        if len(hints) > self.max_grammar_phrases:
            if not self._warned_long_hints:
                self._warned_long_hints = True
                log.warning(
                    "%d hints ignored: more than %d is a vocabulary, not expected answers; "
                    "pass the answers expected in this turn",
                    len(hints),
                    self.max_grammar_phrases,
                )
            return None
        model = self.load()
        phrases: list[str] = []
        for hint in (*hints, *self.escape_phrases):
            phrase = to_model_words(hint, lambda word: model.vosk_model_find_word(word) >= 0)
            if phrase and phrase not in phrases:
                phrases.append(phrase)
        if not phrases:
            return None
        if model.vosk_model_find_word(UNKNOWN) >= 0:
            phrases.append(UNKNOWN)
        return phrases


def to_model_words(phrase: str, known: Callable[[str], bool]) -> str | None:
    """``phrase`` as space-separated words of the model's vocabulary, or None.

    Chinese hints come without spaces ("敬老卡") while the model's words are segmented
    ("敬老 卡"), so unknown Chinese runs are split by longest match against the vocabulary.
    """
    words: list[str] = []
    for token in phrase.split():
        if known(token):
            words.append(token)
            continue
        if not _HAS_CJK.search(token):
            return None
        start = 0
        while start < len(token):
            for end in range(min(len(token), start + _LONGEST_WORD), start, -1):
                if known(token[start:end]):
                    words.append(token[start:end])
                    start = end
                    break
            else:
                return None  # a character the model has never heard of
    return " ".join(words) or None


class VoskStream:
    """One utterance. ``accept`` feeds Kaldi as audio arrives, so ``finish`` is quick."""

    def __init__(self, model: Any, rate: int, grammar: list[str] | None) -> None:
        self._model = model
        self._rate = rate
        self._grammar = grammar
        self._words: list[dict[str, Any]] = []
        # Kept only with a grammar: the fallback decodes it again without one.
        self._audio = bytearray() if grammar else None
        self._result: Transcript | None = None
        self._recognizer = self._new_recognizer(grammar)

    def _new_recognizer(self, grammar: list[str] | None) -> Any:
        import vosk

        try:
            if grammar:
                recognizer = vosk.KaldiRecognizer(
                    self._model, self._rate, json.dumps(grammar, ensure_ascii=False)
                )
            else:
                recognizer = vosk.KaldiRecognizer(self._model, self._rate)
            recognizer.SetWords(True)  # per-word confidences
        except Exception as exc:
            raise RecognizerError(f"Vosk could not start a recognizer: {exc}") from exc
        return recognizer

    def accept(self, pcm: bytes) -> None:
        if self._result is not None:
            raise RecognizerError("audio after finish(): start a new stream per utterance")
        if len(pcm) % 2:
            raise AudioFormatError("PCM length is not a whole number of 16-bit samples")
        if self._audio is not None:
            self._audio.extend(pcm)
        self._words.extend(_feed(self._recognizer, pcm))

    def finish(self) -> Transcript:
        if self._result is None:
            self._result = self._finish()
        return self._result

    def _finish(self) -> Transcript:
        words = self._words + _final_words(self._recognizer)
        if self._audio and any(w.get("word") == UNKNOWN for w in words):
            # The caller said something outside the expected answers: hear it openly.
            open_recognizer = self._new_recognizer(None)
            words = _feed(open_recognizer, bytes(self._audio))
            words += _final_words(open_recognizer)
        return transcript_of(words)


def _feed(recognizer: Any, pcm: bytes) -> list[dict[str, Any]]:
    try:
        endpoint = recognizer.AcceptWaveform(pcm)
        # At an endpoint Kaldi starts a new segment; its words must be collected now or
        # they are gone when the next segment begins.
        return _words(recognizer.Result()) if endpoint else []
    except Exception as exc:
        raise RecognizerError(f"Vosk failed on audio: {exc}") from exc


def _final_words(recognizer: Any) -> list[dict[str, Any]]:
    try:
        return _words(recognizer.FinalResult())
    except Exception as exc:
        raise RecognizerError(f"Vosk failed to finish: {exc}") from exc


def _words(result_json: str) -> list[dict[str, Any]]:
    result = json.loads(result_json)
    words: list[dict[str, Any]] = result.get("result", [])
    return words


def transcript_of(words: Sequence[dict[str, Any]]) -> Transcript:
    """Text and mean word confidence of Vosk word results, without ``[unk]``."""
    heard = [w for w in words if w.get("word") and w["word"] != UNKNOWN]
    if not heard:
        return Transcript("", 0.0)
    confidence = sum(float(w.get("conf", 0.0)) for w in heard) / len(heard)
    return Transcript(join_words(w["word"] for w in heard), min(max(confidence, 0.0), 1.0))
