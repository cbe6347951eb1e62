"""Back office: every conversation of every channel (转录审阅), read from the review tables
(liangwang/review/): the list with its filters and Chinese full-text search, and one
conversation turn by turn with what NLU made of each, masked as everywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from backoffice.auth import Admin, Reviewer
from backoffice.background import every
from backoffice.deps import AppState, DbSession, FormDate, RowId, State
from backoffice.responses import errors, form_post
from liangwang.db import utcnow
from liangwang.labels import BACK_OFFICE_ERRORS, CHANNEL_NAMES, TURN_KINDS
from liangwang.personal_data import Shown
from liangwang.review import corrections, listing
from liangwang.review.ingest import ingest_all
from liangwang.review.misunderstood import misunderstood
from liangwang.review.models import ReviewConversation, ReviewTurn
from liangwang.settings import PROJECT_ROOT
from liangwang.staff import accounts
from liangwang.wording import domain_intents

router = APIRouter()


async def ingest_often(state: AppState) -> None:
    """Runs while the staff app serves: the tracker store's new conversation events into
    the review tables, every LIANGWANG_REVIEW_INGEST_EVERY_S seconds. Several staff
    processes may all run it: an event is only ever one turn (liangwang/review/ingest.py)."""
    await every(
        state.settings.review_ingest_every_s,
        lambda: ingest_all(state.tracker_store, state.sessions),
        "reading conversation events failed",
    )


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
    since: FormDate = None,
    until: FormDate = None,
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
        "corrected": corrections.corrections_of(session, turns),
        "intents": domain_intents(),
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


def _turn(session: Session, conversation: ReviewConversation, turn_id: int) -> ReviewTurn:
    turn = session.get(ReviewTurn, turn_id)
    if turn is None or turn.conversation_id != conversation.conversation_id:
        raise HTTPException(404, BACK_OFFICE_ERRORS["no_such_turn"])
    return turn


@form_post(router, "/conversations/{number}/turns/{turn_id}/correct", 404)
def turn_correct(
    number: ConversationNumber,
    turn_id: RowId,
    session: DbSession,
    member: Reviewer,
    intent: Annotated[str, Form(max_length=100)] = "",
    entities: Annotated[str, Form(max_length=1000)] = "",
    flagged: Annotated[bool, Form()] = False,
    note: Annotated[str, Form(max_length=500)] = "",
) -> RedirectResponse:
    """What the citizen meant, kept beside the turn; or only a flag for a later look."""
    turn = _turn(session, _conversation(session, number), turn_id)
    if intent and intent not in domain_intents():
        raise HTTPException(422, BACK_OFFICE_ERRORS["no_such_intent"])
    if turn.kind != "user" or turn.text.startswith("/"):  # a button tapped says what it meant
        raise HTTPException(422, BACK_OFFICE_ERRORS["not_a_citizen_turn"])
    corrections.correct(
        session,
        turn,
        member.username,
        intent=intent or None,
        entities=corrections.parse_entities(entities),
        flagged=flagged,
        note=note,
    )
    return _back(number)


@router.get(
    "/conversations/{number}/story.yml",
    response_class=PlainTextResponse,
    responses={**errors(404), 200: {"content": {"text/yaml": {}}}},
)
def conversation_story(
    number: ConversationNumber, session: DbSession, member: Reviewer
) -> Response:
    """The conversation as a test story for tests/dialogue/ (corrected intents used)."""
    found = _conversation(session, number)
    turns = listing.turns_of(session, found.conversation_id)
    story = corrections.story_yaml(
        f"reviewed conversation {found.id}", turns, corrections.intents_corrected(session, turns)
    )
    attachment = f'attachment; filename="reviewed-{found.id}.yml"'
    return Response(story, media_type="text/yaml", headers={"Content-Disposition": attachment})


@router.get("/review/export", response_class=HTMLResponse)
def export_page(
    request: Request, state: State, session: DbSession, member: Reviewer
) -> HTMLResponse:
    """The corrected turns as training data, and the sentences that contradict it."""
    examples = corrections.corrected_examples(session)
    context = {
        "nlu": corrections.nlu_yaml(examples),
        "count": len(examples),
        "collisions": corrections.collisions(examples, state.settings.review_export_file),
        "path": _shown_path(state.settings.review_export_file),
    }
    return state.page(request, "staff_review_export.html", context)


def _shown_path(path: Path) -> str:
    """The file as the project names it (its path inside the project, where it is)."""
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else path.name


@form_post(router, "/review/export")
def export_write(state: State, session: DbSession, member: Admin) -> RedirectResponse:
    """Write the corrected turns to nlu_data/reviewed.yml, to commit and train on."""
    examples = corrections.corrected_examples(session)
    target = state.settings.review_export_file
    target.write_text(corrections.nlu_yaml(examples), encoding="utf-8")
    accounts.record(session, member.username, "export", str(len(examples)))
    return RedirectResponse("/staff/review/export?written=1", status_code=303)


@router.get("/review/misunderstood", response_class=HTMLResponse)
def misunderstood_page(
    request: Request, state: State, session: DbSession, member: Reviewer
) -> HTMLResponse:
    """What the assistant most often did not understand, grouped by how it was said."""
    groups = misunderstood(session)
    numbers = listing.numbers_of(session, {t.conversation_id for g in groups for t in g.turns})
    context = {"groups": groups, "numbers": numbers}
    return state.page(request, "staff_misunderstood.html", context)
