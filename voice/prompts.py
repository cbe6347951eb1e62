"""What the line can say before it knows the caller, synthesised ahead of need: every
sentence of the domain's responses that has no variable in it, and the replies the catalog
and the complaint categories fix (a service's name, summary and steps, "听起来是“路灯”方面的
问题，对吗？"), the first sentence of each reply before the rest.

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from liangwang.catalog.answers import guide_replies
from liangwang.catalog.store import IndexCache, StoredCatalog
from liangwang.complaints.categories import load_categories
from liangwang.complaints.intake import Intake
from liangwang.complaints.intake_state import IntakeState, Step
from liangwang.db import sessions_for, unit_of_work
from liangwang.settings import Settings
from liangwang.wording import Say, fragments_from_responses
from voice.errors import PipelineError
from voice.reply_plan import keypad_menu
from voice.speech_text import split_sentences
from voice.tts import CachedSynthesizer

log = logging.getLogger(__name__)

VARIABLE = "{"
IDLE_CHECK_S = 0.5  # while calls are going on, look again this often


def fixed_sentences(responses: Mapping[str, Any], first: Iterable[str] = ()) -> list[str]:
    """Every variable-free sentence of every text variant, and of the keypad menu the line
    reads for its buttons ("也可以按键：按1，办事指南；…"), those of the responses named in
    ``first`` first, each once."""
    names = [*first, *responses]
    sentences: dict[str, None] = {}
    for name in names:
        for variant in responses.get(name) or ():
            if not isinstance(variant, Mapping):
                continue
            text = variant.get("text")
            texts = [text] if isinstance(text, str) else []
            texts += keypad_menu(variant.get("buttons") or [])
            for sentence in (s for t in texts for s in split_sentences(t)):
                if VARIABLE not in sentence:
                    sentences.setdefault(sentence)
    return list(sentences)


def reply_sentences(
    replies: Iterable[Sequence[Say]], responses: Mapping[str, Any], *, openings_only: bool = False
) -> list[str]:
    """The sentences of ``replies`` as the line speaks them: each message on its own, in
    every variant of its wording, then the keypad menu of its buttons. The first sentence
    of every reply comes before all the others (or alone, ``openings_only``): that is what
    a caller waits for; the rest is made while the first plays."""
    first: dict[str, None] = {}
    rest: dict[str, None] = {}
    for reply in replies:
        for index, texts in enumerate(_spoken_texts(reply, responses)):
            for text in texts:
                sentences = split_sentences(text)
                if index == 0 and sentences:
                    first.setdefault(sentences[0])
                    sentences = sentences[1:]
                rest.update(dict.fromkeys(sentences))
    if openings_only:
        return list(first)
    return [*first, *(s for s in rest if s not in first)]


def _spoken_texts(reply: Sequence[Say], responses: Mapping[str, Any]) -> list[list[str]]:
    """Per message, the texts it can be spoken as (one per variant of its wording)."""
    spoken = []
    for say in reply:
        texts = []
        for variant in responses.get(say.response) or ():
            text = variant.get("text") if isinstance(variant, Mapping) else None
            if isinstance(text, str):
                texts.append(text.format(**say.vars))
        spoken.append(texts)
    buttons = [button for say in reply for button in say.buttons]
    return [*spoken, *([menu] for menu in keypad_menu(buttons))]


def domain_replies(settings: Settings, responses: Mapping[str, Any]) -> list[list[Say]]:
    """The replies the catalog and the complaint categories fix: every answer of the guide
    (liangwang/catalog/answers.py) and the question confirming each category. A catalog
    that cannot be read (no database yet) leaves only the categories: those replies are
    then made during calls, as any other sentence not prepared."""
    categories = load_categories()
    intake = Intake(categories, channel="voice", identity="")
    replies = [
        intake.prompt(IntakeState(step=Step.category, category=category.code))
        for category in categories.items
    ]
    try:
        with unit_of_work(sessions_for(settings.effective_database_url)) as session:
            catalog = StoredCatalog(IndexCache().get(session), session)
            replies += guide_replies(catalog, fragments_from_responses(responses))
    except SQLAlchemyError as exc:
        log.warning("the catalog's answers are not prepared (catalog unreadable: %s)", exc)
    return replies


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
