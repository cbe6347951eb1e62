"""Status changes to tell citizens about, on the channel they used."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from liangwang.complaints import tickets
from liangwang.complaints.categories import Categories
from liangwang.complaints.models import Ticket
from liangwang.complaints.status import status_says
from liangwang.db import utcnow
from liangwang.wording import Say


def pending_updates(
    session: Session,
    channel: str,
    categories: Categories,
    fragments: Mapping[str, str],
    now: datetime | None = None,
) -> list[tuple[Ticket, list[Say]]]:
    """Tickets of ``channel`` whose status changed since the citizen was last told, and
    whose last failed push (if any) is due to be tried again."""
    now = now or utcnow()
    query = select(Ticket).where(
        Ticket.channel == channel,
        Ticket.identity.is_not(None),
        Ticket.has_news,
        or_(Ticket.push_retry_at.is_(None), Ticket.push_retry_at <= now),
    )
    out = []
    for ticket in session.scalars(query.order_by(Ticket.updated_at)):
        says = [Say("utter_fragment_ticket_update"), *status_says(ticket, categories, fragments)]
        if ticket.awaiting_rating:
            says.append(Say("utter_ask_rating"))
        out.append((ticket, says))
    return out


def news_for(
    session: Session, identity: str, categories: Categories, fragments: Mapping[str, str]
) -> list[Say]:
    """What changed on the citizen's tickets since they were last told, on any channel
    (how phone callers hear status changes: when they next call); marks it told."""
    says: list[Say] = []
    for ticket in tickets.for_identity(session, identity):
        if ticket.has_news:
            says += status_says(ticket, categories, fragments)
            ticket.mark_told()
    return says


def has_news(session: Session, identity: str) -> bool:
    """Whether any of the citizen's tickets changed since they were last told (nothing is
    marked told: the news itself is read once the caller has proven who they are)."""
    return any(ticket.has_news for ticket in tickets.for_identity(session, identity))
