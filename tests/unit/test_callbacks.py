"""Call backs (回访电话): the scheduling rules (who, calling hours, attempts, gaps, staff's
request), the queue on the tickets with its audit rows, and the staff page's button."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backoffice.app import create_staff_app
from liangwang.complaints import callback_queue, tickets
from liangwang.complaints.callback_queue import CallReport, NoContactPhone
from liangwang.complaints.callbacks import (
    CallbackPolicy,
    CallbackState,
    CallingHours,
    Outcome,
    Wait,
    after_attempt,
    is_due,
    next_due,
    outcome_of_status,
    why_not_now,
)
from liangwang.complaints.categories import load_categories
from liangwang.complaints.models import Status, Ticket, TicketAction
from liangwang.complaints.tickets import NewTicket
from liangwang.complaints.updates import news_for
from liangwang.db import unit_of_work
from liangwang.dialogue import RecordingEngine
from liangwang.handoff import open_handoffs
from liangwang.settings import Settings
from liangwang.staff.models import Role
from liangwang.wording import fragments, render
from ops.staff_client import StaffBrowser
from tests.staff_desk import signed_in

SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = CallbackPolicy(
    CallingHours(time(9), time(20), SHANGHAI), max_attempts=3, retry_gap=timedelta(hours=1)
)


def at(hour: int, minute: int = 0, day: int = 20) -> datetime:
    """A moment in Shanghai's local time, as the UTC the database keeps."""
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def closed(**changes: object) -> CallbackState:
    state = CallbackState(channel="phone", contact_phone="13800138000", status=Status.closed)
    return replace(state, **changes)  # type: ignore[arg-type]


# --- the rules ----------------------------------------------------------------------------


def test_a_phone_ticket_with_news_and_a_number_is_due_within_calling_hours() -> None:
    assert is_due(closed(), POLICY, at(10))
    assert is_due(closed(status=Status.answered), POLICY, at(10))


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (closed(contact_phone=None), Wait.no_phone),  # no number left: no consent to call
        (closed(channel="web"), Wait.not_wanted),  # web and Telegram users get other news
        (closed(status=Status.processing), Wait.not_wanted),  # only 答复 and 办结 are called
        (closed(notified_status=Status.closed), Wait.not_wanted),  # already told
    ],
)
def test_who_is_not_called_back(state: CallbackState, reason: Wait) -> None:
    assert why_not_now(state, POLICY, at(10)) is reason


def test_calling_hours_are_local_time_and_the_end_is_excluded() -> None:
    assert why_not_now(closed(), POLICY, at(8, 59)) is Wait.outside_hours
    assert is_due(closed(), POLICY, at(9, 0))
    assert is_due(closed(), POLICY, at(19, 59))
    assert why_not_now(closed(), POLICY, at(20, 0)) is Wait.outside_hours
    assert why_not_now(closed(), POLICY, at(23, 30)) is Wait.outside_hours
    # 02:00 UTC is 10:00 in Shanghai.
    assert is_due(closed(), POLICY, datetime(2026, 11, 20, 2, 0, tzinfo=UTC))


def test_outside_hours_waits_for_the_next_opening() -> None:
    assert next_due(closed(), POLICY, at(6)) == at(9)
    assert next_due(closed(), POLICY, at(21)) == at(9, day=21)
    assert next_due(closed(), POLICY, at(10)) == at(10)


def test_a_retry_waits_for_the_gap_then_for_the_hours() -> None:
    tried = closed(attempts_status=Status.closed, attempts=1, last_attempt_at=at(10))
    assert why_not_now(tried, POLICY, at(10, 30)) is Wait.too_soon
    assert is_due(tried, POLICY, at(11))
    late = replace(tried, last_attempt_at=at(19, 30))
    assert why_not_now(late, POLICY, at(20, 30)) is Wait.outside_hours
    assert next_due(late, POLICY, at(19, 45)) == at(9, day=21)


def test_attempts_run_out_per_status_and_a_new_status_starts_again() -> None:
    used = closed(attempts_status=Status.closed, attempts=3, last_attempt_at=at(10))
    assert why_not_now(used, POLICY, at(15)) is Wait.exhausted
    assert next_due(used, POLICY, at(15)) is None  # left for the citizen's next call
    # Three attempts for 答复 do not count against 办结.
    assert is_due(replace(used, attempts_status=Status.answered), POLICY, at(15))


def test_the_gap_also_follows_an_attempt_for_the_previous_news() -> None:
    answered_call = closed(attempts_status=Status.answered, attempts=1, last_attempt_at=at(10))
    assert why_not_now(answered_call, POLICY, at(10, 20)) is Wait.too_soon


def test_staff_request_skips_gap_and_attempts_but_not_the_hours() -> None:
    used = closed(attempts_status=Status.closed, attempts=3, last_attempt_at=at(10))
    asked = replace(used, requested_at=at(10, 5))
    assert is_due(asked, POLICY, at(10, 6))
    assert why_not_now(asked, POLICY, at(21)) is Wait.outside_hours
    assert next_due(asked, POLICY, at(21)) == at(9, day=21)
    # Also for news already told, another channel or another status: staff decide.
    assert is_due(replace(asked, channel="web", notified_status=Status.closed), POLICY, at(10, 6))
    # But never without a number.
    assert why_not_now(replace(asked, contact_phone=None), POLICY, at(10, 6)) is Wait.no_phone
    # The next attempt answers the request.
    assert not replace(asked, last_attempt_at=at(10, 7)).staff_asked


def test_an_attempt_counts_and_the_last_failure_gives_up() -> None:
    first = after_attempt(closed(), Outcome.busy, POLICY)
    assert (first.number, first.attempts_status, first.gave_up) == (1, Status.closed, False)
    third = closed(attempts_status=Status.closed, attempts=2)
    assert after_attempt(third, Outcome.no_answer, POLICY).gave_up
    assert not after_attempt(third, Outcome.answered, POLICY).gave_up


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.answered),
        (486, Outcome.busy),
        (600, Outcome.busy),
        (480, Outcome.no_answer),
        (408, Outcome.no_answer),
        (487, Outcome.no_answer),
        (603, Outcome.declined),
        (404, Outcome.failed),
        (0, Outcome.failed),
    ],
)
def test_sip_responses_as_outcomes(status: int, outcome: Outcome) -> None:
    assert outcome_of_status(status) is outcome


def test_settings_make_the_policy_and_refuse_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = CallbackPolicy.from_settings(Settings())
    assert (policy.hours.start, policy.hours.end) == (time(9), time(20))
    assert (policy.max_attempts, policy.retry_gap) == (3, timedelta(hours=1))
    monkeypatch.setenv("LIANGWANG_CALLBACK_HOURS_START", "08:30")
    assert CallbackPolicy.from_settings(Settings()).hours.start == time(8, 30)
    for name, value in [
        ("LIANGWANG_CALLBACK_TIMEZONE", "Mars/Olympus"),
        ("LIANGWANG_CALLBACK_HOURS_END", "07:00"),
        ("LIANGWANG_CALLBACK_TRUNK_URI", "sip:pbx.example"),  # no {number}
    ]:
        monkeypatch.setenv(name, value)
        with pytest.raises(ValueError, match="CALLBACK"):
            Settings()
        monkeypatch.delenv(name)


# --- the queue on the tickets -------------------------------------------------------------


def file_closed(
    session: Session, *, phone: str | None = "13800138000", channel: str = "phone"
) -> Ticket:
    ticket = tickets.file_ticket(
        session,
        NewTicket(
            category="streetlight",
            description="小区门口的路灯坏了",
            channel=channel,
            district="杨浦",
            address="国和路100号",
            contact_phone=phone,
            identity=f"phone:{phone}",
        ),
        actor="phone:caller",
    )
    for action, note in [
        (TicketAction.dispatch, ""),
        (TicketAction.start, ""),
        (TicketAction.answer, "路灯已经修好了"),
        (TicketAction.close, ""),
    ]:
        tickets.transition(session, ticket, action, actor="李四", note=note)
    return ticket


def test_due_finds_closed_phone_tickets_with_a_number_only(
    sessions: sessionmaker[Session],
) -> None:
    with unit_of_work(sessions) as s:
        wanted = file_closed(s).id
        file_closed(s, phone=None)
        file_closed(s, channel="web")
        told = file_closed(s)
        told.mark_told()
    with unit_of_work(sessions) as s:
        assert [t.id for t in callback_queue.due(s, POLICY, at(10))] == [wanted]
        assert callback_queue.due(s, POLICY, at(21)) == []


def test_the_script_reads_the_status_and_the_answer_and_asks_for_a_rating(
    sessions: sessionmaker[Session],
) -> None:
    with unit_of_work(sessions) as s:
        ticket = file_closed(s)
        script = callback_queue.script_for(ticket, load_categories(), fragments())
        spoken = " ".join(render(say) for say in script.says)
    assert script.asks_rating and script.phone == "13800138000"
    assert "回个电话" in spoken and "已办结" in spoken and "路灯已经修好了" in spoken
    assert f"{ticket.number[:3]} {ticket.number[3:]}" in spoken


def test_each_attempt_is_counted_and_audited_until_left_for_the_next_call(
    sessions: sessionmaker[Session],
) -> None:
    with unit_of_work(sessions) as s:
        ticket_id = file_closed(s).id
    attempts = [
        (at(10), CallReport(Outcome.busy, "486 Busy Here")),
        (at(11), CallReport(Outcome.no_answer, "487 Request Terminated")),
        (at(12), CallReport(Outcome.failed, "no response")),
    ]
    for moment, report in attempts:
        with unit_of_work(sessions) as s:
            assert [t.id for t in callback_queue.due(s, POLICY, moment)] == [ticket_id]
            callback_queue.record_attempt(s, ticket_id, report, policy=POLICY, now=moment)
    with unit_of_work(sessions) as s:
        assert callback_queue.due(s, POLICY, at(15)) == []  # three attempts used
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.callback_attempts == 3 and ticket.has_news
        rows = [e for e in ticket.events if e.action == TicketAction.callback_attempt]
        assert [e.note.split()[0] for e in rows] == ["busy", "no_answer", "failed"]
        assert "486 Busy Here" in rows[0].note and "第1次" in rows[0].note
        assert "下次来电" in rows[2].note and rows[2].actor == callback_queue.CALLBACK_ACTOR
        # The news is still there for the citizen's next call, as before call backs.
        says = news_for(s, "phone:13800138000", load_categories(), fragments())
        assert says and not ticket.has_news


def test_an_answered_call_back_tells_rates_and_hands_over(
    sessions: sessionmaker[Session],
) -> None:
    with unit_of_work(sessions) as s:
        ticket_id = file_closed(s).id
    with unit_of_work(sessions) as s:
        callback_queue.told(s, ticket_id, Status.closed)
        assert callback_queue.rate(s, ticket_id, 4)
        assert not callback_queue.rate(s, ticket_id, 9)  # not a score: nothing stored
        callback_queue.hand_over(s, ticket_id, "转人工")
        report = CallReport(Outcome.answered, rating=4, handed_over=True)
        note = callback_queue.record_attempt(s, ticket_id, report, policy=POLICY, now=at(10))
    assert note.startswith("answered") and "4分" in note
    with unit_of_work(sessions) as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.rating == 4 and not ticket.has_news
        rate_rows = [e for e in ticket.events if e.action == TicketAction.rate]
        assert [(e.actor, e.note) for e in rate_rows] == [("phone:13800138000", "4")]
        assert callback_queue.due(s, POLICY, at(12)) == []
        assert [h.conversation_id for h in open_handoffs(s)] == ["phone:13800138000"]


def test_told_marks_the_status_heard_not_a_newer_one(sessions: sessionmaker[Session]) -> None:
    with unit_of_work(sessions) as s:
        ticket = file_closed(s)
        callback_queue.told(s, ticket.id, Status.answered)  # the call read 答复; now 办结
        assert ticket.has_news


def test_staff_request_is_audited_and_due_at_once(sessions: sessionmaker[Session]) -> None:
    with unit_of_work(sessions) as s:
        ticket = file_closed(s)
        ticket.mark_told()
        assert callback_queue.due(s, POLICY, at(10)) == []
        when = callback_queue.request(s, ticket, actor="李四", policy=POLICY, now=at(10))
        assert when == at(10)
        assert [t.id for t in callback_queue.due(s, POLICY, at(10, 1))] == [ticket.id]
        later = callback_queue.request(s, ticket, actor="李四", policy=POLICY, now=at(22))
        assert later == at(9, day=21)
        rows = [e for e in ticket.events if e.action == TicketAction.callback_request]
        assert [e.actor for e in rows] == ["李四", "李四"]
        assert "马上" in rows[0].note and "2026-11-21 09:00" in rows[1].note
        with pytest.raises(NoContactPhone):
            callback_queue.request(s, file_closed(s, phone=None), actor="李四", policy=POLICY)


# --- the back office ----------------------------------------------------------------------


@pytest.fixture
def client(db_url: str) -> Iterator[StaffBrowser]:
    settings = Settings(
        database_url=db_url,
        callback_trunk_uri="sip:{number}@pbx.example",
        callback_hours_start=time(0),
        callback_hours_end=time(23, 59, 59),
    )
    app = create_staff_app(settings, RecordingEngine(lambda turn: []))
    with signed_in(app, db_url, Role.dispatcher, "王五") as member:
        yield member


def test_staff_ask_for_a_call_back_from_the_ticket_page(
    client: StaffBrowser, sessions: sessionmaker[Session]
) -> None:
    with unit_of_work(sessions) as s:
        number = file_closed(s).number
        no_phone = file_closed(s, phone=None).number
    page = client.get(f"/staff/tickets/{number}").text
    assert f'action="/staff/tickets/{number}/callback"' in page and "现在回访" in page
    assert "现在回访" not in client.get(f"/staff/tickets/{no_phone}").text
    reply = client.post(f"/staff/tickets/{number}/callback")
    assert reply.status_code == 303
    page = client.get(f"/staff/tickets/{number}").text
    assert "已排队" in page and "callback_request" in page and "王五" in page
    with unit_of_work(sessions) as s:
        ticket = s.scalars(select(Ticket).where(Ticket.number == number)).one()
        assert ticket.callback_requested_at is not None
    refused = client.post(f"/staff/tickets/{no_phone}/callback")
    assert refused.status_code == 409
    assert client.post("/staff/tickets/999999/callback").status_code == 404


def test_without_a_trunk_there_is_no_button_and_no_request(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    with unit_of_work(sessions) as s:
        number = file_closed(s).number
    app = create_staff_app(Settings(database_url=db_url), RecordingEngine(lambda t: []))
    with signed_in(app, db_url, Role.dispatcher) as member:
        assert "现在回访" not in member.get(f"/staff/tickets/{number}").text
        assert member.post(f"/staff/tickets/{number}/callback").status_code == 409
