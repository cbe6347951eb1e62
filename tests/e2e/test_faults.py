"""Faults of the running stack: a part killed in the middle of a conversation, the citizen
told plainly, nothing they said lost, the conversation going on once the part is back."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.harness import RunningStack, make_stack, wait_answering
from tests.e2e.talk import assert_asked_to_send_again, web_chat

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[RunningStack]:
    running = make_stack(tmp_path / "stack")
    running.start()
    yield running
    assert running.stop() == 0


def test_the_action_server_killed_mid_complaint_is_apologised_for_and_the_complaint_goes_on(
    stack: RunningStack,
) -> None:
    send = web_chat(stack.web_url)
    asked = send("我要投诉，小区门口的路灯坏了")
    assert asked.status_code == 200 and "路灯" in asked.text

    actions = stack.process("ops.action_server")
    os.kill(actions, signal.SIGKILL)
    down = send("对")
    # Said plainly, in Chinese, and what was written is still in the box to send again.
    assert_asked_to_send_again(down)
    assert "Traceback" not in down.text and "Exception" not in down.text

    # The supervisor starts it again; the same answer, sent again, goes on with the complaint.
    action_port = stack.env["LIANGWANG_ACTION_PORT"]
    wait_answering(f"http://127.0.0.1:{action_port}/health")
    assert stack.process("ops.action_server") != actions
    again = send("对")
    assert again.status_code == 200, again.text
    buttons = [b for m in again.json()["messages"] for b in m["buttons"]]
    assert len(buttons) == 16  # which district? — the complaint goes on where it stopped
