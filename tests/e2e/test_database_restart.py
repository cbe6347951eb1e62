"""PostgreSQL restarted while a citizen confirms a complaint in the scaled profile: they
are told plainly to send it again, never filed twice, never silently lost; once the
database is back the same answer files it once. The server is the test's own
(tests/private_postgres.py): the machine's shared one is never restarted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from liangwang.db import make_engine
from ops.harness import RunningStack, scaled_stack, wait_answering
from tests.e2e.talk import assert_asked_to_send_again, complain_to_read_back, web_chat
from tests.private_postgres import PrivatePostgres, private_postgres

pytestmark = pytest.mark.e2e
REDIS = "redis://127.0.0.1:6379/4"


@pytest.fixture
def database() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        yield server


@pytest.fixture
def stack(database: PrivatePostgres, tmp_path: Path) -> Iterator[RunningStack]:
    with scaled_stack(tmp_path / "stack", REDIS, database.url) as running:
        yield running


def tickets(stack: RunningStack) -> int:
    engine = make_engine(stack.env["LIANGWANG_DATABASE_URL"])
    with engine.connect() as db:
        count = int(db.execute(text("SELECT count(*) FROM tickets")).scalar_one())
    engine.dispose()
    return count


def test_postgres_restarted_while_filing_files_once_or_asks_again(
    stack: RunningStack, database: PrivatePostgres
) -> None:
    send = web_chat(stack.web_url)
    complain_to_read_back(send)

    database.stop()
    refused = send("对")
    assert_asked_to_send_again(refused)
    # /healthz is red while the database is away.
    assert httpx.get(f"{stack.web_url}/healthz").status_code == 503

    database.start()
    wait_answering(f"{stack.web_url}/healthz", timeout_s=60)
    filed = send("对")
    assert filed.status_code == 200 and "编号是" in filed.text, filed.text
    send("对")  # the same yes again: still one ticket
    assert tickets(stack) == 1
