"""The supervisor with small real child processes (python -c …) standing in for services."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import sys
from pathlib import Path

from liangwang.ops.stack import ProcessSpec, build_stack
from liangwang.ops.supervisor import supervise
from liangwang.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


FAKE_SERVICE = Path(__file__).with_name("fake_service.py")


def http_child(name: str, port: int, tmp: Path) -> ProcessSpec:
    return ProcessSpec(
        name=name,
        argv=[sys.executable, str(FAKE_SERVICE), str(port), str(tmp / name)],
        health_url=f"http://127.0.0.1:{port}/",
        cwd=tmp,
    )


async def test_ready_then_sigterm_stops_every_child(tmp_path: Path) -> None:
    specs = [http_child("one", free_port(), tmp_path), http_child("two", free_port(), tmp_path)]
    out = io.StringIO()
    ready: list[float] = []

    def on_ready(elapsed: float) -> None:
        ready.append(elapsed)
        asyncio.get_running_loop().call_later(0.2, os.kill, os.getpid(), signal.SIGTERM)

    code = await supervise(specs, on_ready=on_ready, out=out)
    assert code == 0 and len(ready) == 1
    assert (tmp_path / "one").read_text() == "stopped"
    assert (tmp_path / "two").read_text() == "stopped"
    log = out.getvalue()
    assert "one | hello from child" in log and "two | hello from child" in log


async def test_a_child_that_dies_stops_the_stack_with_an_error(tmp_path: Path) -> None:
    alive = http_child("alive", free_port(), tmp_path)
    dying = ProcessSpec(
        name="dying",
        argv=[sys.executable, "-c", "import time; time.sleep(1)"],
        health_url="",
        cwd=tmp_path,
    )
    out = io.StringIO()
    code = await supervise([alive, dying], out=out)
    assert code == 1
    assert "dying" in out.getvalue() and "exited unexpectedly" in out.getvalue()
    assert (tmp_path / "alive").read_text() == "stopped"


async def test_a_child_that_fails_at_start_is_reported(tmp_path: Path) -> None:
    broken = ProcessSpec(
        name="broken",
        argv=[sys.executable, "-c", "raise SystemExit(3)"],
        health_url="http://127.0.0.1:1/",
        cwd=tmp_path,
    )
    out = io.StringIO()
    assert await supervise([broken], out=out) == 1
    assert "broken exited with code 3" in out.getvalue()


def test_missing_telegram_token_skips_the_channel_with_one_line(tmp_path: Path) -> None:
    stack = build_stack(Settings(), tmp_path / "model.tar.gz")
    assert [p.name for p in stack.processes] == ["actions", "rasa", "web"]
    assert len(stack.skipped) == 1 and "LIANGWANG_TELEGRAM_TOKEN" in stack.skipped[0]
    with_token = build_stack(Settings(telegram_token="123:abc"), tmp_path / "m.tar.gz")  # type: ignore[arg-type]
    assert "telegram" in [p.name for p in with_token.processes] and not with_token.skipped
