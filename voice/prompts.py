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
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from voice.errors import PipelineError
from voice.speech_text import split_sentences
from voice.tts import CachedSynthesizer

log = logging.getLogger(__name__)

VARIABLE = "{"
IDLE_CHECK_S = 0.5  # while calls are going on, look again this often


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
    """Synthesises sentences into the cache on a background thread, one at a time, and only
    while no call is going on (``busy``): a caller never waits behind the warming for the
    speech worker or the CPU, except for the one sentence being made when a call arrives."""

    def __init__(
        self,
        synthesizer: CachedSynthesizer,
        sentences: list[str],
        busy: Callable[[], bool] = lambda: False,
    ) -> None:
        self._synthesizer = synthesizer
        self._sentences = sentences
        self._busy = busy
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
            while self._busy() and not self._stop.is_set():
                self._stop.wait(IDLE_CHECK_S)
            if self._stop.is_set():
                return
            try:
                self.made += self._synthesizer.warm([sentence])
            except PipelineError as exc:  # a call can still make it when it needs it
                log.warning("could not prepare %r: %s", sentence, exc)
        log.info("prompts ready: %d sentences, %d made now", len(self._sentences), self.made)
