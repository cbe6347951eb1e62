"""Rasa's SQL tracker store, read and written without SQLAlchemy's ORM.

Loaded by Rasa from bot/endpoints.yml (``type: lean_tracker_store.LeanSQLTrackerStore``;
this folder is on the path of ``bot/rasa_start.py``), never imported by our application.
Rasa's ``SQLTrackerStore`` builds an ORM object for every event it reads and every event it
writes, and counts the stored events through an ORM query wrapped in a subquery: under
load about a third of the engine's time went there. This store is Rasa's own class with
the same table, the same queries and the same rows; only those two steps go through
SQLAlchemy Core statements built once: the events' JSON read as plain rows, the new
events written in one multi-row insert, in the tracker's order.

The statements run on a thread of the store's own, one at a time: while the database writes
and syncs a turn, the engine's event loop serves other conversations (the database releases
Python's lock while it works) instead of waiting. Rasa still awaits each read and write
before it answers, under the conversation's lock, so nothing is answered before it is
saved.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

T = TypeVar("T")


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
        # One thread: one connection of its own on SQLite, statements in the order given.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracker-store")

    async def _on_store_thread(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, work, *args)

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        query = self._all_sessions if fetch_events_from_all_sessions else self._current_session
        rows = await self._on_store_thread(self._read, query, sender_id)
        events = [json.loads(data) for data in rows]
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    def _read(self, query: sa.sql.Select, sender_id: str) -> Sequence[str]:
        with self.session_scope() as session:
            return session.execute(query, {"sender_id": sender_id}).scalars().all()

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        await self._on_store_thread(self._write, tracker.sender_id, list(tracker.events))

    def _write(self, sender_id: str, events: list[Event]) -> None:
        with self.session_scope() as session:
            stored = session.execute(self._stored, {"sender_id": sender_id}).scalar_one()
            rows = [_row(sender_id, event) for event in events[stored:]]
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
