"""The dispatchers' ticket queue: tickets filtered by what a shift works on, sorted by the
time left before their deadline (the most urgent first), a page at a time.

Everything is narrowed and ordered by the database (indexes in migration 0011), so a
page costs the same with a hundred tickets or a hundred thousand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from liangwang.complaints.models import OWES_WORK, Ticket
from liangwang.db import utcnow

PAGE_SIZE = 50


class Sort(StrEnum):
    deadline = "deadline"  # least time left first
    newest = "newest"


@dataclass(frozen=True)
class TicketFilter:
    statuses: tuple[str, ...] = ()  # none: every state
    category: str = ""
    district: str = ""
    department: str = ""
    channel: str = ""
    overdue: bool = False
    rated: bool | None = None  # True: has a 好差评 rating; False: has none
    since: date | None = None  # filed on or after (UTC days)
    until: date | None = None  # filed on or before
    sort: Sort = Sort.deadline


@dataclass(frozen=True)
class Page:
    tickets: list[Ticket]
    total: int
    page: int
    pages: int


def _where(query: Select[Any], f: TicketFilter, now: datetime) -> Select[Any]:
    if f.statuses:
        query = query.where(Ticket.status.in_(f.statuses))
    for column, value in (
        (Ticket.category, f.category),
        (Ticket.district, f.district),
        (Ticket.department, f.department),
        (Ticket.channel, f.channel),
    ):
        if value:
            query = query.where(column == value)
    if f.overdue:
        query = query.where(Ticket.status.in_(OWES_WORK), Ticket.expected_at < now)
    if f.rated is not None:
        query = query.where(Ticket.rating.is_not(None) if f.rated else Ticket.rating.is_(None))
    if f.since is not None:
        query = query.where(Ticket.requested_at >= datetime.combine(f.since, time(), now.tzinfo))
    if f.until is not None:
        end = datetime.combine(f.until, time(), now.tzinfo) + timedelta(days=1)
        query = query.where(Ticket.requested_at < end)
    return query


def find(
    session: Session,
    f: TicketFilter,
    page: int = 1,
    size: int = PAGE_SIZE,
    now: datetime | None = None,
) -> Page:
    now = now or utcnow()
    total: int = session.scalar(_where(select(func.count(Ticket.id)), f, now)) or 0
    pages = max(1, -(-total // size))
    page = min(max(1, page), pages)
    order = (
        (Ticket.expected_at.asc(), Ticket.id.asc())
        if f.sort == Sort.deadline
        else (Ticket.requested_at.desc(), Ticket.id.desc())
    )
    rows = session.scalars(
        _where(select(Ticket), f, now).order_by(*order).limit(size).offset((page - 1) * size)
    ).all()
    return Page(list(rows), total, page, pages)


def departments(session: Session) -> list[str]:
    """The departments tickets have been sent to, for the filter's choices."""
    found = session.scalars(
        select(Ticket.department).where(Ticket.department != "").distinct().limit(500)
    )
    return sorted(found)
