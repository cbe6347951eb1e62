"""Tickets (一网统管), their append-only audit trail, and citizens' unfinished drafts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    and_,
    event,
    or_,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from liangwang.db import Base, utcnow


class Status(StrEnum):
    received = "received"  # 受理
    dispatched = "dispatched"  # 已派单
    processing = "processing"  # 处置中
    answered = "answered"  # 已答复
    closed = "closed"  # 办结
    returned = "returned"  # 退回 (wrong department; to be dispatched again)
    withdrawn = "withdrawn"  # 撤回
    merged = "merged"  # 并单 into another ticket


FINAL = frozenset({Status.closed, Status.withdrawn, Status.merged})
# Overdue means past its deadline while someone still owes work: an answered ticket waits
# for its closing, not for the department.
OWES_WORK = frozenset(Status) - FINAL - {Status.answered}


class TicketAction(StrEnum):
    """What happened to a ticket: the ``action`` of each audit row."""

    file = "file"  # 受理
    dispatch = "dispatch"  # 派单
    start = "start"  # 开始处置
    answer = "answer"  # 答复
    close = "close"  # 办结
    return_ = "return"  # 退回 (wrong department)
    withdraw = "withdraw"  # 撤回
    merge = "merge"  # 并单
    add_information = "add_information"  # 补充
    rate = "rate"  # 好差评
    callback_request = "callback_request"  # staff asked for a call back (回访电话) now
    callback_attempt = "callback_attempt"  # the phone line called back; the note says how it went


class Ticket(Base):
    __tablename__ = "tickets"

    # The dispatchers' queue: open states by deadline (liangwang/complaints/queue.py).
    __table_args__ = (Index("ix_tickets_status_expected_at", "status", "expected_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(12), unique=True)
    token: Mapped[str] = mapped_column(String(40), unique=True)
    category: Mapped[str] = mapped_column(String(40), index=True)
    description: Mapped[str] = mapped_column(Text)
    district: Mapped[str | None] = mapped_column(String(20), index=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    lat: Mapped[float | None] = mapped_column(Float)
    long: Mapped[float | None] = mapped_column(Float)
    media_url: Mapped[str | None] = mapped_column(String(500))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    contact_public: Mapped[bool] = mapped_column(Boolean, default=False)
    channel: Mapped[str] = mapped_column(String(40))
    identity: Mapped[str | None] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True, default=Status.received)
    status_notes: Mapped[str] = mapped_column(Text, default="")
    department: Mapped[str] = mapped_column(String(200), default="", index=True)
    requested_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    # Same key twice (a retry, a double click) returns the first ticket instead of a second.
    idempotency_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    # The last status the citizen has been told about (pushes and status queries).
    notified_status: Mapped[str | None] = mapped_column(String(20))
    # Call backs (回访电话, liangwang/complaints/callbacks.py): the attempts made for the
    # status in ``callback_status``, when the last one was, and a call staff asked for.
    callback_status: Mapped[str | None] = mapped_column(String(20))
    callback_attempts: Mapped[int] = mapped_column(Integer, default=0)
    callback_last_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    callback_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Status pushes (Telegram) that failed (a user who blocked the bot, a network error):
    # how many in a row, when to try again, and why the last failed.
    push_failures: Mapped[int] = mapped_column(Integer, default=0)
    push_retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    push_error: Mapped[str | None] = mapped_column(String(200))

    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", cascade="save-update"
    )

    @property
    def is_open(self) -> bool:
        return self.status not in FINAL

    @hybrid_property
    def has_news(self) -> bool:
        """Its status changed since the citizen was last told (never news: just received)."""
        return self.status != Status.received and self.notified_status != self.status

    @has_news.inplace.expression
    @classmethod
    def _has_news_expression(cls) -> ColumnElement[bool]:
        return and_(
            cls.status != Status.received,
            or_(cls.notified_status.is_(None), cls.notified_status != cls.status),
        )

    @property
    def awaiting_rating(self) -> bool:
        """办结 and not yet rated: the citizen is asked for 好差评."""
        return self.status == Status.closed and self.rating is None

    def mark_told(self) -> None:
        """The citizen has now heard the current status."""
        self.notified_status = self.status


class TicketEvent(Base):
    """Who did what to a ticket, when, with a note. Rows are only ever added."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class ComplaintDraft(Base):
    """What a citizen has said so far, saved turn by turn so a dropped call loses nothing."""

    __tablename__ = "complaint_drafts"

    identity: Mapped[str] = mapped_column(String(200), primary_key=True)
    channel: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditTrailIsAppendOnly(RuntimeError):
    pass


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, _context: object, _instances: object) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, TicketEvent):
            raise AuditTrailIsAppendOnly(f"ticket event {obj.id} cannot be changed or deleted")
