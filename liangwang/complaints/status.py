"""A ticket's state in plain words, for status queries and pushed updates."""

from __future__ import annotations

from collections.abc import Mapping

from liangwang.complaints.categories import Categories
from liangwang.complaints.models import Status, Ticket
from liangwang.spoken import grouped
from liangwang.wording import Say


def status_says(
    ticket: Ticket,
    categories: Categories,
    fragments: Mapping[str, str],
    *,
    owner: bool = True,
) -> list[Say]:
    """The ticket's number, kind and state; to its ``owner`` also the department's note.
    Anyone can say a number: to them the state is all that is told."""
    category = categories.by_code.get(ticket.category)
    status = fragments[f"status_{ticket.status}"].format(department=ticket.department)
    says = [
        Say(
            "utter_ticket_status",
            {
                "number": grouped(ticket.number),
                "category": category.name if category else ticket.category,
                "status": status,
            },
        )
    ]
    if (
        owner
        and ticket.status_notes
        and ticket.status in (Status.answered, Status.closed, Status.returned)
    ):
        says.append(Say("utter_ticket_status_note", {"note": ticket.status_notes}))
    return says
