"""The dispatchers' ticket queue and a ticket's page (liangwang/complaints/queue.py,
backoffice/staff_ticket_queue.py, backoffice/staff_tickets.py): filters, the most urgent
first, pages, bulk 派单, 并单 from the nearby tickets, 重派, and where a ticket came from."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backoffice.app import create_staff_app
from liangwang.complaints import queue, tickets
from liangwang.complaints.models import Status, Ticket, TicketAction
from liangwang.complaints.queue import Sort, TicketFilter
from liangwang.complaints.tickets import NewTicket
from liangwang.db import unit_of_work
from liangwang.dialogue import RecordingEngine
from liangwang.settings import Settings
from liangwang.staff.models import Role
from liangwang.transcripts import Call
from ops.staff_client import StaffBrowser
from tests.staff_desk import signed_in
from tests.tracker_store import rasa_said

NOW = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)


def _file(s: Session, days_ago: float, **kw: object) -> Ticket:
    fields: dict[str, object] = {
        "category": "streetlight",
        "description": "路灯坏了",
        "channel": "web",
        "district": "杨浦",
        "address": "国和路100号",
        **kw,
    }
    return tickets.file_ticket(
        s,
        NewTicket(**fields),
        actor="citizen",
        now=NOW - timedelta(days=days_ago),  # type: ignore[arg-type]
    )


@pytest.fixture
def filed(sessions: sessionmaker[Session]) -> dict[str, str]:
    """A small city: tickets of several kinds, places, departments, ages and states."""
    with unit_of_work(sessions) as s:
        old_light = _file(s, 10)  # its 48 h deadline long past: overdue
        tickets.transition(s, old_light, TicketAction.dispatch, actor="d", department="路灯所")
        noise = _file(s, 1, category="manhole", description="井盖没了", district="徐汇")
        fresh = _file(s, 0.01, channel="phone", district="静安", address="南京西路1号")
        closed = _file(s, 20, channel="telegram", address="国和路200号")
        for action in (TicketAction.dispatch, TicketAction.start, TicketAction.answer):
            tickets.transition(s, closed, action, actor="d", department="路灯所", now=NOW)
        tickets.transition(s, closed, TicketAction.close, actor="d", now=NOW)
        closed.rating = 5
        return {
            "old_light": old_light.number,
            "noise": noise.number,
            "fresh": fresh.number,
            "closed": closed.number,
        }


def _numbers(sessions: sessionmaker[Session], f: TicketFilter, **kw: int) -> list[str]:
    with sessions() as s:
        return [t.number for t in queue.find(s, f, now=NOW, **kw).tickets]


def test_each_filter_narrows_the_queue(
    sessions: sessionmaker[Session], filed: dict[str, str]
) -> None:
    def only(**kw: object) -> set[str]:
        return set(_numbers(sessions, TicketFilter(**kw)))  # type: ignore[arg-type]

    assert only() == set(filed.values())
    assert only(statuses=(Status.received,)) == {filed["noise"], filed["fresh"]}
    assert only(category="manhole") == {filed["noise"]}
    assert only(district="静安区") == {filed["fresh"]}
    assert only(department="路灯所") == {filed["old_light"], filed["closed"]}
    assert only(channel="telegram") == {filed["closed"]}
    assert only(overdue=True) == {filed["old_light"]}  # the closed one owes nothing
    assert only(rated=True) == {filed["closed"]}
    assert filed["closed"] not in only(rated=False)
    assert only(since=date(2026, 11, 29), until=date(2026, 11, 30)) == {
        filed["noise"],
        filed["fresh"],
    }


def test_the_most_urgent_first_and_a_page_at_a_time(
    sessions: sessionmaker[Session], filed: dict[str, str]
) -> None:
    by_deadline = _numbers(sessions, TicketFilter(sort=Sort.deadline))
    assert by_deadline[:2] == [filed["closed"], filed["old_light"]]  # least time left
    assert _numbers(sessions, TicketFilter(sort=Sort.newest))[0] == filed["fresh"]
    assert _numbers(sessions, TicketFilter(), page=2, size=3) == by_deadline[3:]
    with sessions() as s:
        found = queue.find(s, TicketFilter(), page=9, size=3, now=NOW)
        assert (found.total, found.pages, found.page) == (4, 2, 2)  # past the end: the last


@pytest.fixture
def desk(db_url: str) -> Iterator[StaffBrowser]:
    app = create_staff_app(Settings(database_url=db_url), RecordingEngine())
    with signed_in(app, db_url, Role.dispatcher, "zhang") as member:
        yield member


def test_the_queue_page_filters_and_pages(desk: StaffBrowser, filed: dict[str, str]) -> None:
    page = desk.get("/staff/tickets?category=manhole").text
    assert filed["noise"] in page and filed["fresh"] not in page and "共 1 件" in page
    page = desk.get("/staff/tickets?status=received&status=dispatched&district=静安区").text
    assert filed["fresh"] in page and "共 1 件" in page
    assert desk.get("/staff/tickets?status=nonsense").status_code == 422
    # The filter form sends its empty choices too (a real browser found it answered 422).
    empty = desk.get("/staff/tickets?category=&rated=&since=&until=&district=&sort=deadline")
    assert empty.status_code == 200 and f"共 {len(filed)} 件" in empty.text
    dated = desk.get("/staff/tickets?since=2026-11-29&until=2026-11-30&rated=false").text
    assert "共 2 件" in dated
    assert desk.get("/staff/tickets?since=2026-02-31").status_code == 422


def test_bulk_dispatch_sends_several_tickets_to_one_department(
    desk: StaffBrowser, filed: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    chosen = [filed["noise"], filed["fresh"], filed["closed"]]  # the closed one cannot go
    reply = desk.client.post(
        "/staff/tickets/bulk-dispatch",
        data={"csrf": desk.csrf, "department": "区城管执法局", "number": chosen},
        follow_redirects=False,
    )
    assert reply.status_code == 303
    with sessions() as s:
        rows = {t.number: t for t in s.scalars(select(Ticket))}
        for number in chosen[:2]:
            assert rows[number].status == Status.dispatched
            assert rows[number].department == "区城管执法局"
            assert rows[number].events[-1].actor == "zhang"
        assert rows[filed["closed"]].status == Status.closed


def test_merge_offers_the_nearby_open_tickets(
    desk: StaffBrowser, sessions: sessionmaker[Session]
) -> None:
    with unit_of_work(sessions) as s:
        first, again = _file(s, 0.2), _file(s, 0.1, description="门口路灯又不亮了")
        numbers = first.number, again.number
    page = desk.get(f"/staff/tickets/{numbers[1]}").text
    assert f'name="into" value="{numbers[0]}"' in page  # the picker
    assert desk.post(f"/staff/tickets/{numbers[1]}/merge", into=numbers[0]).status_code == 303
    with sessions() as s:
        merged = tickets.by_number(s, numbers[1])
        assert merged is not None and merged.status == Status.merged
        assert merged.events[-1].actor == "zhang"
    assert desk.post(f"/staff/tickets/{numbers[1]}/merge", into=numbers[0]).status_code == 409


def test_reassign_takes_a_ticket_back_and_sends_it_on(
    desk: StaffBrowser, filed: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    number = filed["old_light"]
    assert "重派" in desk.get(f"/staff/tickets/{number}").text
    assert (
        desk.post(f"/staff/tickets/{number}/reassign", department="区绿化市容局").status_code == 303
    )
    with sessions() as s:
        ticket = tickets.by_number(s, number)
        assert ticket is not None
        assert (ticket.status, ticket.department) == (Status.dispatched, "区绿化市容局")
        assert [e.action for e in ticket.events][-2:] == ["return", "dispatch"]
    reply = desk.post(f"/staff/tickets/{filed['noise']}/reassign", department="x")
    assert reply.status_code == 409  # not with a department yet


def test_a_ticket_page_shows_where_it_came_from(
    desk: StaffBrowser, sessions: sessionmaker[Session], db_url: str
) -> None:
    with unit_of_work(sessions) as s:
        by_phone = _file(s, 0, channel="phone", identity="phone:13800138000").number
        s.add(Call(call_id="c1", caller="13800138000", line="sip"))
        by_web = _file(s, 0, identity="web-abcdefgh12").number
    rasa_said(Settings(database_url=db_url), "web-abcdefgh12", [("user", "我要投诉路灯坏了")])
    assert 'id="origin-calls"' in desk.get(f"/staff/tickets/{by_phone}").text
    page = desk.get(f"/staff/tickets/{by_web}").text
    assert 'id="origin-conversation"' in page and "市民：我要投诉路灯坏了" in page
    assert "答复内容（市民会听到或看到）" not in page  # offered only once it is being handled
