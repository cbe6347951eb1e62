"""Hand a conversation over to a person (转人工): record it so staff see it at once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from liangwang.models import HandoffRequest, utcnow


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


def resolve_handoff(
    session: Session, handoff_id: int, *, staff: str, at: datetime | None = None
) -> bool:
    request = session.get(HandoffRequest, handoff_id)
    if request is None or request.resolved_at is not None:
        return False
    request.resolved_at = at or utcnow()
    request.resolved_by = staff
    return True
