"""The review tables: turns as staff read them, one summary per conversation, and where
ingestion has got to in the tracker store's events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from liangwang.db import Base, utcnow


class ReviewTurn(Base):
    """One event of a conversation that staff read: what the citizen said (with the
    intent, its confidence and the entities NLU found), what the assistant said, an
    action it ran or a slot it set."""

    __tablename__ = "review_turns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The event's row id in Rasa's tracker store: the same event ingested twice is one turn.
    event_id: Mapped[int] = mapped_column(Integer, unique=True)
    conversation_id: Mapped[str] = mapped_column(String(255), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # user, bot, action, slot
    text: Mapped[str] = mapped_column(Text, default="")
    # ``text`` cut into words (jieba), spaces between: what full-text search indexes.
    words: Mapped[str] = mapped_column(Text, default="")
    intent: Mapped[str | None] = mapped_column(String(100), default=None)
    confidence: Mapped[float | None] = mapped_column(Float, default=None)
    # JSON: the entities of a user turn, a slot's value, a bot message's buttons.
    detail: Mapped[str] = mapped_column(Text, default="")
    # A voice turn: the recogniser's confidence, and the call it was said in.
    heard_confidence: Mapped[float | None] = mapped_column(Float, default=None)
    call_id: Mapped[str | None] = mapped_column(String(200), default=None)


class ReviewConversation(Base):
    """What the list filters on, kept up to date as turns arrive."""

    __tablename__ = "review_conversations"

    # Pages and links name a conversation by this number: a conversation id may hold a
    # caller's phone number, which has no place in a URL (or a proxy's access log).
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(255), unique=True)
    channel: Mapped[str] = mapped_column(String(20), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    citizen_turns: Mapped[int] = mapped_column(Integer, default=0)
    fell_back: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    handed_over: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    # The lowest of NLU's intent confidence and the recogniser's, over the citizen's turns.
    lowest_confidence: Mapped[float | None] = mapped_column(Float, default=None, index=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    reviewed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    tags: Mapped[str] = mapped_column(String(500), default="")  # ",a,b," for LIKE '%,a,%'


class IngestCursor(Base):
    """The last event row read, per source."""

    __tablename__ = "review_ingest_cursor"

    source: Mapped[str] = mapped_column(String(50), primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, default=0)


class TurnCorrection(Base):
    """What a reviewer says a citizen's turn meant, kept beside the turn (which is never
    edited): the intent and entities it should have had, or only a flag with a note."""

    __tablename__ = "review_corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("review_turns.id"), unique=True)
    intent: Mapped[str | None] = mapped_column(String(100), default=None)
    entities: Mapped[str] = mapped_column(Text, default="")  # JSON [{"entity", "value"}]
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(String(500), default="")
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
