"""What was said in a conversation, read from Rasa's tracker store: the one place that
translates Rasa's event rows into turns for staff pages. Read only; we never write to
Rasa's tables."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Said:
    at: datetime
    who: str  # "citizen" or "assistant"
    text: str


_KINDS = {"user": "citizen", "bot": "assistant"}


def conversation(tracker_store: Engine, conversation_id: str, limit: int = 200) -> list[Said]:
    """The conversation's latest ``limit`` user and bot turns, oldest first; none when
    the store cannot be read (a staff page then shows what the desk itself kept)."""
    try:
        if not inspect(tracker_store).has_table("events"):
            return []  # Rasa has not written anything yet
        with tracker_store.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT type_name, timestamp, data FROM events WHERE sender_id = :cid "
                    "AND type_name IN ('user', 'bot') ORDER BY id DESC LIMIT :limit"
                ),
                {"cid": conversation_id, "limit": limit},
            ).all()
    except SQLAlchemyError:
        log.warning("the tracker store could not be read", exc_info=True)
        return []
    said = []
    for kind, timestamp, data in reversed(rows):
        try:
            words = json.loads(data).get("text") or ""
        except (TypeError, ValueError):
            continue
        if words:
            said.append(Said(datetime.fromtimestamp(timestamp, UTC), _KINDS[kind], str(words)))
    return said
