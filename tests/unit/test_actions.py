"""Action tests: run each action on a tracker and assert the exact messages and events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import actions.complaints as complaint_actions
import actions.conversation as conversation_actions
import actions.service_guide as service_guide_actions
from actions.conversation import ActionCourtesy, ActionFallbackChain, ActionHandoff, ActionRepeat
from actions.services import Services
from liangwang.catalog.search import Candidate
from liangwang.catalog.store import import_catalog, read_catalog_file
from liangwang.complaints.intake_state import IntakeState
from liangwang.db import unit_of_work
from liangwang.handoff import HandoffRequest
from liangwang.spoken import grouped


def user(intent: str, text: str, channel: str = "web") -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "parse_data": {"intent": {"name": intent}},
        "input_channel": "rest",
        "metadata": {"channel": channel},
    }


def bot_said(response: str) -> dict[str, Any]:
    """A bot event as Rasa records a response an action asked for."""
    return {"event": "bot", "text": "…", "metadata": {"utter_action": response}}


def tracker(events: list[dict[str, Any]], sender: str = "web-abc") -> Tracker:
    last = next(e for e in reversed(events) if e["event"] == "user")
    latest = {**last["parse_data"], "text": last["text"], "metadata": last["metadata"]}
    return Tracker(sender, {}, latest, events, False, None, {}, "action_listen")


@pytest.fixture(autouse=True)
def _services(
    monkeypatch: pytest.MonkeyPatch, sessions: sessionmaker[Session]
) -> sessionmaker[Session]:
    fake = Services(sessions=sessions)
    for module in (conversation_actions, service_guide_actions, complaint_actions):
        monkeypatch.setattr(module, "services", lambda: fake)
    return sessions


@pytest.fixture
def guide_domain(sessions: sessionmaker[Session]) -> DomainDict:
    """The test catalog imported; the domain's responses, as Rasa hands them to actions."""
    root = Path(__file__).resolve().parents[2]
    with unit_of_work(sessions) as s:
        import_catalog(s, read_catalog_file(s, root / "tests" / "fixtures" / "catalog_mini.yml"))
    return {"responses": yaml.safe_load((root / "bot" / "domain.yml").read_text())["responses"]}


def run(action: Any, t: Tracker) -> tuple[list[dict[str, Any]], list[Any]]:
    dispatcher = CollectingDispatcher()
    events = action.run(dispatcher, t, {})
    return dispatcher.messages, events


def asked(t: Tracker) -> tuple[list[dict[str, Any]], list[Any]]:
    """The complaint form's question for this turn (asked by its validation action)."""
    dispatcher = CollectingDispatcher()
    events = complaint_actions.ask_complaint_input(dispatcher, t)
    return dispatcher.messages, events


def test_handoff_answers_and_marks_the_conversation_for_staff(
    sessions: sessionmaker[Session],
) -> None:
    t = tracker([user("nlu_fallback", "我家门口那个事"), user("handoff", "转人工", "telegram")])
    messages, events = run(ActionHandoff(), t)
    assert [m["response"] for m in messages] == ["utter_handoff"]
    assert events == []
    with sessions() as s:
        rows = s.scalars(select(HandoffRequest)).all()
    assert [(r.conversation_id, r.channel, r.last_user_text) for r in rows] == [
        ("web-abc", "telegram", "我家门口那个事")
    ]


def test_asking_for_a_person_twice_keeps_one_open_request(
    sessions: sessionmaker[Session],
) -> None:
    t = tracker([user("handoff", "转人工")])
    run(ActionHandoff(), t)
    run(ActionHandoff(), t)
    with sessions() as s:
        assert len(s.scalars(select(HandoffRequest)).all()) == 1


def test_repeat_sends_the_previous_turn_again_with_its_buttons() -> None:
    buttons = [{"title": "转人工", "payload": "/handoff"}]
    t = tracker(
        [
            user("greet", "你好"),
            {"event": "bot", "text": "您好！", "data": {"buttons": buttons}},
            user("repeat", "再说一遍"),
        ]
    )
    messages, events = run(ActionRepeat(), t)
    assert [(m["text"], m["buttons"]) for m in messages] == [("您好！", buttons)]
    assert events == []


def test_repeat_before_anything_was_said_is_not_understood() -> None:
    # "啊？" as the first turn is a sound, not a request: the not-understood path answers.
    messages, events = run(ActionRepeat(), tracker([user("repeat", "啊？")]))
    assert [m["response"] for m in messages] == ["utter_ask_rephrase"]
    assert events == [SlotSet("pending_offer", None)]


@pytest.mark.parametrize(
    ("intents", "response", "offer"),
    [
        (["nlu_fallback"], "utter_ask_rephrase", None),
        (["out_of_scope"], "utter_out_of_scope", None),
        (["nlu_fallback", "out_of_scope"], "utter_offer_choices", None),
        (["nlu_fallback", "nlu_fallback", "nlu_fallback"], "utter_offer_human", "human"),
    ],
)
def test_fallback_chain(intents: list[str], response: str, offer: str | None) -> None:
    events: list[dict[str, Any]] = []
    for index, intent in enumerate(intents):
        events.append(user(intent, "嗯嗯啊啊"))
        if index < len(intents) - 1:  # earlier turns were answered on the same path
            events.append(bot_said("utter_ask_rephrase"))
    messages, returned = run(ActionFallbackChain(), tracker(events))
    assert [m["response"] for m in messages] == [response]
    assert returned == [SlotSet("pending_offer", offer)]


def test_a_turn_nlu_missed_that_names_a_service_is_answered_by_the_guide(
    guide_domain: DomainDict,
) -> None:
    t = tracker([user("nlu_fallback", "设保卡咋整")])
    t.slots["guide"] = None
    dispatcher = CollectingDispatcher()
    events = ActionFallbackChain().run(dispatcher, t, guide_domain)
    assert dispatcher.messages[0]["response"] == "utter_service_intro"
    assert events[-1] == SlotSet("pending_offer", None)  # no FollowupAction: no loop
    # Words that name nothing stay on the not-understood path.
    messages, _ = run(ActionFallbackChain(), tracker([user("nlu_fallback", "嗯嗯啊啊")]))
    assert [m["response"] for m in messages] == ["utter_ask_rephrase"]


def test_words_nlu_placed_out_of_scope_need_a_clear_find_not_a_guess(
    guide_domain: DomainDict, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A subtitle credit a recogniser makes of silence, where "提供" sounds like 提公(积金):
    # only a guess (two sounds shared with a name), not a clear find.
    weak = Candidate("housing-fund-withdrawal", "住房公积金提取", 0.25, [], 0.2)
    monkeypatch.setattr(conversation_actions, "find_service", lambda search, text: [weak])
    credit = "由 Amara.org 社区提供的字幕"
    messages, _ = run(ActionFallbackChain(), tracker([user("out_of_scope", credit)]))
    assert [m["response"] for m in messages] == ["utter_out_of_scope"]
    # The same guess where NLU was merely unsure is put to the citizen.
    assert conversation_actions._names_a_service(credit, "nlu_fallback")


def test_a_complaint_nlu_took_for_a_request_or_missed_starts_the_complaint_form() -> None:
    text = "办个证跑了五六趟，每次都讲缺东西，腿都跑细了"
    for action, intent in (
        (service_guide_actions.ActionServiceGuide(), "ask_service"),
        (ActionFallbackChain(), "nlu_fallback"),
    ):
        t = tracker([user(intent, text)])
        t.slots["guide"] = None
        messages, events = run(action, t)
        # Nothing said here: the form asks its first question on these very words.
        assert (messages, events) == ([], [FollowupAction("complaint_form")])


def test_chatter_taken_for_a_complaint_is_not_understood_and_ends_the_form(
    sessions: sessionmaker[Session],
) -> None:
    from liangwang.complaints.models import ComplaintDraft

    t = tracker([user("report_problem", "阿拉外孙今朝钢琴考级过了")], sender="web-chatter")
    t.slots["complaint"] = None
    messages, events = asked(t)
    assert [m["response"] for m in messages] == ["utter_ask_rephrase"]
    # The last requested_slot set to None ends the form before it began.
    assert events[-1] == SlotSet(REQUESTED_SLOT, None)
    with sessions() as s:
        assert s.get(ComplaintDraft, "web-chatter") is None
    # A button's payload opens the form as before.
    t = tracker([user("report_problem", "/report_problem")], sender="web-button")
    t.slots["complaint"] = None
    messages, _ = asked(t)
    assert [m["response"] for m in messages] == ["utter_ask_complaint_description"]


def test_service_guide_action_reads_the_catalog_and_stores_its_state(
    guide_domain: DomainDict,
) -> None:
    t = tracker([user("ask_service", "我想补办设保卡")])
    t.slots["guide"] = None
    dispatcher = CollectingDispatcher()
    events = service_guide_actions.ActionServiceGuide().run(dispatcher, t, guide_domain)
    assert [(m["response"], m.get("step")) for m in dispatcher.messages] == [
        ("utter_service_intro", None),
        ("utter_guide_first_step", "带身份证到社区事务受理服务中心。"),
        ("utter_ask_continue", None),
    ]
    assert events == [
        SlotSet(
            "guide",
            {
                "service_id": "social-security-card",
                "previous_service_id": None,
                "district": None,
                "awaiting": "more_steps",
                "step": 1,
                "candidates": [],
                "pending_question": None,
                "eligibility_index": 0,
                "eligibility_results": [],
                "reasks": 0,
            },
        ),
        SlotSet("pending_offer", None),
    ]


def test_a_turn_the_guide_cannot_use_is_answered_as_not_understood(
    sessions: sessionmaker[Session],
) -> None:
    t = tracker([user("affirm", "hjkl")])
    t.slots["guide"] = None
    dispatcher = CollectingDispatcher()
    events = service_guide_actions.ActionServiceGuide().run(dispatcher, t, {"responses": {}})
    # Not "好的。还有什么能帮您？": the first step of the not-understood path.
    assert [m["response"] for m in dispatcher.messages] == ["utter_ask_rephrase"]
    assert events[-1] == SlotSet("pending_offer", None)


def _run_form_turn(
    sessions: sessionmaker[Session], events: list[dict[str, Any]], slot: dict[str, Any] | None
) -> tuple[list[dict[str, Any]], list[Any]]:
    t = tracker(events, sender="web-complainer")
    t.slots["complaint"] = slot
    t.slots["requested_slot"] = "complaint_input"
    t.slots["complaint_input"] = events[-1]["text"]
    dispatcher = CollectingDispatcher()
    validate = complaint_actions.ValidateComplaintForm()
    result = validate.validate_complaint_input(events[-1]["text"], dispatcher, t, {})
    return dispatcher.messages, result


def test_complaint_actions_take_down_save_and_file(sessions: sessionmaker[Session]) -> None:
    from liangwang.complaints.models import ComplaintDraft, Ticket

    first = [user("report_problem", "我要投诉，小区门口路灯坏了")]
    t = tracker(first, sender="web-complainer")
    t.slots["complaint"] = None
    dispatcher = CollectingDispatcher()
    events = complaint_actions.ask_complaint_input(dispatcher, t)
    assert [m["response"] for m in dispatcher.messages] == ["utter_complaint_confirm_category"]
    assert dispatcher.messages[0]["category"] == "路灯"
    [slot_event] = events
    state = slot_event["value"]
    assert state["step"] == "category" and state["category"] == "streetlight"
    with sessions() as s:
        assert s.get(ComplaintDraft, "web-complainer") is not None  # saved from the first turn

    history = list(first)
    for text, intent in [
        ("对", "affirm"),
        ("杨浦区", "inform_district"),
        ("国和路100号", "x"),
        ("跳过", "x"),
        ("不留", "deny"),
    ]:
        history.append(user(intent, text))
        _, result = _run_form_turn(sessions, history, state)
        state = result["complaint"]
        assert result == {"complaint": state, "complaint_input": None}
    assert state["step"] == "readback"
    # The yes that files: the same call says the number, clears the form's slots and
    # ends the form (requested_slot None), so no further action runs in that turn.
    history.append(user("affirm", "对"))
    messages, result = _run_form_turn(sessions, history, state)
    assert result == {"complaint": None, "complaint_input": None, "requested_slot": None}
    assert [m["response"] for m in messages] == ["utter_complaint_filed"]
    with sessions() as s:
        [ticket] = s.scalars(select(Ticket)).all()
        assert (grouped(ticket.number), ticket.category, ticket.district) == (
            messages[0]["number"],
            "streetlight",
            "杨浦区",
        )
        assert s.get(ComplaintDraft, "web-complainer") is None  # filed: draft gone


def test_each_complaint_turn_is_answered_and_asked_in_one_call(
    sessions: sessionmaker[Session],
) -> None:
    """The form's validation action also asks the next question (the domain names no ask
    action for the form): one call to the action server per turn, the question still
    asked after each answer, and none after the answer that files."""
    import asyncio

    form = complaint_actions.ValidateComplaintForm()
    domain: DomainDict = {"forms": {"complaint_form": {"required_slots": ["complaint_input"]}}}
    history: list[dict[str, Any]] = []
    state: dict[str, Any] | None = None
    said: list[list[str]] = []
    for text, intent in [
        ("我要投诉，小区门口路灯坏了", "report_problem"),  # starts the form: no answer yet
        ("对", "affirm"),
        ("杨浦区", "inform_district"),
        ("国和路100号", "x"),
        ("跳过", "x"),
        ("不留", "deny"),
        ("对", "affirm"),  # files
    ]:
        starting = not history
        history.append(user(intent, text))
        # As Rasa sends it: the form starting, or what was said taken as the answer.
        history.append(
            {"event": "active_loop", "name": "complaint_form"}
            if starting
            else {"event": "slot", "name": "complaint_input", "value": text}
        )
        t = tracker(history, sender="web-one-call")
        t.slots.update(complaint=state, complaint_input=None if starting else text)
        dispatcher = CollectingDispatcher()
        events = asyncio.run(form.run(dispatcher, t, domain))
        said.append([m["response"] for m in dispatcher.messages])
        state = next(e["value"] for e in events if e.get("name") == "complaint")
    assert said[0] == ["utter_complaint_confirm_category"]
    assert said[1] == ["utter_ask_complaint_district"]
    assert said[2][-1] == "utter_ask_complaint_address"
    assert said[-1] == ["utter_complaint_filed"] and state is None
    # "转人工" mid-form is no answer: nothing said, nothing set, so Rasa's form gives way
    # to the handoff rule.
    history = [user("report_problem", "我要投诉，路灯坏了"), user("handoff", "转人工")]
    t = tracker([*history, {"event": "action", "name": "complaint_form"}], sender="web-one-call")
    dispatcher = CollectingDispatcher()
    assert asyncio.run(form.run(dispatcher, t, domain)) == []
    assert dispatcher.messages == []


def test_a_read_back_never_confirmed_ends_the_form_unfiled_and_keeps_the_draft(
    sessions: sessionmaker[Session],
) -> None:
    from liangwang.complaints.models import ComplaintDraft, Ticket

    state = IntakeState(
        step="readback",
        category="streetlight",
        description="路灯坏了",
        district="杨浦区",
        address="国和路100号",
    ).to_dict()
    history = [user("report_problem", "我要投诉，路灯坏了")]
    replies = []
    for _ in range(3):
        history.append(user("x", "嗯嗯"))
        messages, result = _run_form_turn(sessions, history, state)
        replies.append([m["response"] for m in messages])
        if result["complaint"] is not None:
            state = result["complaint"]
    assert replies == [
        ["utter_complaint_hint_readback"],
        ["utter_complaint_hint_readback"],
        ["utter_complaint_not_filed"],
    ]
    assert result == {"complaint": None, "complaint_input": None, "requested_slot": None}
    with sessions() as s:
        assert s.scalars(select(Ticket)).all() == []
        draft = s.get(ComplaintDraft, "web-complainer")
        assert draft is not None and draft.data["step"] == "gave_up"


def test_goodbye_and_thanks_end_politely_only_after_something_was_asked() -> None:
    asked = [
        user("ask_service", "敬老卡怎么办"),
        {"event": "bot", "text": "…", "metadata": {"utter_action": "utter_service_intro"}},
    ]
    messages, _ = run(ActionCourtesy(), tracker([*asked, user("goodbye", "好，再见")]))
    assert [m["response"] for m in messages] == ["utter_goodbye"]
    messages, _ = run(ActionCourtesy(), tracker([*asked, user("thank", "谢谢")]))
    assert [m["response"] for m in messages] == ["utter_you_are_welcome"]
    # The first thing heard on a call: a recogniser's noise must not hang up on anyone.
    messages, _ = run(ActionCourtesy(), tracker([user("goodbye", "就")]))
    assert [m["response"] for m in messages] == ["utter_ask_rephrase"]


def test_status_by_number_tells_a_stranger_only_the_state(
    sessions: sessionmaker[Session],
) -> None:
    from liangwang.complaints import tickets
    from liangwang.complaints.models import Ticket, TicketAction
    from liangwang.complaints.tickets import NewTicket

    with unit_of_work(sessions) as s:
        ticket = tickets.file_ticket(
            s,
            NewTicket(
                category="streetlight",
                description="小区门口的路灯坏了三天了",
                channel="web",
                district="杨浦",
                address="杨浦区国和路100号",
                identity="web-owner",
            ),
            actor="web-owner",
        )
        for action in (TicketAction.dispatch, TicketAction.start, TicketAction.answer):
            tickets.transition(s, ticket, action, actor="staff")
        tickets.transition(s, ticket, TicketAction.close, actor="staff", note="张师傅已修好")
        number = ticket.number
    domain = {
        "responses": yaml.safe_load(
            (Path(__file__).resolve().parents[2] / "bot" / "domain.yml").read_text()
        )["responses"]
    }

    def ask(sender: str) -> list[str]:
        t = tracker([user("check_status", f"查进度，编号{number}")], sender=sender)
        dispatcher = CollectingDispatcher()
        complaint_actions.ActionTicketStatus().run(dispatcher, t, domain)
        return [m["response"] for m in dispatcher.messages]

    # Someone else who says the number: the state, no note, no rating, nothing marked told.
    assert ask("web-stranger") == ["utter_ticket_status"]
    with sessions() as s:
        assert s.scalars(select(Ticket)).one().notified_status is None
    # The owner hears the department's note, is asked to rate, and the news is told.
    assert ask("web-owner") == [
        "utter_ticket_status",
        "utter_ticket_status_note",
        "utter_ask_rating",
    ]
    with sessions() as s:
        assert s.scalars(select(Ticket)).one().notified_status == "closed"
