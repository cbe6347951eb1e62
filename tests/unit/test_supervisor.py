"""The supervisor with small real child processes (python -c …) standing in for services."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import sys
from pathlib import Path

from liangwang.settings import Settings
from ops.stack import ProcessSpec, build_stack, phone_unavailable
from ops.supervisor import supervise
from voice.model_install import verify_vosk_ko


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


def test_optional_parts_are_skipped_with_one_line_each(tmp_path: Path) -> None:
    stack = build_stack(Settings(vosk_model=tmp_path / "missing"), tmp_path / "model.tar.gz")
    assert [p.name for p in stack.processes] == ["actions", "rasa", "web"]
    telegram, phone = stack.skipped
    assert "LIANGWANG_TELEGRAM_TOKEN" in telegram
    assert "LIANGWANG_VOSK_MODEL" in phone and "liangwang models fetch vosk-cn" in phone
    with_token = build_stack(
        Settings(telegram_token="123:abc", phone_enabled=False),  # type: ignore[arg-type]
        tmp_path / "m.tar.gz",
    )
    assert "telegram" in [p.name for p in with_token.processes]
    assert with_token.skipped == [phone_unavailable(Settings(phone_enabled=False))]


def test_the_phone_line_starts_when_its_model_is_usable(tmp_path: Path) -> None:
    # The complete Vosk model from the package registry stands in for the Mandarin one.
    settings = Settings(vosk_model=verify_vosk_ko())
    stack = build_stack(settings, tmp_path / "model.tar.gz")
    assert stack.processes[-1].name == "phone"
    assert stack.processes[-1].argv[-1] == "phone"
