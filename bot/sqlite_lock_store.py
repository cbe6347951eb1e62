"""Rasa's conversation locks in an SQLite file, shared by the Rasa replicas of one machine.

Loaded by Rasa from bot/endpoints.yml (``type: sqlite_lock_store.SQLiteLockStore``; this
folder is on the path of ``bot/rasa_start.py``), never imported by our application. Rasa
offers locks in memory (one process) or in Redis (several machines); on the embedded
default two Rasa processes on one machine share the file instead, so that both cores
serve without two replicas answering one conversation at once.

Each lock is Rasa's own ``TicketLock``, stored as the JSON Rasa's Redis store keeps. Rasa
changes a lock by reading it, changing it and saving it again: here every such change is
one ``BEGIN IMMEDIATE`` transaction, so two processes never hand out the same ticket.
The file holds only the conversations being answered: a lock is deleted when its last
ticket is served, and a lock whose tickets have all expired (its replica died mid-turn) is
swept at the next ticket issued by anyone.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore
from rasa.utils.endpoints import EndpointConfig
from sqlite_wal import turn_to_wal

# A writer holding the file longer than this is a fault, not contention.
BUSY_TIMEOUT_MS = 10_000
SCHEMA = """
CREATE TABLE IF NOT EXISTS locks (
    conversation_id TEXT PRIMARY KEY,
    lock TEXT NOT NULL,
    expires REAL NOT NULL
)
"""


def _path(url: str) -> Path:
    if not url.startswith("sqlite:///"):
        raise ValueError(f"the SQLite lock store needs a sqlite:/// URL, not {url!r}")
    return Path(url.removeprefix("sqlite:///"))


class SQLiteLockStore(LockStore):
    def __init__(self, endpoint_config: EndpointConfig) -> None:
        path = _path(str(endpoint_config.url))
        path.parent.mkdir(parents=True, exist_ok=True)
        # Rasa calls the lock store from its event loop's thread; autocommit mode, so
        # that each transaction is the one this class begins.
        self._db = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        turn_to_wal(self._db, BUSY_TIMEOUT_MS / 1000)
        # Locks outlive no machine crash: the tickets would have expired by the restart.
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(SCHEMA)
        super().__init__()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _changed(
        self,
        conversation_id: str,
        change: Callable[[TicketLock], None],
        *,
        delete_if_unused: bool = False,
    ) -> None:
        """``change`` applied to the stored lock (if any) and saved, in one transaction;
        with ``delete_if_unused``, deleted instead when nobody waits for it any more."""
        with self._transaction():
            lock = self.get_lock(conversation_id)
            if lock is None:
                return
            change(lock)
            if delete_if_unused and not lock.is_someone_waiting():
                self.delete_lock(conversation_id)
            else:
                self.save_lock(lock)

    # What Rasa's LockStore asks of a store.

    def get_lock(self, conversation_id: str) -> TicketLock | None:
        row = self._db.execute(
            "SELECT lock FROM locks WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()
        return None if row is None else TicketLock.from_dict(json.loads(row[0]))

    def delete_lock(self, conversation_id: str) -> None:
        self._db.execute("DELETE FROM locks WHERE conversation_id = ?", (conversation_id,))

    def save_lock(self, lock: TicketLock) -> None:
        expires = max((ticket.expires for ticket in lock.tickets), default=0.0)
        self._db.execute(
            "INSERT OR REPLACE INTO locks (conversation_id, lock, expires) VALUES (?, ?, ?)",
            (lock.conversation_id, lock.dumps(), expires),
        )

    # Rasa's read-change-save steps, each made atomic across processes.

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        try:
            with self._transaction():
                self._db.execute("DELETE FROM locks WHERE expires < ?", (time.time(),))
                lock = self.get_or_create_lock(conversation_id)
                ticket = lock.issue_ticket(lock_lifetime)
                self.save_lock(lock)
                return ticket
        except sqlite3.Error as error:
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error

    def update_lock(self, conversation_id: str) -> None:
        self._changed(conversation_id, TicketLock.remove_expired_tickets)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        self._changed(conversation_id, lambda lock: lock.remove_ticket_for(ticket_number))

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        self._changed(
            conversation_id,
            lambda lock: lock.remove_ticket_for(ticket_number),
            delete_if_unused=True,
        )
