"""The embedded database as the processes of one machine share it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import text

from liangwang.db import make_engine, migrate


def test_a_migrated_database_lets_a_process_connect_while_another_reads(tmp_path: Path) -> None:
    # `liangwang run` migrates, then starts every process at once. Turning a database to
    # WAL needs it to itself: if the first connections had to do it, one process reading
    # would keep another from connecting at all ("database is locked").
    url = f"sqlite:///{tmp_path / 'liangwang.db'}"
    migrate(url)
    reader = sqlite3.connect(tmp_path / "liangwang.db", isolation_level=None)
    try:
        assert reader.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM alembic_version").fetchone()  # reading on
        engine = make_engine(url)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
        engine.dispose()
    finally:
        reader.close()
