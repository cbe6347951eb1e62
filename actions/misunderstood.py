"""The not-understood path, answered by whichever action found it: ask again, then offer
choices, then offer a person (liangwang.conversation.fallback_step)."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.tracker import latest_intent
from liangwang.conversation import fallback_step, misses_before


def not_understood(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    step = fallback_step(misses_before(tracker.events) + 1, latest_intent(tracker))
    dispatcher.utter_message(response=step.response)
    return [SlotSet("pending_offer", "human" if step.offers_human else None)]
