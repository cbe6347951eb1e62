"""Rasa's SQL tracker store, read and written without SQLAlchemy's ORM.

Loaded by Rasa from bot/endpoints.yml (``type: lean_tracker_store.LeanSQLTrackerStore``;
this folder is on the path of ``bot/rasa_start.py``), never imported by our application.
Rasa's ``SQLTrackerStore`` builds an ORM object for every event it reads and every event it
writes, and counts the stored events through an ORM query wrapped in a subquery: under
load about a third of the engine's time went there. This store is Rasa's own class with
the same table, the same queries and the same rows; only those two steps go through
SQLAlchemy Core statements built once: the events' JSON read as plain rows, the new
events written in one multi-row insert, in the tracker's order.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY


class LeanSQLTrackerStore(SQLTrackerStore):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        events = self.SQLEvent.__table__
        sender = events.c.sender_id == sa.bindparam("sender_id")
        # As Rasa's query: the events from the latest SessionStarted on (by timestamp), or
        # all of them when there is none.
        session_start = (
            sa.select(sa.func.max(events.c.timestamp))
            .where(sender, events.c.type_name == SessionStarted.type_name)
            .scalar_subquery()
        )
        current = sa.and_(
            sender, sa.or_(events.c.timestamp >= session_start, session_start.is_(None))
        )
        self._all_sessions = sa.select(events.c.data).where(sender).order_by(events.c.id)
        self._current_session = sa.select(events.c.data).where(current).order_by(events.c.id)
        self._stored = sa.select(sa.func.count()).select_from(events).where(current)
        self._insert = events.insert()

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        query = self._all_sessions if fetch_events_from_all_sessions else self._current_session
        with self.session_scope() as session:
            rows = session.execute(query, {"sender_id": sender_id}).scalars().all()
        events = [json.loads(data) for data in rows]
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        with self.session_scope() as session:
            stored = session.execute(self._stored, {"sender_id": tracker.sender_id}).scalar_one()
            new = itertools.islice(tracker.events, stored, len(tracker.events))
            rows = [_row(tracker.sender_id, event) for event in new]
            if rows:
                session.execute(self._insert, rows)
            session.commit()


def _row(sender_id: str, event: Event) -> dict[str, Any]:
    """The columns Rasa's SQLTrackerStore.save writes for ``event``."""
    data = event.as_dict()
    return {
        "sender_id": sender_id,
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }
