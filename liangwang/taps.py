"""Answers by tapping: the buttons a text channel shows for a question whose answers are
few (``custom: {taps: …}`` in bot/domain.yml). Typing or speaking still works: a button
only sends what the citizen could have written ("跳过", "静安区") or the intent itself
("/affirm"). The words on the buttons are the domain's (``utter_fragment_tap_*``)."""

from __future__ import annotations

from typing import Any

from liangwang.complaints.categories import OTHER, load_categories
from liangwang.conversation import BotMessage, Taps
from liangwang.districts import DISTRICTS
from liangwang.wording import fragments

Button = dict[str, Any]
STARS = range(1, 6)
# Not sent as words: the channel asks the device where it is and sends that (Telegram's
# location button, the browser's geolocation), as if the citizen had shared it.
SHARE_LOCATION = "/share_location"


def _button(title: str, payload: str | None = None) -> Button:
    return {"title": title, "payload": payload if payload is not None else title}


def buttons_for(kind: Taps) -> list[Button]:
    words = fragments()
    yes, no = _button(words["tap_yes"], "/affirm"), _button(words["tap_no"], "/deny")
    by_kind: dict[Taps, list[Button]] = {
        Taps.yes_no: [yes, no],
        Taps.withdraw: [
            _button(words["tap_withdraw"], "/affirm"),
            _button(words["tap_keep"], "/deny"),
        ],
        Taps.district: [_button(d) for d in DISTRICTS],
        Taps.skip: [_button(words["tap_skip"])],
        Taps.no_phone: [_button(words["tap_no_phone"])],
        Taps.keep_phone: [_button(words["tap_ok"], "/affirm"), _button(words["tap_no_phone"])],
        Taps.no_photo: [_button(words["tap_no_photo"])],
        Taps.stars: [_button(words["tap_stars"].format(n=n)) for n in STARS],  # "5分"
        Taps.which_part: [_button(w) for w in words["tap_which_part"].split("、")],
        Taps.problem: _problem_kinds(),
        Taps.location: [_button(words["tap_location"], SHARE_LOCATION)],
    }
    return by_kind[kind]


def _problem_kinds() -> list[Button]:
    """Each kind of problem by its name, sending its plain description ("路灯不亮、损坏")
    as what happened: the category is then inferred and confirmed as for spoken words.
    "其他问题" is not offered: a problem of no kind has to be told."""
    kinds = load_categories().items
    return [_button(c.name, c.description) for c in kinds if c.code != OTHER]


def _offered(kind: object) -> list[Button]:
    return buttons_for(Taps(str(kind))) if kind in set(Taps) else []


def tap_buttons(message: BotMessage) -> list[Button]:
    """The message's own buttons, or else those its question offers to a text channel."""
    return message.buttons or _offered(message.custom.get("taps"))


def with_tap_answers(replies: list[BotMessage]) -> list[BotMessage]:
    """What a text channel shows of a turn: the messages with words or buttons, the last of
    them carrying the buttons its question offers. (Rasa sends a response's ``custom`` part
    as a message of its own, so the taps may come apart from the words.)"""
    shown = [m for m in replies if m.text or m.buttons]
    kinds = [m.custom["taps"] for m in replies if m.custom.get("taps")]
    if kinds and shown and not shown[-1].buttons:
        last = shown[-1]
        shown[-1] = BotMessage(last.text, _offered(kinds[-1]), last.image, last.custom)
    return shown
