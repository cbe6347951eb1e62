"""The scaled profile on the running PostgreSQL and Redis: two Rasa replicas and two action
servers behind HAProxy, every store shared; a replica killed mid-conversation loses
nothing, the other continuing from the persisted tracker under the lock. The same with two
Rasa replicas on the embedded default (SQLite, the replicas' lock file)."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from liangwang.db import make_engine
from ops.harness import RunningStack, make_stack, scaled_stack, wait_answering

pytestmark = pytest.mark.e2e
# Conversation ids are new per test, so Rasa's locks never meet another test's.
REDIS = "redis://127.0.0.1:6379/4"


# One scaled stack for the module (a start takes minutes on 2 cores): the test of shared
# stores runs after the replicas were killed and brought back, which it does not mind.
@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with scaled_stack(tmp_path_factory.mktemp("scaled"), REDIS) as running:
        yield running


@pytest.fixture
def two_rasa_embedded(tmp_path: Path) -> Iterator[RunningStack]:
    running = make_stack(tmp_path / "stack")
    running.env["LIANGWANG_RASA_REPLICAS"] = "2"
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _replica(stack: RunningStack, index: int) -> tuple[int, str]:
    """The pid of Rasa replica ``index`` (1-based) and its own URL."""
    port = int(stack.rasa_url.rsplit(":", 1)[1]) + index
    return stack.process("rasa_start.py run", f"--port {port}"), f"http://127.0.0.1:{port}"


def say_again_if_refused(stack: RunningStack, cid: str, text: str) -> list[dict[str, object]]:
    try:
        return stack.say(cid, text)
    except httpx.HTTPStatusError as refused:
        assert refused.response.status_code == 502
        return stack.say(cid, text)


# The embedded pair first: its stack is stopped before the scaled one starts.
@pytest.mark.parametrize("setup", ["two_rasa_embedded", "scaled"])
def test_a_rasa_replica_killed_mid_complaint_loses_nothing(
    setup: str, request: pytest.FixtureRequest
) -> None:
    scaled: RunningStack = request.getfixturevalue(setup)
    conversations = [f"scaled-{uuid.uuid4().hex[:8]}" for _ in range(4)]
    for cid in conversations:
        assert "路灯" in str(scaled.say(cid, "我要投诉，小区门口的路灯坏了"))

    first, first_url = _replica(scaled, 1)
    os.kill(first, signal.SIGKILL)
    # Every conversation goes on, on the other replica, from the tracker in PostgreSQL. A
    # turn that reached the replica as it died is refused (the channel says "send it
    # again"), never half-done: sent again, it is answered as the first time.
    for cid in conversations:
        assert "在哪个区" in str(say_again_if_refused(scaled, cid, "对"))

    # The supervisor brings the killed one back; now the other is killed, and the first
    # carries every conversation on where the second left it.
    wait_answering(first_url, timeout_s=300)
    time.sleep(2)  # the balancer's next health check (every second) sees it back
    second, _ = _replica(scaled, 2)
    os.kill(second, signal.SIGKILL)
    for cid in conversations:
        assert "具体在哪里" in str(say_again_if_refused(scaled, cid, "杨浦区"))


def test_every_store_is_the_shared_one(scaled: RunningStack) -> None:
    cid = f"scaled-{uuid.uuid4().hex[:8]}"
    scaled.say(cid, "你好")
    # Nothing of Rasa's or ours in the private data directory: all of it in PostgreSQL.
    assert not list(scaled.data_dir.glob("*.db"))
    tracker = make_engine(scaled.env["LIANGWANG_TRACKER_STORE_URL"])
    with tracker.connect() as c:
        said = c.execute(text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": cid})
        assert said.scalar_one() > 0
    tracker.dispose()
