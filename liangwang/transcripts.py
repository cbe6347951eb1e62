"""Call transcripts: every phone call, turn by turn, for staff to review.

Audio lives in files beside the database (one WAV per side per turn); rows hold the text,
the recogniser's confidence, keypad presses, what we answered and the file names.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from liangwang.db import Base, utcnow


class Call(Base):
    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # As the line gave it (a SIP Call-ID, an AudioSocket UUID): from the network, so it may
    # come again; a call is its ``id``, which also names its recordings' folder.
    call_id: Mapped[str] = mapped_column(String(200), index=True)
    caller: Mapped[str] = mapped_column(String(200), index=True)
    line: Mapped[str] = mapped_column(String(40))  # sip, audiosocket, file, microphone
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    end_reason: Mapped[str | None] = mapped_column(String(40), default=None)
    turns: Mapped[list[CallTurn]] = relationship(
        back_populates="call", order_by="CallTurn.index", cascade="all, delete-orphan"
    )


class CallTurn(Base):
    __tablename__ = "call_turns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_pk: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    recognized: Mapped[str] = mapped_column(Text, default="")
    confidence: Mapped[float | None] = mapped_column(Float, default=None)
    keys: Mapped[str] = mapped_column(String(100), default="")
    reply: Mapped[str] = mapped_column(Text, default="")
    caller_audio: Mapped[str | None] = mapped_column(String(300), default=None)
    reply_audio: Mapped[str | None] = mapped_column(String(300), default=None)
    latency_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    call: Mapped[Call] = relationship(back_populates="turns")


def recent_calls(session: Session, limit: int = 100) -> list[Call]:
    return list(session.scalars(select(Call).order_by(Call.started_at.desc()).limit(limit)))


def calls_of(session: Session, caller: str, limit: int = 5) -> list[Call]:
    """A caller's latest calls, the newest first."""
    newest = select(Call).where(Call.caller == caller).order_by(Call.started_at.desc())
    return list(session.scalars(newest.limit(limit)))


def call_by_id(session: Session, call_pk: int) -> Call | None:
    return session.get(Call, call_pk)
