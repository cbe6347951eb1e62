"""Pure conversation rules shared by the actions: no Rasa, no I/O, no wording.

Wording lives in bot/domain.yml; these functions only decide *which* response to use,
reading plain event dicts as Rasa stores them in a tracker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

Event = Mapping[str, Any]

# Intents that mean "the assistant did not understand"; they feed the fallback chain.
MISS_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})
# The not-understood path's replies: ask again, offer choices, offer a person.
FALLBACK_RESPONSES = frozenset(
    {"utter_ask_rephrase", "utter_out_of_scope", "utter_offer_choices", "utter_offer_human"}
)
# Intents that do not break a chain of misses because they are about the conversation itself.
NEUTRAL_INTENTS = frozenset({"repeat"})


# Turns that ask for nothing: a greeting (the phone line sends one as the call starts).
OPENING_INTENTS = frozenset({"greet"})


def _turns(events: Sequence[Event]) -> list[tuple[str | None, set[str]]]:
    """The citizen's turns in order: (intent, the responses said in reply), read from the
    ``utter_action`` Rasa records on each bot event."""
    turns: list[tuple[str | None, set[str]]] = []
    for event in events:
        if event.get("event") == "user":
            intent = (event.get("parse_data") or {}).get("intent", {}).get("name")
            turns.append((intent, set()))
        elif event.get("event") == "bot" and turns:
            turns[-1][1].add(str((event.get("metadata") or {}).get("utter_action")))
    return turns


def asked_anything_before(events: Sequence[Event]) -> bool:
    """Whether the citizen asked for anything before the current turn that was understood.
    A "谢谢" or "再见" before that is most often what a recogniser makes of noise ("感谢观看",
    "就"), and must not end a call."""
    return any(
        intent not in OPENING_INTENTS | MISS_INTENTS | NEUTRAL_INTENTS
        and not said & FALLBACK_RESPONSES
        for intent, said in _turns(events)[:-1]
    )


@dataclass(frozen=True)
class FallbackStep:
    response: str
    offers_human: bool


def misses_before(events: Sequence[Event]) -> int:
    """How many of the citizen's turns in a row before the current one were not
    understood: answered with a step of the fallback chain (``FALLBACK_RESPONSES``, which
    Rasa records as ``utter_action`` on each bot event), whichever action said it. Turns
    about the conversation itself ("再说一遍") neither count nor break the run."""
    count = 0
    for intent, said in reversed(_turns(events)[:-1]):  # the current turn is being answered now
        if intent in NEUTRAL_INTENTS:
            continue
        if not said & FALLBACK_RESPONSES:
            break
        count += 1
    return count


def fallback_step(misses: int, latest_intent: str | None) -> FallbackStep:
    """Re-ask once, then offer choices, then offer a person (and keep offering one);
    ``misses`` counts the current turn."""
    if misses <= 1:
        response = "utter_out_of_scope" if latest_intent == "out_of_scope" else "utter_ask_rephrase"
        return FallbackStep(response, offers_human=False)
    if misses == 2:
        return FallbackStep("utter_offer_choices", offers_human=False)
    return FallbackStep("utter_offer_human", offers_human=True)


class Channel(StrEnum):
    """Where a citizen talks to us; a conversation id is the channel's prefix and the
    channel's own id for the person (a web session, a Telegram user, a caller's number)."""

    web = "web"
    telegram = "telegram"
    phone = "phone"
    cli = "cli"

    @property
    def prefix(self) -> str:
        # Phone ids came first with a colon ("phone:+86…"); saved drafts are keyed by them.
        return "phone:" if self is Channel.phone else f"{self.value}-"

    def conversation_id(self, local_id: str) -> str:
        return self.prefix + local_id

    @classmethod
    def of(cls, conversation_id: str) -> Channel | None:
        """The channel a conversation id belongs to, by its prefix."""
        return next((c for c in cls if conversation_id.startswith(c.prefix)), None)

    def local_id(self, conversation_id: str) -> str:
        """The channel's own id back from a conversation id of this channel."""
        return conversation_id.removeprefix(self.prefix)


class Expect(StrEnum):
    """``custom: {expect: …}`` on a domain response: what kind of answer the prompt asks for.

    Channels use it to listen well: the phone line chooses recognition hints and how long a
    closing silence may last (bot/domain.yml, voice/endpointing.py, voice/hints.py)."""

    yes_no = "yes_no"
    request = "request"  # what the citizen wants, in their own words (an open turn)
    district = "district"
    address = "address"
    complaint = "complaint"
    time = "time"


class Taps(StrEnum):
    """``custom: {taps: …}`` on a domain response: the few answers a text channel (web chat,
    Telegram) offers as buttons for the question (liangwang/taps.py). The phone line
    leaves them out: it has the keypad and listens for the answer."""

    yes_no = "yes_no"
    withdraw = "withdraw"  # 撤回 / 不撤回
    district = "district"  # the 16 districts, in a grid
    skip = "skip"  # 跳过 (when it happened)
    no_phone = "no_phone"  # 不留 (a contact number)
    keep_phone = "keep_phone"  # 可以 / 不留 (the number this chat has)
    no_photo = "no_photo"  # 没有 (a photo)
    stars = "stars"  # 1–5 for 好差评
    which_part = "which_part"  # 问题 / 地址 / 时间 / 电话: what the read-back got wrong
    problem = "problem"  # the kinds of problem (路灯, 井盖…): what happened, for those who tap
    location = "location"  # 发送我的位置: where it is, from the phone or browser


class VoiceCue(StrEnum):
    """``custom: {voice: …}`` on a domain response: what the phone line does after speaking."""

    number = "number"  # collect digits on the keypad (phone or ticket number)
    transfer = "transfer"  # hand the call to a person
    hangup = "hangup"  # say goodbye and end the call


@dataclass(frozen=True)
class BotMessage:
    text: str | None = None
    buttons: list[dict[str, Any]] = field(default_factory=list)
    image: str | None = None
    # Instructions for a channel, e.g. {"voice": "transfer"} tells the phone line to hand
    # the call to a person after speaking. Text channels ignore it.
    custom: dict[str, Any] = field(default_factory=dict)


def last_bot_turn(events: Sequence[Event], skip_actions: Iterable[str] = ()) -> list[BotMessage]:
    """The bot messages of the most recent bot turn before the current user message.

    A "turn" is everything the bot said between two user messages. Turns produced by the
    actions in ``skip_actions`` (e.g. the repeat action itself) still count, so asking to
    repeat twice repeats the same answer.
    """
    skip = set(skip_actions)
    seen_current_user = False
    turn: list[BotMessage] = []
    for event in reversed(events):
        kind = event.get("event")
        if kind == "user":
            if not seen_current_user:
                seen_current_user = True
                continue
            if turn:
                break
            continue
        if not seen_current_user:
            continue
        if kind == "bot":
            data = event.get("data") or {}
            turn.append(
                BotMessage(
                    text=event.get("text"),
                    buttons=list(data.get("buttons") or []),
                    image=data.get("image"),
                )
            )
        elif kind == "action" and event.get("name") in skip:
            continue
    turn.reverse()
    return turn
