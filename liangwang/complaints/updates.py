"""Status changes to tell citizens about, on the channel they used."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from liangwang.complaints.categories import Categories
from liangwang.complaints.models import Status, Ticket
from liangwang.complaints.status import status_says
from liangwang.guide import Say


def pending_updates(
    session: Session, channel: str, categories: Categories, fragments: Mapping[str, str]
) -> list[tuple[Ticket, list[Say]]]:
    """Tickets of ``channel`` whose status changed since the citizen was last told."""
    query = select(Ticket).where(
        Ticket.channel == channel,
        Ticket.identity.is_not(None),
        Ticket.status != Status.received,
        or_(Ticket.notified_status.is_(None), Ticket.notified_status != Ticket.status),
    )
    out = []
    for ticket in session.scalars(query.order_by(Ticket.updated_at)):
        says = [Say("utter_fragment_ticket_update"), *status_says(ticket, categories, fragments)]
        if ticket.status == Status.closed and ticket.rating is None:
            says.append(Say("utter_ask_rating"))
        out.append((ticket, says))
    return out
