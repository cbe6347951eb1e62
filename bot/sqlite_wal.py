"""Turning an SQLite file to WAL when several processes may open it at once.

WAL is kept in the file, but the switch needs the file to itself. Replicas starting
together on a new file all try it: SQLite then answers "database is locked" at once to
some of them, without waiting out the busy timeout (waiting could deadlock), so they try
again until one has done it and the rest find WAL already set."""

from __future__ import annotations

import sqlite3
import time

RETRY_EVERY_S = 0.02


def turn_to_wal(db: sqlite3.Connection, timeout_s: float) -> None:
    until = time.monotonic() + timeout_s
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= until:
                raise
            time.sleep(RETRY_EVERY_S)
