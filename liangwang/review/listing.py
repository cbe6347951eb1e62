"""The conversations a reviewer asks for: filtered by channel, dates and what happened in
them, or found by the words said; the newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from liangwang.complaints.models import Ticket
from liangwang.review.models import ReviewConversation, ReviewTurn
from liangwang.review.search import matching_turns
from liangwang.transcripts import Call, CallTurn

LOW_CONFIDENCE = 0.5  # NLU's or the recogniser's: below this a turn is worth a look
LOW_RATING = 2  # 好差评 of 1 or 2 stars


@dataclass(frozen=True)
class Filters:
    channel: str = ""
    since: date | None = None
    until: date | None = None  # that day included
    handed_over: bool = False
    fell_back: bool = False
    low_confidence: bool = False
    low_rating: bool = False
    has_ticket: bool = False
    not_reviewed: bool = False
    tag: str = ""
    words: str = ""  # said in the conversation (full-text search)


@dataclass(frozen=True)
class Found:
    conversation: ReviewConversation
    said: ReviewTurn | None  # the newest turn with the words searched for


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _filtered(filters: Filters) -> Select[ReviewConversation]:
    query = select(ReviewConversation)
    c = ReviewConversation
    if filters.channel:
        query = query.where(c.channel == filters.channel)
    if filters.since:
        query = query.where(c.last_at >= _day_start(filters.since))
    if filters.until:
        query = query.where(c.started_at < _day_start(filters.until + timedelta(days=1)))
    if filters.handed_over:
        query = query.where(c.handed_over.is_(True))
    if filters.fell_back:
        query = query.where(c.fell_back.is_(True))
    if filters.low_confidence:
        query = query.where(c.lowest_confidence < LOW_CONFIDENCE)
    if filters.not_reviewed:
        query = query.where(c.reviewed_at.is_(None))
    if filters.tag:
        query = query.where(c.tags.contains(f",{filters.tag},"))
    if filters.has_ticket:
        query = query.where(c.conversation_id.in_(select(Ticket.identity)))
    if filters.low_rating:
        rated_low = select(Ticket.identity).where(Ticket.rating <= LOW_RATING)
        query = query.where(c.conversation_id.in_(rated_low))
    return query


def conversations(session: Session, filters: Filters, limit: int = 50) -> list[Found]:
    query = _filtered(filters).order_by(ReviewConversation.last_at.desc()).limit(limit)
    if not filters.words:
        return [Found(c, None) for c in session.scalars(query)]
    turns = matching_turns(session, filters.words)
    said: dict[str, ReviewTurn] = {}
    for turn in session.scalars(select(ReviewTurn).where(ReviewTurn.id.in_(turns[:1000]))):
        newest = said.get(turn.conversation_id)
        if newest is None or turn.id > newest.id:
            said[turn.conversation_id] = turn
    if not said:
        return []
    query = query.where(ReviewConversation.conversation_id.in_(list(said)))
    return [Found(c, said[c.conversation_id]) for c in session.scalars(query)]


def recordings_of(session: Session, turns: list[ReviewTurn]) -> dict[int, CallTurn]:
    """For the phone turns among ``turns``: the call transcript's turn with the caller's
    audio, by review turn id (the same words in the same call, in order)."""
    line_ids = {t.call_id for t in turns if t.call_id}
    if not line_ids:
        return {}
    calls = session.scalars(select(Call).where(Call.call_id.in_(line_ids)))
    waiting: dict[tuple[str, str], list[CallTurn]] = {}
    for call in calls:
        for said in call.turns:
            waiting.setdefault((call.call_id, said.recognized), []).append(said)
    found: dict[int, CallTurn] = {}
    for turn in turns:
        candidates = waiting.get((turn.call_id or "", turn.text))
        if turn.kind == "user" and candidates:
            found[turn.id] = candidates.pop(0)
    return found


def numbers_of(session: Session, conversation_ids: set[str]) -> dict[str, int]:
    """The number each conversation is named by in the back office's links."""
    c = ReviewConversation
    rows = session.execute(
        select(c.conversation_id, c.id).where(c.conversation_id.in_(conversation_ids))
    )
    return {str(cid): int(number) for cid, number in rows}


def turns_of(session: Session, conversation_id: str, limit: int = 2000) -> list[ReviewTurn]:
    in_order = select(ReviewTurn).where(ReviewTurn.conversation_id == conversation_id)
    return list(session.scalars(in_order.order_by(ReviewTurn.event_id).limit(limit)))
