"""What the caller is likely to say next, passed to the recogniser as hints.

Hints are a short list per turn, never the whole catalog: a Vosk phrase list restricts
what can be recognised, and Whisper is biased towards the phrases it is given. So the
dialogue says what it expects (``custom: {expect: …}`` on a domain response: yes_no,
district, complaint) and the choices it offers (a reply's buttons: e.g. the service names from the
catalog when two services match); everything else is recognised openly.

An open request ("请问您想办什么事？", expect: request) gets a *vocabulary* instead: the names
people use for the catalog's services and the complaint categories' names, which the
caller may or may not say. It is passed apart from hints, because as hints it would do
harm: a Vosk grammar would allow nothing else, and Whisper hears hotwords in noise. Whisper
only reads it as context in its prompt (voice/stt_whisper.py); Vosk leaves it out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from liangwang.catalog.schema import Service
from liangwang.complaints.categories import load_categories
from liangwang.conversation import Expect
from liangwang.districts import DISTRICTS, short_name

YES_NO = (
    "是", "是的", "对", "对的", "好", "好的", "没错", "可以",
    "不是", "不对", "错了", "不要", "不用了", "不留", "跳过",
)  # fmt: skip
# Must always get through, whatever the list: given to Vosk as escape phrases.
ALWAYS = ("转人工", "再说一遍", "说慢一点")


def _district_phrases() -> tuple[str, ...]:
    # People say 静安 as often as 静安区, and 浦东 for 浦东新区.
    short = [short_name(d) for d in DISTRICTS]
    return tuple(dict.fromkeys([*DISTRICTS, *short]))


def _complaint_phrases() -> tuple[str, ...]:
    # The category names (路灯, 井盖, 态度差…): what a report is usually about.
    return tuple(c.name for c in load_categories().items if c.code != "other")


def _by_expectation() -> dict[Expect, tuple[str, ...]]:
    # Addresses and times are free text: no list could cover them, so they are heard openly.
    return {
        Expect.yes_no: YES_NO,
        Expect.district: _district_phrases(),
        Expect.complaint: _complaint_phrases(),
    }


def spoken_name(service: Service) -> str:
    """The shortest name citizens use for a service (敬老卡, 长护险), else its own."""
    names = [n for n in (*service.aliases, *service.colloquial) if len(n) >= 2]
    return min(names, key=len) if names else service.name


def request_vocabulary(services: Iterable[Service]) -> tuple[str, ...]:
    """What an open request may name: the complaint categories' names (few and short),
    then each service's spoken name in catalog order."""
    return tuple(dict.fromkeys([*_complaint_phrases(), *(spoken_name(s) for s in services)]))


@dataclass(frozen=True)
class RecognitionHints:
    by_expectation: Mapping[Expect, tuple[str, ...]] = field(default_factory=_by_expectation)
    vocabulary: tuple[str, ...] = ()  # for an open request: request_vocabulary()

    def for_turn(self, expect: Expect | None, choices: Sequence[str] = ()) -> tuple[str, ...]:
        """Offered choices win (they and yes/no are what a caller picks from); otherwise
        the phrases for what the prompt expects, or none: open recognition. An open
        request has no hints: the menu it offers is one way of answering among many."""
        if expect is Expect.request:
            return ()
        if choices:
            return (*choices, *YES_NO)
        if expect is None:
            return ()
        return self.by_expectation.get(expect, ())

    def vocabulary_for(self, expect: Expect | None, choices: Sequence[str] = ()) -> tuple[str, ...]:
        """Words an open request may contain: its menu's titles and the vocabulary."""
        return (*choices, *self.vocabulary) if expect is Expect.request else ()
