"""Reading the tracker and answering through the dispatcher: the little every action needs.

Channels send their own name and facts about the turn (a caller's number, a shared
location, a photo) as message metadata; these helpers are the one place that reads them.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from liangwang.conversation import Channel
from liangwang.wording import Say


def _latest_intent_parse(tracker: Tracker) -> dict[str, Any]:
    parse: dict[str, Any] = tracker.latest_message.get("intent") or {}
    return parse


def latest_intent(tracker: Tracker) -> str:
    """The intent of the citizen's latest message ("" when NLU gave none)."""
    return str(_latest_intent_parse(tracker).get("name") or "")


def latest_confidence(tracker: Tracker) -> float:
    """NLU's confidence in the latest message's intent (1.0 when it gave none)."""
    confidence = _latest_intent_parse(tracker).get("confidence")
    return 1.0 if confidence is None else float(confidence)


def latest_text(tracker: Tracker) -> str:
    return str(tracker.latest_message.get("text") or "")


def metadata(tracker: Tracker) -> dict[str, Any]:
    value = tracker.latest_message.get("metadata")
    return value if isinstance(value, dict) else {}


def channel(tracker: Tracker) -> str:
    """Our channel name, which every channel sends as metadata; a message without it came
    straight to Rasa's REST webhook, which is how the web chat talks."""
    return str(metadata(tracker).get("channel") or Channel.web)


def since_last_said(tracker: Tracker) -> list[dict[str, Any]]:
    """The events after the citizen's latest message (all of them if there is none)."""
    events: list[dict[str, Any]] = tracker.events
    said = [i for i, event in enumerate(events) if event.get("event") == "user"]
    return events[said[-1] + 1 :] if said else list(events)


def caller_phone(tracker: Tracker) -> str | None:
    """The phone line's caller ID, if the turn came from a call."""
    caller = metadata(tracker).get("caller")
    return str(caller) if caller else None


def utter(dispatcher: CollectingDispatcher, says: list[Say]) -> None:
    """Send the responses the core chose, with their variables and buttons."""
    for say in says:
        dispatcher.utter_message(response=say.response, buttons=say.buttons or None, **say.vars)
