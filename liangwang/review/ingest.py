"""Reads the events Rasa's tracker store has saved since last time into our review tables.

The tracker store keeps every event of every conversation in its ``events`` table, one row
each, numbered in the order they were saved; Rasa only ever adds rows (our retention job
removes old ones). Each batch is one transaction: the turns, the conversations' summaries
and the cursor move together. A restart of Rasa or of our process loses nothing (the rows
stay; the cursor says where to go on), and an event read twice is one turn (``event_id`` is
unique: a second ingester racing this one fails its batch and the next round reads on).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, insert, inspect, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from liangwang.conversation import Channel
from liangwang.db import Base, aware, unit_of_work
from liangwang.review import segment
from liangwang.review.models import IngestCursor, ReviewConversation, ReviewTurn
from liangwang.review.rasa_events import Turn, translate

log = logging.getLogger(__name__)
SOURCE = "rasa-tracker-store"
BATCH = 500
OTHER_CHANNEL = "other"  # a conversation id of no channel of ours
# The tables themselves (not the ORM's classes): an insert of many rows is one statement.
_TURNS = Base.metadata.tables[ReviewTurn.__tablename__]
_SUMMARIES = Base.metadata.tables[ReviewConversation.__tablename__]
_NEW = text("SELECT id, sender_id, data FROM events WHERE id > :after ORDER BY id LIMIT :n")


def ingest_once(tracker_store: Engine, sessions: sessionmaker[Session], batch: int = BATCH) -> int:
    """Ingest up to ``batch`` new events; returns how many were read."""
    try:
        if not inspect(tracker_store).has_table("events"):
            return 0  # Rasa has not saved a conversation yet
        with unit_of_work(sessions) as session:
            cursor = session.get(IngestCursor, SOURCE) or IngestCursor(source=SOURCE, last_id=0)
            session.add(cursor)
            with tracker_store.connect() as connection:
                rows = connection.execute(_NEW, {"after": cursor.last_id, "n": batch}).all()
            translated = ((i, translate(str(sender), data)) for i, sender, data in rows)
            keep(session, [(i, turn) for i, turn in translated if turn is not None])
            if rows:
                cursor.last_id = int(rows[-1][0])
            return len(rows)
    except SQLAlchemyError:
        log.warning("conversation events could not be ingested this round", exc_info=True)
        return 0


def ingest_all(tracker_store: Engine, sessions: sessionmaker[Session]) -> int:
    total = 0
    while read := ingest_once(tracker_store, sessions):
        total += read
    return total


# What a batch of turns changes in a conversation's summary.
_SUMMARY = (
    "conversation_id",
    "last_at",
    "fell_back",
    "handed_over",
    "citizen_turns",
    "lowest_confidence",
)


def keep(session: Session, turns: Sequence[tuple[int, Turn]]) -> None:
    """Store ``turns`` (each with its event's row id) and bring their conversations'
    summaries up to date, in a few statements whatever the batch holds: one insert of the
    turns, one read of their summaries, one insert of the new summaries and one update of
    the others (a batch spans every conversation in progress; a statement or two for each
    was most of ingestion's time)."""
    if not turns:
        return
    session.execute(insert(_TURNS), [_row(i, turn) for i, turn in turns])
    ids = {turn.conversation_id for _, turn in turns}  # at most BATCH of them
    known = select(*(_SUMMARIES.c[name] for name in ("id", *_SUMMARY)))
    known = known.where(_SUMMARIES.c.conversation_id.in_(ids))
    summaries = {row["conversation_id"]: dict(row) for row in session.execute(known).mappings()}
    new: list[dict[str, Any]] = []
    for _, turn in turns:
        summary = summaries.get(turn.conversation_id)
        if summary is None:
            summary = summaries[turn.conversation_id] = _new_summary(turn)
            new.append(summary)
        _summarise(summary, turn)
    if new:
        session.execute(insert(_SUMMARIES), new)
    if changed := [summary for summary in summaries.values() if "id" in summary]:
        session.execute(update(ReviewConversation), changed)  # by primary key


def _row(event_id: int, turn: Turn) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "conversation_id": turn.conversation_id,
        "at": turn.at,
        "kind": turn.kind,
        "text": turn.text,
        "words": segment.indexed(turn.text) if turn.kind in ("user", "bot") else "",
        "intent": turn.intent,
        "confidence": turn.confidence,
        "detail": json.dumps(turn.detail, ensure_ascii=False) if turn.detail else "",
        "heard_confidence": turn.heard_confidence,
        "call_id": turn.call_id,
    }


def _new_summary(turn: Turn) -> dict[str, Any]:
    by_id = Channel.of(turn.conversation_id)
    return {
        "conversation_id": turn.conversation_id,
        "channel": turn.channel or (by_id.value if by_id else OTHER_CHANNEL),
        "started_at": turn.at,
        "last_at": turn.at,
        "citizen_turns": 0,
        "fell_back": False,
        "handed_over": False,
        "lowest_confidence": None,
        "tags": "",
    }


def _summarise(summary: dict[str, Any], turn: Turn) -> None:
    summary["last_at"] = max(aware(summary["last_at"]), turn.at)
    summary["fell_back"] = summary["fell_back"] or turn.fell_back
    summary["handed_over"] = summary["handed_over"] or turn.handed_over
    if turn.kind == "user":
        summary["citizen_turns"] += 1
        sure = [c for c in (turn.confidence, turn.heard_confidence) if c is not None]
        if sure and not turn.text.startswith("/"):  # a tapped button is never unsure
            lowest = min(sure)
            if summary["lowest_confidence"] is None or lowest < summary["lowest_confidence"]:
                summary["lowest_confidence"] = lowest


def conversation(session: Session, conversation_id: str) -> ReviewConversation | None:
    by_id = select(ReviewConversation).where(ReviewConversation.conversation_id == conversation_id)
    return session.scalars(by_id).first()


def forget_before(session: Session, before: datetime) -> int:
    """Retention: turns said before ``before`` and conversations last heard from before it
    are removed (the tracker store's rows are purged with the conversations, by
    ops/retention.py). Returns the turns removed."""
    removed = session.execute(delete(ReviewTurn).where(ReviewTurn.at < before))
    session.execute(delete(ReviewConversation).where(ReviewConversation.last_at < before))
    return int(getattr(removed, "rowcount", 0) or 0)
