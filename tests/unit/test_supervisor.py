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
from ops.stack import PHONE_READY_MARK, ProcessSpec, build_stack, phone_spec, phone_unavailable
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


async def test_a_process_without_health_url_is_ready_when_it_prints_its_ready_line(
    tmp_path: Path,
) -> None:
    # Like the phone line: it loads models first, then says it listens.
    slow = ProcessSpec(
        name="slow",
        argv=[
            sys.executable,
            "-c",
            "import time; print('loading', flush=True); time.sleep(1.5); "
            f"print('all set: {PHONE_READY_MARK}: sip 5060', flush=True); time.sleep(60)",
        ],
        health_url="",
        cwd=tmp_path,
        ready_line=PHONE_READY_MARK,
    )
    ready: list[float] = []

    def on_ready(elapsed: float) -> None:
        ready.append(elapsed)
        asyncio.get_running_loop().call_later(0.1, os.kill, os.getpid(), signal.SIGTERM)

    assert await supervise([slow], on_ready=on_ready, out=io.StringIO()) == 0
    assert len(ready) == 1 and ready[0] >= 1.5


def test_the_phone_line_says_the_mark_the_supervisor_waits_for(tmp_path: Path) -> None:
    from voice.app import PHONE_LINE_READY

    assert PHONE_READY_MARK in PHONE_LINE_READY
    phone = phone_spec(Settings(data_dir=tmp_path))
    assert phone.ready_line == PHONE_READY_MARK and phone.health_url == ""
