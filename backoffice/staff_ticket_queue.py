"""The dispatchers' ticket queue: filters (state, category, district, department,
overdue, channel, rated, filing dates), the most urgent first, a page at a time; and
派单 of several tickets to one department at once."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import AfterValidator
from sqlalchemy import select

from backoffice.auth import Dispatcher
from backoffice.deps import DbSession, State
from backoffice.responses import form_post
from liangwang.complaints import queue, tickets
from liangwang.complaints.categories import load_categories
from liangwang.complaints.models import Status, Ticket, TicketAction
from liangwang.complaints.queue import Sort, TicketFilter
from liangwang.complaints.tickets import TransitionNotAllowed
from liangwang.districts import DISTRICTS
from liangwang.labels import STATUS_NAMES

router = APIRouter()
Text = Annotated[str, Query(max_length=200)]


def _a_day_or_nothing(text: str) -> str:
    if text:
        date.fromisoformat(text)  # 2026-02-31 is refused (422) like any invalid value
    return text


# A day as a date input sends it (2026-11-30), or nothing.
Day = Annotated[str, Query(pattern=r"^(\d{4}-\d{2}-\d{2})?$"), AfterValidator(_a_day_or_nothing)]
BULK_LIMIT = 200  # tickets one bulk 派单 may name


@router.get("/tickets", response_class=HTMLResponse)
def ticket_queue(
    request: Request,
    state: State,
    session: DbSession,
    member: Dispatcher,
    status: Annotated[list[Status], Query()] = [],  # noqa: B006 (FastAPI reads a default list)
    category: Text = "",
    district: Text = "",
    department: Text = "",
    channel: Text = "",
    overdue: bool = False,
    # A form sends its empty choices too: "" is "any", as the page's 不限 says.
    rated: Annotated[Literal["", "true", "false"], Query()] = "",
    since: Day = "",
    until: Day = "",
    sort: Sort = Sort.deadline,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    chosen = TicketFilter(
        statuses=tuple(status),
        category=category,
        district=district,
        department=department,
        channel=channel,
        overdue=overdue,
        rated={"": None, "true": True, "false": False}[rated],
        since=date.fromisoformat(since) if since else None,
        until=date.fromisoformat(until) if until else None,
        sort=sort,
    )
    found = queue.find(session, chosen, page)
    # The page's own query without its page number: the pager adds its own.
    query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "page"])
    return state.page(
        request,
        "staff_tickets.html",
        {
            "found": found,
            "f": chosen,
            "query": query,
            "status_names": STATUS_NAMES,
            "categories": load_categories().by_code,
            "districts": DISTRICTS,
            "departments": queue.departments(session),
            "overdue": {t.number for t in found.tickets if tickets.is_overdue(t)},
        },
    )


@form_post(router, "/tickets/bulk-dispatch", 400)
def bulk_dispatch(
    session: DbSession,
    member: Dispatcher,
    department: Annotated[str, Form(min_length=1, max_length=200)],
    number: Annotated[list[str], Form(max_length=BULK_LIMIT)],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> RedirectResponse:
    """派单 each chosen ticket to one department; those no longer in a state that may be
    sent are left as they are (another dispatcher was quicker), each step audited."""
    chosen = session.scalars(select(Ticket).where(Ticket.number.in_(number))).all()
    for ticket in chosen:
        try:
            tickets.transition(
                session,
                ticket,
                TicketAction.dispatch,
                actor=member.username,
                note=note.strip(),
                department=department.strip(),
            )
        except TransitionNotAllowed:
            continue
    return RedirectResponse("/staff/tickets", status_code=303)
