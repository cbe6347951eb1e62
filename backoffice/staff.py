"""Back office for staff: conversations waiting for a person (转人工), and tickets through
their closed loop (受理 → 派单 → 处置 → 答复 → 办结, 退回/重派, 撤回), each step audited, with
a call back (回访电话) staff can ask the phone line for.

Staff accounts and sign-in are not built yet: deploy the back office on an internal
network only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from backoffice.deps import DbSession, State
from backoffice.responses import body_too_large, errors
from liangwang.complaints import callback_queue, tickets
from liangwang.complaints.callbacks import CallbackPolicy
from liangwang.complaints.categories import load_categories
from liangwang.complaints.models import Ticket, TicketAction
from liangwang.complaints.tickets import TRANSITIONS, TransitionNotAllowed
from liangwang.handoff import open_handoffs
from liangwang.labels import BACK_OFFICE_ERRORS, STAFF_ACTION_NAMES, STATUS_NAMES
from liangwang.photos import is_stored

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def staff_home(request: Request, state: State, session: DbSession) -> HTMLResponse:
    return state.page(request, "staff_home.html", {"handoffs": open_handoffs(session)})


@router.get("/tickets", response_class=HTMLResponse)
def ticket_list(request: Request, state: State, session: DbSession) -> HTMLResponse:
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


@router.get("/tickets/{number}", response_class=HTMLResponse, responses=errors(404))
def ticket_detail(number: str, request: Request, state: State, session: DbSession) -> HTMLResponse:
    ticket = tickets.by_number(session, number)
    if ticket is None:
        raise HTTPException(404, "no such ticket")
    allowed = [
        a
        for a, (sources, _) in TRANSITIONS.items()
        if ticket.status in sources and a in STAFF_ACTION_NAMES
    ]
    return state.page(
        request,
        "staff_ticket.html",
        {
            "t": ticket,
            "photo": ticket.media_url if is_stored(ticket.media_url) else None,
            "status_names": STATUS_NAMES,
            "action_names": STAFF_ACTION_NAMES,
            "allowed": allowed,
            "category": load_categories().by_code.get(ticket.category),
            "overdue": tickets.is_overdue(ticket),
            "callbacks_on": bool(state.settings.callback_trunk_uri),
            "callback_asked": callback_queue.state_of(ticket).staff_asked,
        },
    )


@router.post(
    "/tickets/{number}/callback",
    status_code=303,
    response_class=RedirectResponse,
    responses={**errors(404, 409), **body_too_large()},
)
def ticket_callback(
    number: str,
    state: State,
    session: DbSession,
    staff: Annotated[str, Form(min_length=1, max_length=100)],
) -> RedirectResponse:
    """回访电话 now: queued for the phone line, which calls within the calling hours."""
    ticket = tickets.by_number(session, number)
    if ticket is None:
        raise HTTPException(404, "no such ticket")
    if not state.settings.callback_trunk_uri:
        raise HTTPException(409, BACK_OFFICE_ERRORS["callbacks_off"])
    try:
        callback_queue.request(
            session, ticket, actor=staff, policy=CallbackPolicy.from_settings(state.settings)
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
    staff: Annotated[str, Form(min_length=1, max_length=100)],
    note: Annotated[str, Form(max_length=2000)] = "",
    department: Annotated[str, Form(max_length=200)] = "",
) -> RedirectResponse:
    ticket = tickets.by_number(session, number)
    if ticket is None:
        raise HTTPException(404, "no such ticket")
    if action not in STAFF_ACTION_NAMES:
        raise HTTPException(400, f"unknown action {action}")
    try:
        tickets.transition(
            session,
            ticket,
            TicketAction(action),
            actor=staff,
            note=note.strip(),
            department=department.strip() or None,
        )
    except TransitionNotAllowed as exc:
        raise HTTPException(409, str(exc)) from exc
    return RedirectResponse(f"/staff/tickets/{number}", status_code=303)
