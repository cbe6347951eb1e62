"""What was said in a conversation, read from Rasa's tracker store: the one place that
translates Rasa's event rows into turns for staff pages. Read only; we never write to
Rasa's tables."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Row, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from liangwang.conversation import BotMessage
from liangwang.taps import tap_buttons

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Said:
    at: datetime
    who: str  # "citizen" or "assistant"
    text: str


_KINDS = {"user": "citizen", "bot": "assistant"}


_TURNS = text(
    "SELECT type_name, timestamp, data FROM events WHERE sender_id = :cid "
    "AND type_name IN ('user', 'bot') ORDER BY id DESC LIMIT :limit"
)


def conversations(
    tracker_store: Engine, conversation_ids: Iterable[str], limit: int = 200
) -> dict[str, list[Said]]:
    """Each conversation's latest ``limit`` user and bot turns, oldest first, read on one
    connection; none when the store cannot be read (a staff page then shows what the desk
    itself kept)."""
    wanted = list(dict.fromkeys(conversation_ids))
    rows: dict[str, Sequence[Row[Any]]] = {cid: [] for cid in wanted}
    try:
        if wanted and inspect(tracker_store).has_table("events"):  # none before Rasa writes
            with tracker_store.connect() as connection:
                for cid in wanted:
                    rows[cid] = connection.execute(_TURNS, {"cid": cid, "limit": limit}).all()
    except SQLAlchemyError:
        log.warning("the tracker store could not be read", exc_info=True)
        return {cid: [] for cid in wanted}
    return {cid: _said(found) for cid, found in rows.items()}


def conversation(tracker_store: Engine, conversation_id: str, limit: int = 200) -> list[Said]:
    """One conversation's latest ``limit`` turns, oldest first (see ``conversations``)."""
    return conversations(tracker_store, [conversation_id], limit)[conversation_id]


def _said(rows: Sequence[Row[Any]]) -> list[Said]:
    said = []
    offered: dict[str, str] = {}  # the open bot turn's buttons: payload → the words on it
    for kind, timestamp, data in reversed(rows):
        try:
            event = json.loads(data)
        except (TypeError, ValueError):
            continue
        words = str(event.get("text") or "")
        if kind == "bot":  # a turn of several messages offers all of their buttons
            offered |= _taps(event)
        elif words in offered or words.startswith("/"):
            # A tapped button arrives as what it sends ("/affirm", "路灯不亮、损坏"): shown
            # as the words on the button; the greeting a new page asks for ("/greet") was
            # never the citizen's.
            words = offered.get(words, "")
        if kind == "user":
            offered = {}  # answered: those buttons are spent
        if words:
            said.append(Said(datetime.fromtimestamp(timestamp, UTC), _KINDS[kind], words))
    return said


def _taps(event: dict[str, Any]) -> dict[str, str]:
    data = event.get("data") or {}
    message = BotMessage(
        event.get("text"), list(data.get("buttons") or []), custom=dict(data.get("custom") or {})
    )
    return {str(b.get("payload")): str(b.get("title")) for b in tap_buttons(message)}
