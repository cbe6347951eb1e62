"""A channel or the phone line crashing: the supervisor restarts it after a pause (doubling
while it keeps crashing), and the rest of the stack serves all the while."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest

from ops.harness import RunningStack, wait_answering
from tests.e2e.talk import web_chat
from tests.sip_peers import sip_options_answered

pytestmark = pytest.mark.e2e


def restarted(stack: RunningStack, name: str, pid: int, *markers: str) -> int:
    """The new pid of the child ``name`` once the supervisor has said it restarts it."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        said = any(
            line.split("|")[0].strip() == name and "restarting in" in line for line in stack.log
        )
        try:
            new = stack.process(*markers)
        except LookupError:
            new = pid
        if said and new != pid:
            return new
        time.sleep(0.5)
    raise TimeoutError(name)


def test_the_phone_line_killed_is_restarted_while_the_chat_goes_on(stack: RunningStack) -> None:
    assert sip_options_answered(stack.sip_port)
    phone = stack.process("ops.cli", "phone")
    os.kill(phone, signal.SIGKILL)

    assert not sip_options_answered(stack.sip_port)
    # Citizens on the web page do not notice.
    assert "敬老卡" in web_chat(stack.web_url)("敬老卡怎么办").text
    restarted(stack, "phone", phone, "ops.cli", "phone")
    deadline = time.monotonic() + 300
    while not sip_options_answered(stack.sip_port):
        assert time.monotonic() < deadline, "\n".join(stack.log[-40:])
        time.sleep(1)


def test_the_web_channel_killed_is_restarted_while_rasa_and_the_phone_go_on(
    stack: RunningStack,
) -> None:
    web = stack.process("ops.web_apps:citizen_app")
    os.kill(web, signal.SIGKILL)

    # The dialogue engine and the phone line still serve.
    assert "敬老卡" in str(stack.say(f"crash-{uuid.uuid4().hex[:8]}", "敬老卡怎么办"))
    assert sip_options_answered(stack.sip_port)
    restarted(stack, "web", web, "ops.web_apps:citizen_app")
    wait_answering(f"{stack.web_url}/healthz", timeout_s=120)
    assert web_chat(stack.web_url)("敬老卡怎么办").status_code == 200
