"""A ticket's page for staff: where it came from (the call with its recordings, or the
conversation), its photo and audit trail, and every step of its closed loop (派单, 处置,
答复, 办结, 退回/重派, 撤回, 并单 with the nearby open tickets to choose from), each
audited under the signed-in account; and a call back (回访电话) staff can ask the phone
line for. Personal data is masked until a member reveals it, which is audited too."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from backoffice.auth import Dispatcher
from backoffice.deps import DbSession, State
from backoffice.responses import body_too_large, errors, form_post
from liangwang import tracker_log
from liangwang.complaints import callback_queue, tickets
from liangwang.complaints.callbacks import CallbackPolicy
from liangwang.complaints.categories import load_categories
from liangwang.complaints.models import Ticket, TicketAction
from liangwang.complaints.tickets import TRANSITIONS, NewTicket, TransitionNotAllowed
from liangwang.conversation import Channel
from liangwang.labels import BACK_OFFICE_ERRORS, SENDER_NAMES, STAFF_ACTION_NAMES, STATUS_NAMES
from liangwang.personal_data import Shown
from liangwang.photos import is_stored
from liangwang.staff import accounts
from liangwang.transcripts import calls_of

router = APIRouter()
# 重派 takes a ticket back from its department and sends it to another; 并单 makes it
# follow another ticket.
REASSIGNABLE = TRANSITIONS[TicketAction.return_][0]
MERGEABLE = TRANSITIONS[TicketAction.merge][0]


def _ticket(session: Session, number: str) -> Ticket:
    ticket = tickets.by_number(session, number)
    if ticket is None:
        raise HTTPException(404, "no such ticket")
    return ticket


def _duplicates(session: Session, ticket: Ticket) -> list[Ticket]:
    """Open tickets of the same kind nearby: the choices for 并单."""
    if ticket.status not in MERGEABLE:
        return []
    like = NewTicket(
        category=ticket.category,
        description=ticket.description,
        channel=ticket.channel,
        district=ticket.district,
        address=ticket.address,
        lat=ticket.lat,
        long=ticket.long,
    )
    return [t for t in tickets.possible_duplicates(session, like) if t.id != ticket.id]


def _origin(state: State, session: Session, ticket: Ticket) -> dict[str, Any]:
    """Where the ticket came from: the calls of its caller (with their recordings), or the
    conversation it was filed in."""
    identity = ticket.identity or ""
    if ticket.channel == Channel.phone and identity.startswith(Channel.phone.prefix):
        return {"calls": calls_of(session, Channel.phone.local_id(identity)), "said": []}
    return {"calls": [], "said": tracker_log.conversation(state.tracker_store, identity, 40)}


def _ticket_page(
    request: Request,
    state: State,
    session: Session,
    ticket: Ticket,
    revealed: bool = False,
) -> HTMLResponse:
    allowed = [
        a
        for a, (sources, _) in TRANSITIONS.items()
        if ticket.status in sources and a in STAFF_ACTION_NAMES
    ]
    context: dict[str, Any] = {
        **_origin(state, session, ticket),
        "duplicates": _duplicates(session, ticket),
        "reassignable": ticket.status in REASSIGNABLE,
        "mergeable": ticket.status in MERGEABLE,
        "sender_names": SENDER_NAMES,
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
    return _ticket_page(request, state, session, _ticket(session, number))


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
    return _ticket_page(request, state, session, ticket, revealed=True)


@form_post(router, "/tickets/{number}/callback", 404, 409)
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


@form_post(router, "/tickets/{number}/merge", 404, 409)
def ticket_merge(
    number: str,
    session: DbSession,
    member: Dispatcher,
    into: Annotated[str, Form(min_length=1, max_length=12)],
) -> RedirectResponse:
    """并单: this ticket follows ``into`` from now on."""
    ticket, target = _ticket(session, number), _ticket(session, into.replace(" ", ""))
    try:
        tickets.merge(session, ticket, target, actor=member.username)
    except TransitionNotAllowed as exc:
        raise HTTPException(409, str(exc)) from exc
    return RedirectResponse(f"/staff/tickets/{number}", status_code=303)


@form_post(router, "/tickets/{number}/reassign", 404, 409)
def ticket_reassign(
    number: str,
    session: DbSession,
    member: Dispatcher,
    department: Annotated[str, Form(min_length=1, max_length=200)],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> RedirectResponse:
    """重派: back from the department it was sent to (退回), and on to another (派单)."""
    ticket = _ticket(session, number)
    if ticket.status not in REASSIGNABLE:
        raise HTTPException(409, f"a ticket in state {ticket.status} is not with a department")
    for action, to in ((TicketAction.return_, None), (TicketAction.dispatch, department)):
        tickets.transition(
            session, ticket, action, actor=member.username, note=note.strip(), department=to
        )
    return RedirectResponse(f"/staff/tickets/{number}", status_code=303)


@form_post(router, "/tickets/{number}/{action}", 400, 404, 409)
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
