"""What the phone line does with one reply of the dialogue, read before any of it is spoken.

The dialogue's messages carry more than words: buttons (choices, which a caller picks by
key), ``custom: {expect: …}`` (the kind of answer the prompt asks for) and
``custom: {voice: …}`` (what the line must do: take a number on the keypad, hand over,
hang up). A ``ReplyPlan`` reads all of that once, into types, so the call loop applies a
plan instead of poking through dicts. The vocabulary of bot/domain.yml is held to the
``Expect`` and ``VoiceCue`` enums by tests/unit/test_reply_contract.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from liangwang.conversation import BotMessage, Expect, VoiceCue
from liangwang.wording import Say, render
from voice.endpointing import CAREFUL_EXPECTATIONS
from voice.hints import RecognitionHints
from voice.keypad import HANDOFF


@dataclass(frozen=True)
class ReplyPlan:
    texts: tuple[str, ...]  # what we say: the messages' texts, then the keypad menu
    choices: tuple[dict[str, Any], ...] = ()  # the buttons, which keys 1…n pick
    expect: Expect | None = None  # what kind of answer the prompt asks for
    cues: frozenset[VoiceCue] = field(default_factory=frozenset)

    @classmethod
    def from_messages(cls, replies: Sequence[BotMessage]) -> ReplyPlan:
        buttons = tuple(b for m in replies for b in m.buttons)
        texts = [m.text for m in replies if m.text]
        # The first message that says what it expects decides; an unknown word is read as
        # nothing in particular (open recognition), as a typo in the domain always was.
        expect = next((_expect(m.custom["expect"]) for m in replies if "expect" in m.custom), None)
        cues = frozenset(cue for m in replies if (cue := _cue(m.custom.get("voice"))) is not None)
        return cls((*texts, *keypad_menu(buttons)), buttons, expect, cues)

    @classmethod
    def open_request(cls) -> ReplyPlan:
        """Before anything was asked: an open request, as the greeting asks for."""
        return cls((), expect=Expect.request)

    def wants(self, cue: VoiceCue) -> bool:
        return cue in self.cues

    @property
    def expects_number(self) -> bool:
        """The prompt asks for a phone or ticket number: a leading ``0`` is a digit."""
        return self.wants(VoiceCue.number)

    @property
    def careful(self) -> bool:
        """The answer must not be cut short (voice/endpointing.py)."""
        return (self.expect is not None and self.expect in CAREFUL_EXPECTATIONS) or (
            self.expects_number
        )

    @property
    def choice_titles(self) -> tuple[str, ...]:
        # "转人工" is always key 0 and always a recognition hint (voice.hints.ALWAYS).
        return tuple(str(b.get("title", "")) for b in self.choices if b.get("payload") != HANDOFF)

    def hints(self, known: RecognitionHints) -> tuple[str, ...]:
        """What the caller is likely to answer: passed to the recogniser."""
        return known.for_turn(self.expect, self.choice_titles)

    def vocabulary(self, known: RecognitionHints) -> tuple[str, ...]:
        """Words an open request may contain: passed to the recogniser as context."""
        return known.vocabulary_for(self.expect, self.choice_titles)


def keypad_menu(buttons: Sequence[Mapping[str, Any]]) -> list[str]:
    """The buttons read out as a keypad menu ("按1，办事指南；…按0转人工。"), or nothing when
    there are no buttons. The handoff button is left out: key 0 is said at the end anyway."""
    if not buttons:
        return []
    parts = [
        render(
            Say("utter_voice_key_choice", {"key": str(index), "title": str(button.get("title"))})
        )
        for index, button in enumerate(buttons, start=1)
        if button.get("payload") != HANDOFF
    ]
    return [render(Say("utter_voice_keys", {"choices": "".join(parts)}))]


def _expect(value: object) -> Expect | None:
    try:
        return Expect(str(value))
    except ValueError:
        return None


def _cue(value: object) -> VoiceCue | None:
    if not isinstance(value, str):
        return None
    try:
        return VoiceCue(value)
    except ValueError:
        return None
