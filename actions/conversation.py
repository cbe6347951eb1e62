"""Actions for the conversation itself: handoff, repeat, fallback chain."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.complaints import complaint_instead
from actions.misunderstood import not_understood
from actions.service_guide import guide_turn
from actions.services import services
from actions.tracker import channel, latest_intent, latest_text, metadata
from liangwang.catalog.search import choices, is_found
from liangwang.conversation import MISS_INTENTS, Channel, asked_anything_before, last_bot_turn
from liangwang.db import unit_of_work
from liangwang.handoff import Reason, request_handoff
from liangwang.understanding.request import find_service

HANDOFF_PAYLOAD = "/handoff"  # key 0 on the phone, the 转人工 button elsewhere


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        with unit_of_work(services().sessions) as session:
            request_handoff(
                session,
                conversation_id=tracker.sender_id,
                channel=channel(tracker),
                last_user_text=_last_meaningful_user_text(tracker),
                reason=handoff_reason(tracker),
            )
        dispatcher.utter_message(response="utter_handoff")
        # pending_offer is left as it is: changing it here would break the rule that led
        # here; the accepting rule also requires the fallback chain just before, so a
        # stale value never turns a later "好" into a handoff.
        return []


def handoff_reason(tracker: Tracker) -> Reason:
    """Why this conversation comes to a person: the phone line says when the assistant
    failed; key 0 arrives as the handoff payload on the phone; a "好" to the fallback
    chain's offer of a person is falling back; anything else is asking."""
    said = metadata(tracker).get("handoff_reason")
    if said in set(Reason):
        return Reason(said)
    if channel(tracker) == Channel.phone and latest_text(tracker) == HANDOFF_PAYLOAD:
        return Reason.key_zero
    if tracker.get_slot("pending_offer") == "human" and latest_intent(tracker) != "handoff":
        return Reason.fell_back
    return Reason.asked


class ActionRepeat(Action):
    def name(self) -> str:
        return "action_repeat"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        messages = last_bot_turn(tracker.events)
        if not messages:
            # "啊？" before the assistant said anything: a sound, not a request to repeat.
            return not_understood(dispatcher, tracker)
        for message in messages:
            dispatcher.utter_message(
                text=message.text, buttons=message.buttons or None, image=message.image
            )
        return []


COURTESY_REPLIES = {"goodbye": "utter_goodbye", "thank": "utter_you_are_welcome"}


class ActionCourtesy(Action):
    """Goodbye and thanks; before anything was asked, not understood (see
    liangwang.conversation.asked_anything_before)."""

    def name(self) -> str:
        return "action_courtesy"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reply = COURTESY_REPLIES.get(latest_intent(tracker) or "")
        if reply is None or not asked_anything_before(tracker.events):
            return not_understood(dispatcher, tracker)
        dispatcher.utter_message(response=reply)
        return []


ASK_SERVICE = "ask_service"
OUT_OF_SCOPE = "out_of_scope"


class ActionFallbackChain(Action):
    def name(self) -> str:
        return "action_fallback_chain"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        complaint = complaint_instead(tracker)
        if complaint is not None:
            return complaint
        intent = latest_intent(tracker)
        if intent in MISS_INTENTS and _names_a_service(latest_text(tracker), intent):
            # NLU could not place it, but the words (or their sounds) name a service:
            # "底保怎么办". The guide answers; not understood is only what nothing finds.
            return guide_turn(dispatcher, tracker, domain, intent=ASK_SERVICE)
        return not_understood(dispatcher, tracker)


def _names_a_service(text: str, intent: str | None) -> bool:
    """Whether the catalog finds a service in a turn NLU could not place. A turn NLU
    placed outside government services ("由 Amara.org 社区提供的字幕") needs a clear find;
    a mere guess there would put a stranger's words to the citizen as their request."""
    with unit_of_work(services().sessions) as session:
        catalog = services().catalog_index.get(session)
        found = find_service(catalog.search, text)
        return is_found(found) if intent == OUT_OF_SCOPE else bool(choices(found))


def _last_meaningful_user_text(tracker: Tracker) -> str:
    """The last thing the citizen said that was not the handoff request itself."""
    texts: list[Any] = [
        e.get("text")
        for e in tracker.events
        if e.get("event") == "user"
        and e.get("parse_data", {}).get("intent", {}).get("name") not in ("handoff", "affirm")
    ]
    return str(texts[-1]) if texts and texts[-1] else ""
