"""A restart of the stack keeps every conversation (Rasa's SQL tracker store on SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.harness import make_stack

pytestmark = pytest.mark.e2e


def test_conversation_survives_a_restart(tmp_path: Path) -> None:
    first = make_stack(tmp_path / "stack")
    first.start()
    try:
        answer = [r["text"] for r in first.say("restart-1", "你能做什么")]
    finally:
        assert first.stop() == 0
    assert (tmp_path / "stack" / "tracker.db").stat().st_size > 0

    second = make_stack(tmp_path / "stack")
    second.start()
    try:
        # "Repeat" can only answer from the conversation stored before the restart.
        assert [r["text"] for r in second.say("restart-1", "再说一遍")] == answer
    finally:
        assert second.stop() == 0
