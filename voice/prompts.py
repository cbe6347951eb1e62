"""What the line can say before it knows the caller: every sentence of the domain's
responses that has no variable in it, synthesised ahead of need.

With the natural voice a sentence costs about as long to make as to say, so a reply whose
first sentence is already in the cache starts at once. Replies are spoken sentence by
sentence (voice/tts/sentences.py), so a templated response such as "已经提交了。您的编号是
{number}。" has its fixed first sentence ready and only the sentence with the number is made
during the call. The cache is keyed by text and voice, so after training (a changed domain)
only new or changed sentences are made again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from voice.errors import PipelineError
from voice.speech_text import split_sentences
from voice.tts import CachedSynthesizer

log = logging.getLogger(__name__)

VARIABLE = "{"


def fixed_sentences(responses: Mapping[str, Any], first: Iterable[str] = ()) -> list[str]:
    """Every variable-free sentence of every text variant, those of the responses named in
    ``first`` first, each once."""
    names = [*first, *responses]
    sentences: dict[str, None] = {}
    for name in names:
        for variant in responses.get(name) or ():
            text = variant.get("text") if isinstance(variant, Mapping) else None
            if not isinstance(text, str):
                continue
            for sentence in split_sentences(text):
                if VARIABLE not in sentence:
                    sentences.setdefault(sentence)
    return list(sentences)


class PromptWarmer:
    """Synthesises sentences into the cache on a background thread, one at a time, so the
    phone line can answer calls meanwhile (a call's own sentence waits for at most one)."""

    def __init__(self, synthesizer: CachedSynthesizer, sentences: list[str]) -> None:
        self._synthesizer = synthesizer
        self._sentences = sentences
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prompt-warmer", daemon=True)
        self.made = 0

    def start(self) -> None:
        self._thread.start()

    def wait(self, timeout_s: float) -> bool:
        """Wait until every sentence is made (or ``timeout_s``); True when done."""
        self._thread.join(timeout_s)
        return self.done

    def stop(self, timeout_s: float = 5.0) -> None:
        """Make no more sentences; waits for the one being made (one worker request)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def _run(self) -> None:
        for sentence in self._sentences:
            if self._stop.is_set():
                return
            try:
                self.made += self._synthesizer.warm([sentence])
            except PipelineError as exc:  # a call can still make it when it needs it
                log.warning("could not prepare %r: %s", sentence, exc)
        log.info("prompts ready: %d sentences, %d made now", len(self._sentences), self.made)
