"""The action server listens on loopback only and answers only callers holding the secret
Rasa sends: a stranger who reaches the port cannot run an action as any citizen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from liangwang.settings import PROJECT_ROOT, Settings
from ops.action_server import SECRET_HEADER
from ops.harness import free_port
from ops.stack import action_server_spec, app_env, with_start_secrets
from tests.action_server import ACTION_SECRET as SECRET

# What a stranger would post to withdraw someone's complaint.
CALL = {
    "next_action": "action_withdraw_ticket",
    "sender_id": "phone:13800000000",
    "tracker": {"sender_id": "phone:13800000000", "events": [], "slots": {}},
    "domain": {},
}


def listening_addresses(port: int) -> set[str]:
    """The local addresses a TCP socket listens on at ``port`` (Linux /proc/net/tcp*)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_a_call_without_the_secret_is_refused(action_server: str) -> None:
    assert httpx.post(f"{action_server}/webhook", json=CALL).status_code == 403
    wrong = {SECRET_HEADER: "guess"}
    assert httpx.post(f"{action_server}/webhook", json=CALL, headers=wrong).status_code == 403
    # With the secret the call reaches the actions (this one then finds no ticket to
    # withdraw and answers as the action does).
    right = httpx.post(f"{action_server}/webhook", json=CALL, headers={SECRET_HEADER: SECRET})
    assert right.status_code == 200 and "responses" in right.json()


def test_it_listens_on_loopback_only(action_server: str) -> None:
    port = int(action_server.rsplit(":", 1)[1])
    assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, not 0.0.0.0


def test_it_never_runs_without_a_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LIANGWANG_ACTION_SECRET"}
    done = subprocess.run(
        [sys.executable, "-m", "ops.action_server"],
        cwd=PROJECT_ROOT,
        env={**env, "LIANGWANG_ACTION_PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "LIANGWANG_ACTION_SECRET" in done.stderr


def test_each_start_of_the_stack_shares_a_new_secret_with_its_action_server() -> None:
    first, second = with_start_secrets(Settings()), with_start_secrets(Settings())
    assert first.action_secret is not None and second.action_secret is not None
    assert first.action_secret != second.action_secret
    spec = action_server_spec(first)
    assert spec.env["LIANGWANG_ACTION_SECRET"] == first.action_secret.get_secret_value()
    assert app_env(first)["LIANGWANG_ACTION_SECRET"] == first.action_secret.get_secret_value()
    # The web page's spoken replies get their own key, shared the same way.
    link = first.speech_link_secret
    assert link is not None and link.get_secret_value() != first.action_secret.get_secret_value()
    assert app_env(first)["LIANGWANG_SPEECH_LINK_SECRET"] == link.get_secret_value()
    # Configured secrets are kept.
    configured = Settings(action_secret=SECRET, speech_link_secret=SECRET)
    assert with_start_secrets(configured) is configured
