"""Back office for staff: tickets through their closed loop (受理 → 派单 → 处置 → 答复 →
办结, 退回/重派, 撤回), each step audited under the signed-in account, with a call back
(回访电话) staff can ask the phone line for. Personal data is masked until a member
reveals it, which is audited too."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from backoffice.auth import Dispatcher
from backoffice.deps import DbSession, State
from backoffice.responses import body_too_large, errors
from liangwang.complaints import callback_queue, tickets
from liangwang.complaints.callbacks import CallbackPolicy
from liangwang.complaints.categories import load_categories
from liangwang.complaints.models import Ticket, TicketAction
from liangwang.complaints.tickets import TRANSITIONS, TransitionNotAllowed
from liangwang.labels import BACK_OFFICE_ERRORS, STAFF_ACTION_NAMES, STATUS_NAMES
from liangwang.personal_data import Shown
from liangwang.photos import is_stored
from liangwang.staff import accounts

router = APIRouter()


@router.get("/tickets", response_class=HTMLResponse)
def ticket_list(
    request: Request, state: State, session: DbSession, member: Dispatcher
) -> HTMLResponse:
    rows = session.scalars(select(Ticket).order_by(Ticket.requested_at.desc()).limit(500)).all()
    return state.page(
        request,
        "staff_tickets.html",
        {
            "tickets": rows,
            "status_names": STATUS_NAMES,
            "categories": load_categories().by_code,
            "overdue": {t.number for t in rows if tickets.is_overdue(t)},
        },
    )


def _ticket(session: Session, number: str) -> Ticket:
    ticket = tickets.by_number(session, number)
    if ticket is None:
        raise HTTPException(404, "no such ticket")
    return ticket


def _ticket_page(
    request: Request, state: State, ticket: Ticket, revealed: bool = False
) -> HTMLResponse:
    allowed = [
        a
        for a, (sources, _) in TRANSITIONS.items()
        if ticket.status in sources and a in STAFF_ACTION_NAMES
    ]
    context: dict[str, Any] = {
        "t": ticket,
        "shown": Shown(revealed),
        "photo": ticket.media_url if is_stored(ticket.media_url) else None,
        "status_names": STATUS_NAMES,
        "action_names": STAFF_ACTION_NAMES,
        "allowed": allowed,
        "category": load_categories().by_code.get(ticket.category),
        "overdue": tickets.is_overdue(ticket),
        "callbacks_on": bool(state.settings.callback_trunk_uri),
        "callback_asked": callback_queue.state_of(ticket).staff_asked,
    }
    return state.page(request, "staff_ticket.html", context)


@router.get("/tickets/{number}", response_class=HTMLResponse, responses=errors(404))
def ticket_detail(
    number: str, request: Request, state: State, session: DbSession, member: Dispatcher
) -> HTMLResponse:
    return _ticket_page(request, state, _ticket(session, number))


@router.post(
    "/tickets/{number}/reveal",
    response_class=HTMLResponse,
    responses={**errors(404), **body_too_large()},
)
def ticket_reveal(
    number: str, request: Request, state: State, session: DbSession, member: Dispatcher
) -> HTMLResponse:
    """The ticket with its contact, address and words unmasked, for this page only."""
    ticket = _ticket(session, number)
    accounts.record(session, member.username, "reveal", f"ticket {ticket.number}")
    return _ticket_page(request, state, ticket, revealed=True)


@router.post(
    "/tickets/{number}/callback",
    status_code=303,
    response_class=RedirectResponse,
    responses={**errors(404, 409), **body_too_large()},
)
def ticket_callback(
    number: str, state: State, session: DbSession, member: Dispatcher
) -> RedirectResponse:
    """回访电话 now: queued for the phone line, which calls within the calling hours."""
    ticket = _ticket(session, number)
    if not state.settings.callback_trunk_uri:
        raise HTTPException(409, BACK_OFFICE_ERRORS["callbacks_off"])
    try:
        callback_queue.request(
            session,
            ticket,
            actor=member.username,
            policy=CallbackPolicy.from_settings(state.settings),
        )
    except callback_queue.NoContactPhone as exc:
        raise HTTPException(409, BACK_OFFICE_ERRORS["no_contact_phone"]) from exc
    return RedirectResponse(f"/staff/tickets/{number}", status_code=303)


@router.post(
    "/tickets/{number}/{action}",
    status_code=303,
    response_class=RedirectResponse,
    responses={**errors(400, 404, 409), **body_too_large()},
)
def ticket_action(
    number: str,
    action: str,
    session: DbSession,
    member: Dispatcher,
    note: Annotated[str, Form(max_length=2000)] = "",
    department: Annotated[str, Form(max_length=200)] = "",
) -> RedirectResponse:
    ticket = _ticket(session, number)
    if action not in STAFF_ACTION_NAMES:
        raise HTTPException(400, f"unknown action {action}")
    try:
        tickets.transition(
            session,
            ticket,
            TicketAction(action),
            actor=member.username,
            note=note.strip(),
            department=department.strip() or None,
        )
    except TransitionNotAllowed as exc:
        raise HTTPException(409, str(exc)) from exc
    return RedirectResponse(f"/staff/tickets/{number}", status_code=303)
