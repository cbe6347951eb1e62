"""Can the database still be written? A read alone says nothing of a read-only file
system or a full disk, which lose what citizens say: the health check writes one row."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from liangwang.db import Base, unit_of_work, utcnow

OK = "ok"


class Heartbeat(Base):
    """One row, rewritten by every health check."""

    __tablename__ = "heartbeat"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def database_writable(sessions: sessionmaker[Session]) -> str:
    """``OK``, or why the database cannot be written (the exception's kind and message)."""
    try:
        with unit_of_work(sessions) as session:
            session.merge(Heartbeat(id=1, at=utcnow()))
    except Exception as exc:  # any failure is the answer, not a crash of the check
        first_line = next(iter(str(exc).splitlines()), "")
        return f"{type(exc).__name__}: {first_line[:200]}"
    return OK
