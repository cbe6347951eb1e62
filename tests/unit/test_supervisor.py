"""The supervisor with small real child processes (python -c …) standing in for services."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
from pathlib import Path

from liangwang.settings import Settings
from ops.harness import free_port
from ops.stack import PHONE_READY_MARK, ProcessSpec, build_stack, phone_spec, phone_unavailable
from ops.supervisor import LINE_LIMIT, RESTART_RESET_AFTER_S, Backoff, supervise
from voice.model_install import verify_vosk_ko

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


async def test_a_child_that_dies_is_restarted_with_backoff_and_the_others_keep_serving(
    tmp_path: Path,
) -> None:
    port = free_port()
    alive = http_child("alive", port, tmp_path)
    starts = tmp_path / "starts"
    dying = ProcessSpec(
        name="dying",
        argv=[
            sys.executable,
            "-c",
            f"import pathlib, time; p = pathlib.Path({str(starts)!r}); "
            "p.write_text(p.read_text() + 'x' if p.exists() else 'x'); time.sleep(0.3)",
        ],
        health_url="",
        cwd=tmp_path,
    )
    served: list[int] = []

    def on_ready(_elapsed: float) -> None:
        async def watch() -> None:
            while not starts.exists() or len(starts.read_text()) < 3:
                await asyncio.sleep(0.05)
            # Meanwhile the other child never stopped serving.
            served.append(await asyncio.to_thread(_status, port))
            os.kill(os.getpid(), signal.SIGTERM)

        asyncio.get_running_loop().create_task(watch())

    out = io.StringIO()
    code = await supervise([alive, dying], out=out, on_ready=on_ready, restart_first_s=0.1)
    assert code == 0 and served == [200]
    log = out.getvalue()
    assert "dying | exited unexpectedly (code 0); restarting in 0 s" in log
    assert log.count("dying | started") >= 3
    assert (tmp_path / "alive").read_text() == "stopped"


def test_the_pause_before_a_restart_doubles_and_resets_after_a_good_run() -> None:
    backoff = Backoff(first_s=1.0)
    assert [backoff.delay("phone", ran_s=2.0) for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.delay("phone", ran_s=RESTART_RESET_AFTER_S) == 1.0
    assert backoff.delay("web", ran_s=0.0) == 1.0  # each child its own


async def test_a_line_longer_than_the_reader_limit_does_not_stop_the_log(tmp_path: Path) -> None:
    chatty = ProcessSpec(
        name="chatty",
        argv=[
            sys.executable,
            "-c",
            f"import sys, time; sys.stdout.write('x' * {LINE_LIMIT * 2 + 5} + '\\n'); "
            "print('after the long line', flush=True); time.sleep(60)",
        ],
        health_url="",
        cwd=tmp_path,
        ready_line="after the long line",
    )

    def on_ready(_elapsed: float) -> None:
        asyncio.get_running_loop().call_later(0.1, os.kill, os.getpid(), signal.SIGTERM)

    out = io.StringIO()
    assert await supervise([chatty], on_ready=on_ready, out=out, ready_timeout_s=20) == 0
    assert "chatty | after the long line" in out.getvalue()


def _status(port: int) -> int:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
        return int(reply.status)


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
    assert [p.name for p in stack.processes] == ["actions", "rasa", "web", "staff", "retention"]
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
