"""The caller check on the phone line: before a caller's tickets are read out or withdrawn,
they say the ticket number (liangwang/complaints/caller_check.py says why and what counts).

``caller_check_needed`` is asked by the actions that disclose or withdraw; when it is,
they return ``ask_caller_check(<themselves>)``: the form asks, validate_caller_check_form
judges the answer (two tries), and action_after_caller_check (actions/complaints.py) does
what the caller asked for, now that they have proven it in this call.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict

from actions.services import services
from actions.tracker import caller_phone, channel, metadata
from liangwang.complaints import tickets
from liangwang.complaints.caller_check import proven_ticket
from liangwang.conversation import Channel
from liangwang.db import unit_of_work

FORM = "caller_check_form"
TRIES = 2


def this_call(tracker: Tracker) -> str:
    """The phone call this turn belongs to (empty off the phone)."""
    return str(metadata(tracker).get("call_id") or "")


def caller_check_needed(tracker: Tracker) -> bool:
    """On the phone, until the caller has proven in this very call that the caller ID's
    tickets are theirs. (The conversation is the number's across calls, so a proof is
    kept with the call it was given in: a later call from a forged number starts over.)"""
    if channel(tracker) != Channel.phone:
        return False
    return bool(tracker.get_slot("caller_checked") != this_call(tracker))


def ask_caller_check(then: str) -> list[EventType]:
    """Ask for the proof; ``then``: the action to run once it is given."""
    return [SlotSet("pending_check", then), FollowupAction(FORM)]


class ValidateCallerCheckForm(FormValidationAction):
    def name(self) -> str:
        return "validate_caller_check_form"

    def validate_caller_check_answer(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        with unit_of_work(services().sessions) as session:
            mine = tickets.for_identity(session, tracker.sender_id)
            proven = proven_ticket(str(value or ""), caller_phone(tracker), mine) is not None
        if proven:
            return {
                "caller_check_answer": None,
                "caller_checked": this_call(tracker),
                REQUESTED_SLOT: None,
            }
        if _failures(tracker) + 1 < TRIES:
            dispatcher.utter_message(response="utter_caller_check_failed")
            return {"caller_check_answer": None}  # the form asks again
        dispatcher.utter_message(response="utter_caller_check_given_up")
        return {"caller_check_answer": None, "pending_check": None, REQUESTED_SLOT: None}


def _failures(tracker: Tracker) -> int:
    """Answers refused since the form began."""
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") == "active_loop" and event.get("name") == FORM:
            break
        said = (event.get("metadata") or {}).get("utter_action")
        count += event.get("event") == "bot" and said == "utter_caller_check_failed"
    return count
