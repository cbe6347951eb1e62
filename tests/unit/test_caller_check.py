"""Caller ID is a hint: on the phone, a caller proves a ticket is theirs before it is read
out or withdrawn (liangwang/complaints/caller_check.py, actions/caller_check.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from sqlalchemy.orm import Session, sessionmaker

import actions.caller_check as caller_check_actions
import actions.complaints as complaint_actions
from actions.services import Services
from liangwang.complaints import tickets
from liangwang.complaints.caller_check import proven_ticket
from liangwang.complaints.desk import StoredDesk, save_draft
from liangwang.complaints.intake_state import IntakeState, Step
from liangwang.complaints.models import Ticket, TicketAction
from liangwang.complaints.tickets import NewTicket
from liangwang.db import unit_of_work
from liangwang.handoff import open_handoffs, request_handoff

CALLER = "13800138000"
SENDER = f"phone:{CALLER}"
DOMAIN = {
    "responses": yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "bot" / "domain.yml").read_text()
    )["responses"]
}


def said(intent: str, text: str, call_id: str = "call-1", channel: str = "phone") -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "parse_data": {"intent": {"name": intent}},
        "input_channel": "rest",
        "metadata": {"channel": channel, "caller": CALLER, "call_id": call_id},
    }


def tracker(events: list[dict[str, Any]], slots: dict[str, Any] | None = None) -> Tracker:
    last = next(e for e in reversed(events) if e["event"] == "user")
    latest = {**last["parse_data"], "text": last["text"], "metadata": last["metadata"]}
    return Tracker(SENDER, slots or {}, latest, events, False, None, {}, "action_listen")


def run(action: Any, t: Tracker) -> tuple[list[str], list[Any]]:
    dispatcher = CollectingDispatcher()
    events = action.run(dispatcher, t, DOMAIN)
    return [m["response"] for m in dispatcher.messages], events


@pytest.fixture(autouse=True)
def _services(monkeypatch: pytest.MonkeyPatch, sessions: sessionmaker[Session]) -> None:
    fake = Services(sessions=sessions)
    for module in (complaint_actions, caller_check_actions):
        monkeypatch.setattr(module, "services", lambda: fake)


@pytest.fixture
def ticket(sessions: sessionmaker[Session]) -> Ticket:
    """The caller's answered ticket, with news they have not heard, a note from the
    department, and a contact number other than the line they call from."""
    with unit_of_work(sessions) as s:
        filed = tickets.file_ticket(
            s,
            NewTicket(
                category="streetlight",
                description="小区门口的路灯坏了",
                channel="phone",
                district="杨浦",
                identity=SENDER,
                contact_phone="13912345678",
            ),
            actor=SENDER,
        )
        for action in (TicketAction.dispatch, TicketAction.start):
            tickets.transition(s, filed, action, actor="staff")
        tickets.transition(s, filed, TicketAction.answer, actor="staff", note="已派人修")
        s.expunge(filed)
    return filed


def _with_phone(contact: str | None, number: str = "123456") -> Ticket:
    return Ticket(number=number, contact_phone=contact)


def test_what_proves_a_ticket_is_the_callers() -> None:
    other_line = _with_phone("13912345678")
    assert proven_ticket("一二三 四五六", CALLER, [other_line]) is other_line  # its number
    assert proven_ticket("五六七八", CALLER, [other_line]) is other_line  # another line's end
    assert proven_ticket("654321", CALLER, [other_line]) is None  # not one of theirs
    assert proven_ticket("1234", CALLER, [other_line]) is None
    # The caller ID's own last digits prove nothing: whoever forged it knows them.
    same_line = _with_phone("+86 138 0013 8000")
    assert proven_ticket("8000", CALLER, [same_line]) is None
    assert proven_ticket("八零零零", f"+86{CALLER}", [_with_phone(CALLER)]) is None
    assert proven_ticket("8000", CALLER, [_with_phone(None)]) is None


def test_a_caller_proves_it_before_hearing_their_tickets(ticket: Ticket) -> None:
    asked = said("check_status", "我的投诉怎么样了")
    messages, events = run(complaint_actions.ActionTicketStatus(), tracker([asked]))
    # Nothing about the ticket yet: the form asks for its number.
    assert messages == []
    assert events == [
        SlotSet("pending_check", "action_ticket_status"),
        FollowupAction("caller_check_form"),
    ]

    answer = said("inform_number", " ".join(ticket.number))  # said digit by digit
    history = [asked, {"event": "active_loop", "name": "caller_check_form"}, answer]
    validate = caller_check_actions.ValidateCallerCheckForm()
    dispatcher = CollectingDispatcher()
    result = validate.validate_caller_check_answer(
        answer["text"], dispatcher, tracker(history), DOMAIN
    )
    assert result == {"caller_check_answer": None, "caller_checked": "call-1", REQUESTED_SLOT: None}

    slots = {"caller_checked": "call-1", "pending_check": "action_ticket_status"}
    messages, events = run(complaint_actions.ActionAfterCallerCheck(), tracker(history, slots))
    assert messages == ["utter_ticket_status", "utter_ticket_status_note"]
    assert events == [SlotSet("pending_check", None)]

    # The proof holds for that call only: the same number calling again is asked again.
    again = said("check_status", "查进度", call_id="call-2")
    _, events = run(complaint_actions.ActionTicketStatus(), tracker([again], slots))
    assert FollowupAction("caller_check_form") in events


def test_a_wrong_answer_is_asked_once_more_then_a_person_is_offered(ticket: Ticket) -> None:
    validate = caller_check_actions.ValidateCallerCheckForm()
    history: list[dict[str, Any]] = [
        said("check_status", "查进度"),
        {"event": "active_loop", "name": "caller_check_form"},
        said("inform_number", "八零零零"),  # the caller ID's own last four
    ]
    dispatcher = CollectingDispatcher()
    first = validate.validate_caller_check_answer("八零零零", dispatcher, tracker(history), DOMAIN)
    assert first == {"caller_check_answer": None}  # asked again by the form
    assert [m["response"] for m in dispatcher.messages] == ["utter_caller_check_failed"]
    history += [
        {"event": "bot", "text": "…", "metadata": {"utter_action": "utter_caller_check_failed"}},
        said("inform_number", "999999"),
    ]
    dispatcher = CollectingDispatcher()
    second = validate.validate_caller_check_answer("999999", dispatcher, tracker(history), DOMAIN)
    assert second == {"caller_check_answer": None, "pending_check": None, REQUESTED_SLOT: None}
    assert [m["response"] for m in dispatcher.messages] == ["utter_caller_check_given_up"]
    messages, events = run(complaint_actions.ActionAfterCallerCheck(), tracker(history))
    assert (messages, events) == ([], [SlotSet("pending_check", None)])  # nothing read out


def test_withdrawing_on_the_phone_asks_for_the_proof_first(ticket: Ticket) -> None:
    messages, events = run(
        complaint_actions.ActionWithdrawTicket(),
        tracker([said("withdraw_complaint", "撤回我的投诉")]),
    )
    assert messages == [] and FollowupAction("caller_check_form") in events
    # Proven in this call: asked to confirm, with the number.
    proven = {"caller_checked": "call-1", "pending_check": "action_withdraw_ticket"}
    messages, events = run(
        complaint_actions.ActionAfterCallerCheck(),
        tracker([said("inform_number", ticket.number)], proven),
    )
    assert messages == ["utter_confirm_withdraw"]
    assert events == [SlotSet("pending_check", None), SlotSet("confirming", "withdraw")]


def test_a_call_hears_that_there_is_news_not_what_it_is(
    ticket: Ticket, sessions: sessionmaker[Session]
) -> None:
    messages, _ = run(complaint_actions.ActionGreet(), tracker([said("greet", "/greet")]))
    assert messages == ["utter_greet", "utter_ticket_news_private"]
    with sessions() as s:
        kept = s.get(Ticket, ticket.id)
        assert kept is not None and kept.notified_status is None  # still to be told
    # Elsewhere the channel itself says who it is (a Telegram account, a web session).
    web = said("check_status", "查进度", channel="web")
    messages, events = run(complaint_actions.ActionTicketStatus(), tracker([web]))
    assert FollowupAction("caller_check_form") not in events


def _draft_from_call(sessions: sessionmaker[Session], call_id: str) -> None:
    state = IntakeState(step=Step.district, category="streetlight", description="小区门口路灯不亮")
    state.call_id = call_id
    with unit_of_work(sessions) as s:
        save_draft(s, SENDER, "phone", state.to_dict())


def _asked_to_resume(slots: dict[str, Any] | None = None, call_id: str = "call-2") -> list[str]:
    dispatcher = CollectingDispatcher()
    asked = said("report_problem", "我要投诉", call_id=call_id)
    complaint_actions.ask_complaint_input(dispatcher, tracker([asked], slots))
    return [m["response"] for m in dispatcher.messages]


def test_a_draft_from_an_earlier_call_is_not_read_to_the_caller_id(
    sessions: sessionmaker[Session],
) -> None:
    _draft_from_call(sessions, "call-1")
    assert _asked_to_resume() == ["utter_complaint_resume_check"]


def test_a_draft_is_read_back_in_its_own_call_or_once_the_number_is_proven(
    sessions: sessionmaker[Session],
) -> None:
    _draft_from_call(sessions, "call-2")
    assert _asked_to_resume() == ["utter_complaint_resume_offer"]  # said in this very call
    _draft_from_call(sessions, "call-1")
    proven = {"caller_checked": "call-2"}  # the caller gave a ticket's number in this call
    assert _asked_to_resume(proven) == ["utter_complaint_resume_offer"]


def test_a_draft_left_unproven_reaches_staff_with_its_words(
    sessions: sessionmaker[Session],
) -> None:
    with unit_of_work(sessions) as s:
        request_handoff(s, conversation_id=SENDER, channel="phone", last_user_text="转人工")
        desk = StoredDesk(s, actor=SENDER, channel="phone")
        desk.keep_for_call_back(IntakeState(description="路灯不亮", district="杨浦区"))
    with unit_of_work(sessions) as s:
        [handoff] = open_handoffs(s)
        assert handoff.conversation_id == SENDER
        assert handoff.last_user_text == "转人工\n未提交的反映：路灯不亮（杨浦区）"
