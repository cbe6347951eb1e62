"""Back office: every conversation of every channel (转录审阅), read from the review tables
(liangwang/review/): the list with its filters and Chinese full-text search, and one
conversation turn by turn with what NLU made of each, masked as everywhere."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from backoffice.auth import Reviewer
from backoffice.deps import AppState, DbSession, RowId, State
from backoffice.responses import errors, form_post
from liangwang.db import utcnow
from liangwang.labels import BACK_OFFICE_ERRORS, CHANNEL_NAMES, TURN_KINDS
from liangwang.personal_data import Shown
from liangwang.review import listing
from liangwang.review.ingest import ingest_all
from liangwang.review.models import ReviewConversation, ReviewTurn

router = APIRouter()
log = logging.getLogger(__name__)


async def ingest_often(state: AppState) -> None:
    """Runs while the staff app serves: Rasa's new conversation events into the review
    tables, every LIANGWANG_REVIEW_INGEST_EVERY_S seconds. Several staff processes may
    all run it: an event is only ever one turn (liangwang/review/ingest.py)."""
    broker = create_engine(state.settings.effective_event_broker_url)
    try:
        while True:
            try:
                await asyncio.to_thread(ingest_all, broker, state.sessions)
            except Exception:  # the next round tries again; the pages go on
                log.exception("reading conversation events failed")
            await asyncio.sleep(state.settings.review_ingest_every_s)
    finally:
        broker.dispose()


ConversationNumber = RowId  # review_conversations.id: never the id, which may hold a number
Flag = Annotated[bool, Query()]
TAG = r"^[^,\s]{1,20}$"  # one word, no commas (tags are kept as ",a,b,")


@router.get("/conversations", response_class=HTMLResponse)
def conversation_list(
    request: Request,
    state: State,
    session: DbSession,
    member: Reviewer,
    channel: Annotated[str, Query(max_length=20)] = "",
    since: date | None = None,
    until: date | None = None,
    handed_over: Flag = False,
    fell_back: Flag = False,
    low_confidence: Flag = False,
    low_rating: Flag = False,
    has_ticket: Flag = False,
    not_reviewed: Flag = False,
    tag: Annotated[str, Query(max_length=20)] = "",
    q: Annotated[str, Query(max_length=100)] = "",
) -> HTMLResponse:
    filters = listing.Filters(
        channel, since, until, handed_over, fell_back, low_confidence, low_rating,
        has_ticket, not_reviewed, tag.strip(), q.strip(),
    )  # fmt: skip
    context = {
        "found": listing.conversations(session, filters),
        "filters": filters,
        "channels": CHANNEL_NAMES,
        "low": listing.LOW_CONFIDENCE,
    }
    return state.page(request, "staff_conversations.html", context)


def _conversation(session: Session, number: int) -> ReviewConversation:
    found = session.get(ReviewConversation, number)
    if found is None:
        raise HTTPException(404, BACK_OFFICE_ERRORS["no_such_conversation"])
    return found


def _detail(turn: ReviewTurn) -> dict[str, Any]:
    try:
        detail: dict[str, Any] = json.loads(turn.detail) if turn.detail else {}
    except ValueError:
        return {}
    return detail


@router.get("/conversations/{number}", response_class=HTMLResponse, responses=errors(404))
def conversation_page(
    number: ConversationNumber,
    request: Request,
    state: State,
    session: DbSession,
    member: Reviewer,
) -> HTMLResponse:
    found = _conversation(session, number)
    turns = listing.turns_of(session, found.conversation_id)
    context = {
        "c": found,
        "turns": [(t, _detail(t)) for t in turns],
        "heard": listing.recordings_of(session, turns),
        "kinds": TURN_KINDS,
        "channels": CHANNEL_NAMES,
        "shown": Shown(),
        "low": listing.LOW_CONFIDENCE,
    }
    return state.page(request, "staff_conversation.html", context)


PAGE = "/staff/conversations/{id}"


def _back(number: int) -> RedirectResponse:
    return RedirectResponse(PAGE.format(id=number), status_code=303)


@form_post(router, "/conversations/{number}/reviewed", 404)
def conversation_reviewed(
    number: ConversationNumber, session: DbSession, member: Reviewer
) -> RedirectResponse:
    found = _conversation(session, number)
    found.reviewed_at, found.reviewed_by = utcnow(), member.username
    return _back(number)


@form_post(router, "/conversations/{number}/tags", 404)
def conversation_tag(
    number: ConversationNumber,
    session: DbSession,
    member: Reviewer,
    tag: Annotated[str, Form(pattern=TAG)],
) -> RedirectResponse:
    found = _conversation(session, number)
    tags = [t for t in found.tags.split(",") if t]
    if tag not in tags:
        found.tags = "," + ",".join([*tags, tag]) + ","
    return _back(number)
