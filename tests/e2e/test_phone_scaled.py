"""The phone line as it scales: two phone processes behind Kamailio in the whole stack. A
real softphone (baresip) calls the one SIP address, asks its question and hears the
answer; with one phone process killed, the next call is answered all the same."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.harness import RunningStack, make_stack
from tests.e2e.test_phone_line import ANSWERED_CALL_S, call, last_call, speech_after

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def proxied(
    tmp_path_factory: pytest.TempPathFactory, whisper_model: Path
) -> Iterator[RunningStack]:
    running = make_stack(
        tmp_path_factory.mktemp("proxied"),
        whisper_model=whisper_model,
        background_speech=False,
    )
    running.env["LIANGWANG_PHONE_REPLICAS"] = "2"
    running.start()
    yield running
    assert running.stop() == 0


async def ask_about_the_senior_card(stack: RunningStack, workdir: Path) -> None:
    caller, heard = await call(stack, workdir, [(2.0, "jinglaoka")], [], seconds=ANSWERED_CALL_S)
    _page, turns = last_call(stack, caller)
    assert "敬老卡" in turns[1] and "一共3步" in turns[1]
    assert speech_after(heard, 2.0 + 2.4 + 1.0) > 3.0  # the answer, heard on the phone


async def test_calls_reach_a_phone_process_through_kamailio_and_outlive_one(
    proxied: RunningStack, tmp_path: Path
) -> None:
    assert proxied.process("kamailio", "-DD")  # the proxy, in front of both
    await ask_about_the_senior_card(proxied, tmp_path / "first")

    os.kill(proxied.process("ops.cli", "phone"), signal.SIGKILL)
    await asyncio.sleep(4)  # Kamailio's probe (every second, 1.5 s to answer) finds it gone
    await ask_about_the_senior_card(proxied, tmp_path / "second")
