"""我要找茬 / 一网统管 actions: the complaint form, status, rating, withdrawal, greeting.

Thin adapters: the intake state machine (liangwang.complaints.intake) and the ticket desk
(liangwang.complaints) decide; these read the tracker, save the draft after every turn,
and send the responses the core chose.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.caller_check import ask_caller_check, caller_check_needed, this_call
from actions.misunderstood import not_understood
from actions.services import services
from actions.tracker import (
    caller_phone,
    channel,
    latest_intent,
    latest_text,
    metadata,
    since_last_said,
    utter,
)
from liangwang.complaints import tickets
from liangwang.complaints.categories import load_categories
from liangwang.complaints.desk import StoredDesk, delete_draft, load_draft, save_draft
from liangwang.complaints.intake import Intake
from liangwang.complaints.intake_state import FINISHED, IntakeState, Message, Step
from liangwang.complaints.models import TicketAction
from liangwang.complaints.status import status_says
from liangwang.complaints.updates import has_news, news_for
from liangwang.complaints.validation import InvalidInput
from liangwang.db import unit_of_work
from liangwang.labels import TICKET_NOTES
from liangwang.spoken import grouped, parse_age, ticket_number
from liangwang.understanding.chatter import chatter_not_problem
from liangwang.understanding.problem import describes_problem
from liangwang.wording import Say, fragments_from_responses

FORM = "complaint_form"


def _message(tracker: Tracker) -> Message:
    facts = metadata(tracker)
    location = facts.get("location") or {}
    return Message(
        text=latest_text(tracker),
        intent=latest_intent(tracker),
        lat=location.get("lat"),
        long=location.get("long"),
        media_url=facts.get("media_url"),
    )


def complaint_instead(tracker: Tracker) -> list[EventType] | None:
    """A complaint in everyday words that NLU took for a question about a service (or
    could not place) is taken down as the complaint it is: the form starts on it, as it
    does for report_problem. None when the turn is what NLU said it was."""
    if describes_problem(latest_text(tracker), latest_intent(tracker)):
        return [FollowupAction("complaint_form")]
    return None


def _chatter(tracker: Tracker) -> bool:
    """The turn that opened the form is everyday chatter NLU took for a problem. A button
    or key press arrives as its payload ("/report_problem") and is never chatter."""
    text = latest_text(tracker).strip()
    return bool(text) and not text.startswith("/") and chatter_not_problem(text)


def _intake(tracker: Tracker) -> Intake:
    return Intake(load_categories(), channel(tracker), tracker.sender_id)


def _save_draft(session: Session, tracker: Tracker, state: IntakeState) -> None:
    state.call_id = this_call(tracker) or None
    save_draft(session, tracker.sender_id, channel(tracker), state.to_dict())


def _draft_proven(tracker: Tracker, draft: IntakeState) -> bool:
    """May the draft's words be read to this caller? Off the phone, or on the phone when
    the number is proven in this call or the draft was said in this very call."""
    return not caller_check_needed(tracker) or draft.call_id == this_call(tracker)


def ask_complaint_input(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    """Asks the current question; on the first turn starts (or offers to resume) a draft."""
    intake = _intake(tracker)
    state = IntakeState.from_dict(tracker.get_slot("complaint"))
    says: list[Say] = []
    if state is None:
        with unit_of_work(services().sessions) as session:
            draft = IntakeState.from_dict(load_draft(session, tracker.sender_id))
            if draft is not None and draft.step not in FINISHED and draft.description:
                state = intake.resume(draft, proven=_draft_proven(tracker, draft))
            elif _chatter(tracker):
                # Not a complaint at all ("我孙子这次考试考了一百分"): not understood, and
                # the form ends before it began (no draft is saved).
                return [*not_understood(dispatcher, tracker), SlotSet(REQUESTED_SLOT, None)]
            else:
                says, state = intake.start(_message(tracker), caller_phone(tracker))
            _save_draft(session, tracker, state)
    utter(dispatcher, says + intake.prompt(state))
    return [SlotSet("complaint", state.to_dict())]


def _ends_the_form(events: list[EventType]) -> bool:
    return any(
        e.get("event") == "slot" and e.get("name") == REQUESTED_SLOT and e.get("value") is None
        for e in events
    )


def _form_asks(tracker: Tracker) -> bool:
    """Does Rasa's form go on to ask its question in this call? When it starts, when the
    citizen's words were taken as the answer, and when it comes back after another action
    (a repeat). Not when the citizen said something that is no answer ("转人工"): the form
    then gives way, and the rule for what was said runs instead."""
    since = since_last_said(tracker)
    starting = any(e.get("event") == "active_loop" and e.get("name") == FORM for e in since)
    answered = "complaint_input" in tracker.slots_to_validate()
    came_back = any(
        e.get("event") == "action" and e.get("name") not in (FORM, "action_listen") for e in since
    )
    return starting or answered or came_back


class ValidateComplaintForm(FormValidationAction):
    """Takes each answer and asks the next question, in one call to the action server per
    turn: the form has no ask action of its own (the domain names none for
    ``complaint_input``, so Rasa's form asks nothing itself). On the turn that starts the
    form there is no answer yet: the intake starts (or a draft is offered) and its first
    question is asked. The answer that finishes the intake (the "对" that files, or the last
    failed try) is answered and ends the form: the filed number is said, the form's slots
    are cleared and ``requested_slot`` is set to None, which ends a Rasa form."""

    def name(self) -> str:
        return "validate_complaint_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        asks = _form_asks(tracker)
        events: list[EventType] = await super().run(dispatcher, tracker, domain)
        if not asks or _ends_the_form(events):
            return events
        return [*events, *ask_complaint_input(dispatcher, tracker)]

    def validate_complaint_input(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        intake = _intake(tracker)
        state = IntakeState.from_dict(tracker.get_slot("complaint")) or IntakeState()
        deps = services()
        with unit_of_work(deps.sessions) as session:
            desk = StoredDesk(session, actor=tracker.sender_id, channel=channel(tracker))
            says, state = intake.handle(state, _message(tracker), desk)
            if state.step == Step.done:
                delete_draft(session, tracker.sender_id)
            else:
                _save_draft(session, tracker, state)
        if state.step == Step.done:
            says = [*says, *intake.done_messages(state)]
        utter(dispatcher, says)
        if state.step in FINISHED:
            return {"complaint": None, "complaint_input": None, REQUESTED_SLOT: None}
        return {"complaint": state.to_dict(), "complaint_input": None}


class ActionGreet(Action):
    """Greets; mentions an unfinished complaint, and news about the citizen's tickets
    (how phone callers hear status changes: on their next call)."""

    def name(self) -> str:
        return "action_greet"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_greet")
        fragments = fragments_from_responses(domain.get("responses", {}))
        with unit_of_work(services().sessions) as session:
            draft = IntakeState.from_dict(load_draft(session, tracker.sender_id))
            if caller_check_needed(tracker):  # a caller ID alone hears that, not what
                private = has_news(session, tracker.sender_id)
                news = [Say("utter_ticket_news_private")] if private else []
            else:
                news = news_for(session, tracker.sender_id, load_categories(), fragments)
                news = [Say("utter_ticket_updates_since"), *news] if news else []
        utter(dispatcher, news)
        if draft is not None and draft.step not in FINISHED and draft.description:
            dispatcher.utter_message(response="utter_complaint_draft_waiting")
        return []


class ActionTicketStatus(Action):
    """查询进度: the citizen's latest ticket (by identity, or by a number said digit by digit)."""

    def name(self) -> str:
        return "action_ticket_status"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        fragments = fragments_from_responses(domain.get("responses", {}))
        digits = ticket_number(latest_text(tracker))
        with unit_of_work(services().sessions) as session:
            if digits is not None:
                ticket = tickets.by_number(session, digits)
                if ticket is None:
                    dispatcher.utter_message(
                        response="utter_ticket_not_found", number=grouped(digits)
                    )
                    return []
                others = 0
            else:
                mine = tickets.for_identity(session, tracker.sender_id)
                if not mine:
                    dispatcher.utter_message(response="utter_no_tickets")
                    return []
                if caller_check_needed(tracker):  # a number said is proof of its own
                    return ask_caller_check(self.name())
                ticket, others = mine[0], len(mine) - 1
            # A number can be anyone's: only its owner hears the department's note, has
            # the news counted as told (or their own push would never come) and is asked
            # to rate it.
            owner = ticket.identity == tracker.sender_id
            says = status_says(ticket, load_categories(), fragments, owner=owner)
            if owner:
                ticket.mark_told()
            ask_rating = owner and ticket.awaiting_rating
        utter(dispatcher, says)
        if others:
            dispatcher.utter_message(response="utter_ticket_more", count=str(others))
        if ask_rating:
            dispatcher.utter_message(response="utter_ask_rating")
        return []


class ActionRateTicket(Action):
    def name(self) -> str:
        return "action_rate_ticket"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        text = latest_text(tracker)
        stars = parse_age(text)  # a small number said in digits or Chinese numerals
        with unit_of_work(services().sessions) as session:
            ticket = next(
                (t for t in tickets.for_identity(session, tracker.sender_id) if t.awaiting_rating),
                None,
            )
            if ticket is None:
                dispatcher.utter_message(response="utter_no_tickets")
                return []
            try:
                tickets.rate(session, ticket, stars or 0, text, actor=tracker.sender_id)
            except InvalidInput:
                dispatcher.utter_message(response="utter_rating_invalid")
                return []
        dispatcher.utter_message(response="utter_rating_thanks", stars=str(stars))
        return []


class ActionAddInformation(Action):
    """补充: the supplement form collected the text; add it to the latest open ticket."""

    def name(self) -> str:
        return "action_add_information"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        text = str(tracker.get_slot("supplement_text") or "")
        with unit_of_work(services().sessions) as session:
            ticket = next(
                (t for t in tickets.for_identity(session, tracker.sender_id) if t.is_open), None
            )
            if ticket is None:
                dispatcher.utter_message(response="utter_no_tickets")
                return [SlotSet("supplement_text", None)]
            try:
                tickets.add_information(session, ticket, text, actor=tracker.sender_id)
            except InvalidInput:
                dispatcher.utter_message(response="utter_complaint_hint_description")
                return [SlotSet("supplement_text", None)]
            number = grouped(ticket.number)
        dispatcher.utter_message(response="utter_supplement_added", number=number)
        return [SlotSet("supplement_text", None)]


class ActionWithdrawTicket(Action):
    """Asks to confirm, then (on 'yes' or 'no', routed back here by a rule) acts.

    The ``confirming`` slot is set when asking and deliberately not cleared afterwards:
    clearing it would change the state the confirming rule matched. The rule also needs
    this action just before, so a stale value never turns a later "对" into a withdrawal.
    """

    def name(self) -> str:
        return "action_withdraw_ticket"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        intent = latest_intent(tracker)
        with unit_of_work(services().sessions) as session:
            ticket = next(
                (t for t in tickets.for_identity(session, tracker.sender_id) if t.is_open), None
            )
            if ticket is None:
                dispatcher.utter_message(response="utter_nothing_to_withdraw")
                return []
            if caller_check_needed(tracker):
                return ask_caller_check(self.name())
            number = grouped(ticket.number)
            if intent not in ("affirm", "deny"):
                dispatcher.utter_message(response="utter_confirm_withdraw", number=number)
                return [SlotSet("confirming", "withdraw")]
            if intent == "affirm":
                tickets.transition(
                    session,
                    ticket,
                    TicketAction.withdraw,
                    actor=tracker.sender_id,
                    note=TICKET_NOTES["withdrawn_by_citizen"],
                )
                dispatcher.utter_message(response="utter_withdrawn", number=number)
            else:
                dispatcher.utter_message(response="utter_withdraw_kept")
        return []


class ActionAfterCallerCheck(Action):
    """Does what a phone caller asked for once they have proven the tickets are theirs
    (actions/caller_check.py); nothing when they could not. It answers in its own turn
    rather than handing over to the action that asked, so the rules know what comes next."""

    def name(self) -> str:
        return "action_after_caller_check"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        then = AFTER_CHECK.get(str(tracker.get_slot("pending_check")))
        events: list[EventType] = [SlotSet("pending_check", None)]
        if then is None or caller_check_needed(tracker):
            return events
        return [*events, *then().run(dispatcher, tracker, domain)]


AFTER_CHECK: dict[str, type[Action]] = {
    ActionTicketStatus().name(): ActionTicketStatus,
    ActionWithdrawTicket().name(): ActionWithdrawTicket,
}
