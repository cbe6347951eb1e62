"""Shared fixtures: a migrated SQLite database per test, isolated from the developer's .env."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from liangwang.db import make_engine, make_session_factory, migrate


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Tests never read the developer's .env or LIANGWANG_* variables.
    monkeypatch.chdir(tmp_path)
    import os

    for key in list(os.environ):
        if key.startswith("LIANGWANG_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("LIANGWANG_DATA_DIR", str(tmp_path / "var"))
    # FastAPI's TestClient names its host "testserver".
    monkeypatch.setenv("LIANGWANG_ALLOWED_HOSTS", "127.0.0.1,localhost,::1,testserver")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'test.db'}"
    migrate(url)
    return url


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


# The PostgreSQL that runs on this machine and in CI (trust auth on loopback); each test
# that asks for it gets a database of its own, dropped afterwards.
@pytest.fixture
def pg_url() -> Iterator[str]:
    from ops.harness import postgres_database

    with postgres_database() as url:
        yield url


# Our real action server on a migrated SQLite database of the test's own; its URL. Calls
# carry tests.action_server.ACTION_SECRET.
@pytest.fixture
def action_server(tmp_path: Path, db_url: str) -> Iterator[str]:
    from tests.action_server import ACTION_SECRET, running_action_server

    with running_action_server(tmp_path / "var", db_url, ACTION_SECRET) as url:
        yield url
