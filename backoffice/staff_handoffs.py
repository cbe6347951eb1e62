"""The live handoff desk (转人工): the queue, oldest first, updating without reloading;
a conversation's page, where a dispatcher claims it, reads everything said so far,
replies as a person, and hands it back to the bot or closes it. While claimed, the bot
is silent in that conversation (liangwang/staff_aware.py).

A phone caller's handoff shows the number (the dispatcher calls back; opening it is
audited) and links to the call's recording; closing it is "called back / resolved"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from backoffice import auth
from backoffice.auth import Dispatcher
from backoffice.deps import AfterId, DbSession, RowId, State
from backoffice.responses import errors, form_post
from liangwang import handoff, tracker_log
from liangwang.conversation import Channel
from liangwang.db import aware, utcnow
from liangwang.handoff import HandoffNotAllowed, HandoffRequest
from liangwang.labels import HANDOFF_REASON_NAMES, SENDER_NAMES
from liangwang.personal_data import Shown
from liangwang.staff import accounts
from liangwang.transcripts import Call, calls_of

router = APIRouter()
HandoffId = RowId
RECENT_TURNS = 3  # the last turns shown in the queue


class QueueRow(BaseModel):
    id: int
    waiting_minutes: int
    channel: str
    reason: str
    claimed_by: str | None
    conversation: str  # masked
    last_turns: list[str]  # masked, "市民：…" / "智能助手：…"


class DeskMessage(BaseModel):
    id: int
    sender: str
    text: str
    photo: str | None = None  # its address on the staff listener


def _queue(state: State, session: Session) -> list[QueueRow]:
    now, shown = utcnow(), Shown()
    waiting = handoff.open_handoffs(session)
    recent = tracker_log.conversations(
        state.tracker_store, (h.conversation_id for h in waiting), RECENT_TURNS
    )
    rows = []
    for h in waiting:
        said = recent[h.conversation_id]
        turns = [f"{SENDER_NAMES[s.who]}：{shown.text(s.text)}" for s in said]
        rows.append(
            QueueRow(
                id=h.id,
                waiting_minutes=int((now - aware(h.created_at)).total_seconds() // 60),
                channel=h.channel,
                reason=HANDOFF_REASON_NAMES.get(h.reason, h.reason),
                claimed_by=h.claimed_by,
                conversation=shown.text(h.conversation_id),
                last_turns=turns or [shown.text(h.last_user_text)],
            )
        )
    return rows


@router.get("/", response_class=HTMLResponse)
def handoff_queue(
    request: Request, state: State, session: DbSession, member: Dispatcher
) -> HTMLResponse:
    return state.page(request, "staff_home.html", {"rows": _queue(state, session)})


@router.get("/handoffs.json")
def handoff_queue_json(state: State, session: DbSession, member: Dispatcher) -> list[QueueRow]:
    """The queue as the page asks for it every few seconds."""
    return _queue(state, session)


def _handoff(session: Session, handoff_id: int) -> HandoffRequest:
    found = session.get(HandoffRequest, handoff_id)
    if found is None:
        raise HTTPException(404, "no such handoff")
    return found


def _latest_call(session: Session, found: HandoffRequest) -> Call | None:
    if found.channel != Channel.phone:
        return None
    latest = calls_of(session, Channel.phone.local_id(found.conversation_id), limit=1)
    return latest[0] if latest else None


@router.get("/handoffs/{handoff_id}", response_class=HTMLResponse, responses=errors(404))
def handoff_page(
    handoff_id: HandoffId, request: Request, state: State, session: DbSession, member: Dispatcher
) -> HTMLResponse:
    found = _handoff(session, handoff_id)
    phone = found.channel == Channel.phone
    if phone:  # the dispatcher calls this number back: shown, and that is on record
        accounts.record(session, member.username, "reveal", f"handoff {found.id}")
    context: dict[str, Any] = {
        "h": found,
        "reason": HANDOFF_REASON_NAMES.get(found.reason, found.reason),
        "said": tracker_log.conversation(state.tracker_store, found.conversation_id),
        "desk": handoff.messages(session, found),
        "call": _latest_call(session, found),
        "shown": Shown(revealed=phone),
        "sender_names": SENDER_NAMES,
        "mine": found.claimed_by == member.username,
    }
    return state.page(request, "staff_handoff.html", context)


@router.get("/handoffs/{handoff_id}/messages.json", responses=errors(404))
def handoff_messages(
    handoff_id: HandoffId,
    session: DbSession,
    member: Dispatcher,
    after: AfterId = 0,
) -> list[DeskMessage]:
    """New messages of the conversation, for its page to show without reloading."""
    found = _handoff(session, handoff_id)
    shown = Shown(revealed=found.channel == Channel.phone)  # as the page shows them
    new = handoff.messages(session, found, after)
    return [
        DeskMessage(
            id=m.id,
            sender=m.sender,
            text=shown.text(m.text),
            photo=f"{auth.PATH}/{m.photo}" if m.photo else None,
        )
        for m in new
    ]


def _act(
    session: Session, handoff_id: int, step: Callable[[HandoffRequest], object], then: str
) -> RedirectResponse:
    """One step on a handoff (409 when someone else holds it or it is resolved), then on
    to ``then`` (``{id}``: the handoff's page)."""
    found = _handoff(session, handoff_id)
    try:
        step(found)
    except HandoffNotAllowed as exc:
        raise HTTPException(409, str(exc)) from exc
    return RedirectResponse(then.format(id=handoff_id), status_code=303)


PAGE, QUEUE = "/staff/handoffs/{id}", "/staff/"


@form_post(router, "/handoffs/{handoff_id}/claim", 404, 409)
def handoff_claim(
    handoff_id: HandoffId, session: DbSession, member: Dispatcher
) -> RedirectResponse:
    """Take the conversation: the bot is silent in it until it is handed back or closed."""
    return _act(session, handoff_id, lambda h: handoff.claim(session, h, member.username), PAGE)


@form_post(router, "/handoffs/{handoff_id}/reply", 404, 409)
def handoff_reply(
    handoff_id: HandoffId,
    session: DbSession,
    member: Dispatcher,
    text: Annotated[str, Form(min_length=1, max_length=2000)],
) -> RedirectResponse:
    return _act(
        session, handoff_id, lambda h: handoff.reply(session, h, member.username, text), PAGE
    )


@form_post(router, "/handoffs/{handoff_id}/hand-back", 404, 409)
def handoff_hand_back(
    handoff_id: HandoffId, session: DbSession, member: Dispatcher
) -> RedirectResponse:
    """The bot answers again, where the citizen is in the dialogue."""
    return _act(
        session,
        handoff_id,
        lambda h: handoff.resolve(session, h, member.username, handed_back=True),
        QUEUE,
    )


@form_post(router, "/handoffs/{handoff_id}/close", 404, 409)
def handoff_close(
    handoff_id: HandoffId, session: DbSession, member: Dispatcher
) -> RedirectResponse:
    """Resolved (for a phone caller: called back)."""
    return _act(
        session,
        handoff_id,
        lambda h: handoff.resolve(session, h, member.username, handed_back=False),
        QUEUE,
    )
