"""Hand a conversation over to a person (转人工): record it so staff see it at once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from liangwang.models import HandoffRequest


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
