"""Tickets: filing (validated, idempotent), the closed loop with its audit trail, SLA,
merging, rating, and the spoken-number helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from liangwang.complaints import tickets
from liangwang.complaints.models import AuditTrailIsAppendOnly, Status, Ticket, TicketEvent
from liangwang.complaints.tickets import NewTicket, TransitionNotAllowed
from liangwang.complaints.validation import InvalidInput, phone_number
from liangwang.db import unit_of_work
from liangwang.spoken import grouped, spoken_digits

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def lamp(**overrides: object) -> NewTicket:
    fields: dict[str, object] = {
        "category": "streetlight",
        "description": "小区门口的路灯坏了三天了，晚上黑漆漆的",
        "channel": "web",
        "district": "杨浦",
        "address": "杨浦区国和路100号门口",
        "identity": "web-abc",
    }
    fields.update(overrides)
    return NewTicket(**fields)  # type: ignore[arg-type]


def count(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(Ticket)) or 0


def test_filing_stores_a_ticket_with_a_number_sla_and_first_event(
    sessions: sessionmaker[Session],
) -> None:
    with unit_of_work(sessions) as s:
        ticket = tickets.file_ticket(
            s, lamp(contact_phone="幺三八 零零幺三 八零零零"), actor="web", now=NOW
        )
        number = ticket.number
        assert len(number) == 6 and number[0] != "0"
        assert ticket.district == "杨浦区" and ticket.contact_phone == "13800138000"
        assert ticket.department == "区路灯管理所"
        assert ticket.expected_at == NOW + timedelta(hours=48)
        assert [(e.action, e.to_status) for e in ticket.events] == [("file", "received")]
    with sessions() as s:
        assert tickets.by_number(s, number) is not None


def test_same_idempotency_key_never_makes_two_tickets(sessions: sessionmaker[Session]) -> None:
    with unit_of_work(sessions) as s:
        first = tickets.file_ticket(s, lamp(idempotency_key="k1"), actor="web").number
    with unit_of_work(sessions) as s:
        again = tickets.file_ticket(s, lamp(idempotency_key="k1"), actor="web").number
    assert first == again and count(sessions) == 1


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"description": "长" * 4001}, "description_too_long"),
        ({"description": "   "}, "description_empty"),
        ({"description": "？？！！……"}, "description_no_words"),
        ({"district": "火星区"}, "district_unknown"),
        ({"district": None, "address": ""}, "location_missing"),
        ({"contact_phone": "12345"}, "phone_invalid"),
        ({"category": "ufo"}, "category_unknown"),
        ({"category": "noise"}, "attribute_missing"),
        ({"category": "noise", "attributes": {"time_of_day": "dawn"}}, "attribute_invalid"),
        ({"attributes": {"colour": "red"}}, "attribute_unknown"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(
    sessions: sessionmaker[Session], overrides: dict[str, object], code: str
) -> None:
    with pytest.raises(InvalidInput) as err, unit_of_work(sessions) as s:
        tickets.file_ticket(s, lamp(**overrides), actor="web")
    assert err.value.code == code
    assert count(sessions) == 0


def test_the_closed_loop_with_return_and_redispatch(sessions: sessionmaker[Session]) -> None:
    with unit_of_work(sessions) as s:
        t = tickets.file_ticket(s, lamp(), actor="web", now=NOW)
        tickets.transition(s, t, "dispatch", actor="王科长", department="区路灯管理所", now=NOW)
        tickets.transition(s, t, "return", actor="路灯所", note="不归我们管，是小区物业的灯")
        tickets.transition(s, t, "dispatch", actor="王科长", department="某某物业")
        tickets.transition(s, t, "start", actor="某某物业")
        tickets.transition(s, t, "answer", actor="某某物业", note="已更换灯泡")
        tickets.transition(s, t, "close", actor="王科长")
        trail = [(e.action, e.from_status, e.to_status, e.actor) for e in t.events]
        assert trail == [
            ("file", None, "received", "web"),
            ("dispatch", "received", "dispatched", "王科长"),
            ("return", "dispatched", "returned", "路灯所"),
            ("dispatch", "returned", "dispatched", "王科长"),
            ("start", "dispatched", "processing", "某某物业"),
            ("answer", "processing", "answered", "某某物业"),
            ("close", "answered", "closed", "王科长"),
        ]
        assert t.department == "某某物业" and t.status_notes == "已更换灯泡"
        with pytest.raises(TransitionNotAllowed):
            tickets.transition(s, t, "start", actor="x")
        tickets.rate(s, t, 5, "修得很快", actor="web-abc")
        assert (t.rating, t.rating_comment) == (5, "修得很快")


def test_rating_only_after_closing_and_within_range(sessions: sessionmaker[Session]) -> None:
    with unit_of_work(sessions) as s:
        t = tickets.file_ticket(s, lamp(), actor="web")
        with pytest.raises(TransitionNotAllowed):
            tickets.rate(s, t, 5, actor="web-abc")
        for action in ("dispatch", "start", "answer", "close"):
            tickets.transition(s, t, action, actor="staff")
        with pytest.raises(InvalidInput):
            tickets.rate(s, t, 6, actor="web-abc")


def test_audit_trail_cannot_be_rewritten(sessions: sessionmaker[Session]) -> None:
    with unit_of_work(sessions) as s:
        tickets.file_ticket(s, lamp(), actor="web")
    with pytest.raises(AuditTrailIsAppendOnly), unit_of_work(sessions) as s:
        s.scalars(select(TicketEvent)).one().note = "changed"
    with pytest.raises(AuditTrailIsAppendOnly), unit_of_work(sessions) as s:
        s.delete(s.scalars(select(TicketEvent)).one())
    # The database itself refuses, to whoever reaches it without the ORM.
    for statement in ("UPDATE ticket_events SET note = 'changed'", "DELETE FROM ticket_events"):
        with pytest.raises(DBAPIError, match="append-only"), sessions() as s:
            s.execute(text(statement))
    with sessions() as s:
        assert s.scalars(select(TicketEvent.note)).all() == [""]


def test_overdue_after_the_sla(sessions: sessionmaker[Session]) -> None:
    with unit_of_work(sessions) as s:
        t = tickets.file_ticket(s, lamp(), actor="web", now=NOW)
        assert not tickets.is_overdue(t, NOW + timedelta(hours=47))
        assert tickets.is_overdue(t, NOW + timedelta(hours=49))
        tickets.transition(s, t, "withdraw", actor="web-abc")
        assert not tickets.is_overdue(t, NOW + timedelta(hours=49))


def test_duplicates_nearby_are_found_and_merged(sessions: sessionmaker[Session]) -> None:
    with unit_of_work(sessions) as s:
        first = tickets.file_ticket(s, lamp(lat=31.30, long=121.52), actor="web", now=NOW)
        near = lamp(lat=31.301, long=121.521, identity="web-other")  # ~140 m away
        far = lamp(lat=31.35, long=121.52)
        assert [t.id for t in tickets.possible_duplicates(s, near, NOW)] == [first.id]
        assert tickets.possible_duplicates(s, far, NOW) == []
        assert tickets.possible_duplicates(s, lamp(category="garbage"), NOW) == []
        second = tickets.file_ticket(s, near, actor="web", now=NOW)
        tickets.merge(s, second, first, actor="web-other")
        assert second.status == Status.merged and second.merged_into_id == first.id


def test_duplicates_by_address_need_the_same_district_and_two_points_go_by_distance(
    sessions: sessionmaker[Session],
) -> None:
    with unit_of_work(sessions) as s:
        by_words = tickets.file_ticket(s, lamp(), actor="web", now=NOW)  # no point
        at_point = tickets.file_ticket(
            s, lamp(address="国和路200号", lat=31.30, long=121.52), actor="web", now=NOW
        )
        no_district = tickets.file_ticket(
            s, lamp(district=None, address="某某路1号"), actor="web", now=NOW
        )

        def found(**overrides: object) -> list[int]:
            return [t.id for t in tickets.possible_duplicates(s, lamp(**overrides), NOW)]

        assert found(address="国和路100号") == [by_words.id]  # part of the address
        assert found(district="普陀", address="国和路100号") == []  # another district
        # A point of our own: a ticket without one is still judged by its address …
        assert found(address="国和路100号", lat=31.40, long=121.52) == [by_words.id]
        # … one with a point only by the distance, whatever its address says.
        assert found(address="国和路200号", lat=31.40, long=121.52) == []
        assert found(address="别的地方", lat=31.3005, long=121.5205) == [at_point.id]
        assert found(district=None, address="某某路1号") == [no_district.id]
        assert found(address="某某路1号") == []
        assert found(address="") == []


def test_add_information_keeps_the_words(sessions: sessionmaker[Session]) -> None:
    with unit_of_work(sessions) as s:
        t = tickets.file_ticket(s, lamp(), actor="web")
        tickets.add_information(s, t, "旁边那盏也不亮了", actor="web-abc")
        assert t.description.endswith("\n旁边那盏也不亮了")
        assert t.events[-1].action == "add_information"


@pytest.mark.parametrize(
    ("spoken", "digits"),
    [
        ("幺三八零零幺三八零零零", "13800138000"),
        ("一三九 两两 洞洞 拐拐 勾勾", "13922007799"),
        ("138-0013-8000", "13800138000"),
        ("零二一 六二三四五六七八", "02162345678"),
    ],
)
def test_spoken_digits(spoken: str, digits: str) -> None:
    assert spoken_digits(spoken) == digits


def test_ticket_numbers_in_what_people_say() -> None:
    from liangwang.spoken import ticket_number

    assert ticket_number("帮我查一下编号 8 2 9 8 7 8") == "829878"
    assert ticket_number("编号是幺二三四五六") == "123456"
    assert ticket_number("一个一个说：三八二九一五") == "382915"
    assert ticket_number("我不记得了") is None


def test_phone_numbers() -> None:
    assert phone_number("+86 138 0013 8000") == "13800138000"
    assert phone_number("62345678") == "62345678"
    with pytest.raises(InvalidInput):
        phone_number("1234567")
    assert grouped("13800138000") == "138 0013 8000"


def test_of_two_transitions_from_the_same_state_only_the_first_to_write_wins(
    sessions: sessionmaker[Session],
) -> None:
    with unit_of_work(sessions) as s:
        ticket = tickets.file_ticket(s, lamp(), actor="web-abc")
        for action in ("dispatch", "start"):
            tickets.transition(s, ticket, action, actor="staff")
        number = ticket.number
    staff, citizen = sessions(), sessions()
    try:
        # Both read the ticket while it is being processed …
        at_desk = tickets.by_number(staff, number)
        on_phone = tickets.by_number(citizen, number)
        assert at_desk is not None and on_phone is not None
        # … staff answer first; the citizen's withdrawal then finds it answered.
        tickets.transition(staff, at_desk, "answer", actor="staff", note="已修好")
        staff.commit()
        with pytest.raises(TransitionNotAllowed) as refused:
            tickets.transition(citizen, on_phone, "withdraw", actor="web-abc")
        assert refused.value.status == "answered"
        citizen.rollback()
    finally:
        staff.close()
        citizen.close()
    with sessions() as s:
        final = tickets.by_number(s, number)
        assert final is not None and final.status == "answered"
        assert [e.action for e in final.events] == ["file", "dispatch", "start", "answer"]
