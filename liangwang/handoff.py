"""Hand a conversation over to a person (转人工): record it so staff see it at once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from liangwang.db import Base, utcnow


class HandoffRequest(Base):
    """A conversation a citizen asked to hand over to a person (转人工); staff work the list."""

    __tablename__ = "handoff_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(200), index=True)
    channel: Mapped[str] = mapped_column(String(40))
    last_user_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(100), default=None)


def request_handoff(
    session: Session, *, conversation_id: str, channel: str, last_user_text: str
) -> HandoffRequest:
    """Mark the conversation for staff. Asking again while one is open reuses it."""
    existing = session.scalars(
        select(HandoffRequest).where(
            HandoffRequest.conversation_id == conversation_id,
            HandoffRequest.resolved_at.is_(None),
        )
    ).first()
    if existing is not None:
        return existing
    request = HandoffRequest(
        conversation_id=conversation_id, channel=channel, last_user_text=last_user_text
    )
    session.add(request)
    session.flush()
    return request


def open_handoffs(session: Session) -> list[HandoffRequest]:
    return list(
        session.scalars(
            select(HandoffRequest)
            .where(HandoffRequest.resolved_at.is_(None))
            .order_by(HandoffRequest.created_at)
        )
    )
