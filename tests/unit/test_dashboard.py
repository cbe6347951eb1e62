"""The city's indicators (liangwang/review/indicators.py, backoffice/staff_dashboard.py):
counted from conversations, tickets and calls as they were stored, the same figures on
the page, as JSON and as CSV; the page needs nothing from outside our server."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from backoffice.app import create_staff_app
from liangwang.complaints import tickets
from liangwang.complaints.models import TicketAction
from liangwang.complaints.tickets import NewTicket
from liangwang.db import unit_of_work, utcnow
from liangwang.dialogue import RecordingEngine
from liangwang.settings import Settings
from liangwang.staff.models import Role
from liangwang.transcripts import Call, CallTurn
from tests.staff_desk import signed_in
from tests.unit.test_review import CARD, LAMP, MISHEARD, _store

WORK = (TicketAction.dispatch, TicketAction.start, TicketAction.answer, TicketAction.close)


def _city(sessions: sessionmaker[Session]) -> None:
    now = utcnow()
    events = [
        {**e, "timestamp": now.timestamp() - 60 + n}
        for n, e in enumerate([*LAMP, *CARD, *MISHEARD])
    ]
    _store(sessions, events)
    with unit_of_work(sessions) as s:
        on_time = tickets.file_ticket(
            s, NewTicket("streetlight", "路灯坏了", "web", "静安区", identity="web-a1"), actor="web"
        )
        for action in WORK:
            tickets.transition(s, on_time, action, actor="staff")
        tickets.rate(s, on_time, 4, actor="web-a1")
        at_night = {"time_of_day": "night"}
        noise = NewTicket("noise", "晚上施工太吵", "phone", "静安区", attributes=at_night)
        late = tickets.file_ticket(s, noise, actor="phone", now=now - timedelta(days=10))
        late.expected_at = now - timedelta(days=5)  # its deadline passed, nothing answered
        tickets.file_ticket(s, NewTicket("garbage", "垃圾没人收", "web", "黄浦区"), actor="web")
        call = Call(call_id="c1", caller="13800138000", line="sip")
        call.turns += [
            CallTurn(index=1, recognized="嗯那个", confidence=0.42, latency_ms=700),
            CallTurn(index=2, recognized="转人工", confidence=0.9, latency_ms=900),
        ]
        s.add(call)


def test_the_indicators_are_counted_from_what_was_stored(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    _city(sessions)
    app = create_staff_app(Settings(database_url=db_url), RecordingEngine())
    with signed_in(app, db_url, Role.reviewer) as reviewer:
        figures = reviewer.get("/staff/dashboard.json").json()
        page = reviewer.get("/staff/dashboard").text
        exported = reviewer.get("/staff/dashboard.csv")
    assert figures["conversations"] == 3
    assert figures["handoff_rate"] == 1 / 3 and figures["containment"] == 2 / 3
    assert figures["fallback_rate"] == 1 / 3
    [day] = figures["conversations_by_day"].values()
    assert day == {"web": 1, "telegram": 1, "phone": 1}
    assert figures["complaints_by_district"] == {"静安区": 2, "黄浦区": 1}
    assert figures["complaints_by_category"] == {"streetlight": 1, "noise": 1, "garbage": 1}
    assert figures["sla_compliance"] == 0.5  # one answered in time, one late, one not yet due
    assert figures["average_rating"] == 4.0
    assert figures["phone_confidence"] == (0.42 + 0.9) / 2
    assert figures["phone_first_reply_ms_p50"] == 900.0

    assert "按时办结率（SLA）" in page and "50.0%" in page and "<svg" in page
    assert re.search(r"静安区</text>\s*<text[^>]*>2<", page)  # the district map
    outside = re.findall(r'(?:src|href)="(https?:)?//', page)
    assert outside == []  # no CDN, nothing from anywhere else
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert exported.headers["content-type"].startswith("text/csv")
    assert ["sla_compliance", "", "0.5"] in rows and ["district", "静安区", "2"] in rows


def test_a_window_without_anything_says_so_instead_of_dividing_by_nothing(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    app = create_staff_app(Settings(database_url=db_url), RecordingEngine())
    with signed_in(app, db_url, Role.reviewer) as reviewer:
        figures = reviewer.get("/staff/dashboard.json?since=2020-01-01&until=2020-01-31").json()
        assert reviewer.get("/staff/dashboard?since=2020-01-01&until=2020-01-31").status_code == 200
    assert figures["conversations"] == 0 and figures["containment"] is None
    assert figures["sla_compliance"] is None and figures["average_rating"] is None
