"""Whether a Telegram user wants replies spoken as well as written (``/voice``), kept in
the database so a restart of the channel does not forget it. A voice note sent in gets a
spoken reply whatever is kept here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

from liangwang.db import Base, utcnow


class VoiceReplies(Base):
    __tablename__ = "voice_replies"

    conversation_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    wanted: Mapped[bool]
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


def wanted(session: Session, conversation_id: str) -> bool:
    kept = session.get(VoiceReplies, conversation_id)
    return kept is not None and kept.wanted


def toggle(session: Session, conversation_id: str) -> bool:
    """Turn spoken replies on if they were off, off if on; returns the new choice."""
    kept = session.get(VoiceReplies, conversation_id)
    if kept is None:
        kept = VoiceReplies(conversation_id=conversation_id, wanted=False)
        session.add(kept)
    kept.wanted = not kept.wanted
    kept.changed_at = utcnow()
    return kept.wanted


def forget_older_than(session: Session, cutoff: datetime) -> int:
    """Choices not changed since ``cutoff`` (retention): the user is then asked anew."""
    result = session.execute(delete(VoiceReplies).where(VoiceReplies.changed_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
