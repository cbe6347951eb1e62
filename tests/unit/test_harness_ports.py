"""ops/harness.py: a stack's replicas listen on the ports after their service's, so the
ports a test stack is given leave those free (a replica once failed to start on a port
another service of the same stack had been given)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ops import harness


def test_a_block_whose_next_port_is_busy_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken_by_another = busy.getsockname()[1]
        offers = iter([taken_by_another - 1, harness.free_port()])
        monkeypatch.setattr(harness, "free_port", lambda: next(offers))
        base = harness.free_port_block(2, set())
    assert base != taken_by_another - 1


def test_blocks_given_to_one_stack_never_overlap() -> None:
    taken: set[int] = set()
    bases = [harness.free_port_block(harness.REPLICA_PORTS, taken) for _ in range(6)]
    ports = [base + i for base in bases for i in range(harness.REPLICA_PORTS)]
    assert len(set(ports)) == len(ports) == len(taken)


def test_a_udp_block_whose_next_port_is_busy_is_passed_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The phone processes behind the SIP proxy listen on the UDP ports after the line's.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        taken_by_another = busy.getsockname()[1]
        offers = iter([taken_by_another - 2, harness.free_port()])
        monkeypatch.setattr(harness, "free_port", lambda: next(offers))
        base = harness.free_port_block(3, set(), socket.SOCK_DGRAM)
    assert base != taken_by_another - 2


def test_a_phone_stacks_ports_leave_room_for_its_phone_processes(tmp_path: Path) -> None:
    stack = harness.make_stack(tmp_path, whisper_model=tmp_path / "whisper")
    env = {k: int(v) for k, v in stack.env.items() if k.endswith("_PORT") or "PORT_M" in k}
    sip, audiosocket = env["LIANGWANG_SIP_PORT"], env["LIANGWANG_AUDIOSOCKET_PORT"]
    rtp = range(env["LIANGWANG_RTP_PORT_MIN"], env["LIANGWANG_RTP_PORT_MAX"] + 1)
    others = [env[f"LIANGWANG_{name}_PORT"] for name in ("RASA", "ACTION", "WEB", "STAFF")]
    phone = [
        *range(sip, sip + 1 + harness.REPLICA_PORTS),
        *range(audiosocket, audiosocket + harness.REPLICA_PORTS),
        *rtp,
    ]
    balanced = [port + i for port in others[:2] for i in range(harness.REPLICA_PORTS)]
    every = [*phone, *balanced, *others[2:]]
    assert len(set(every)) == len(every)


def test_ports_are_given_below_the_range_for_outgoing_connections() -> None:
    # A service given a port in that range could find it taken by a health check's
    # connection before it listened (a Rasa replica once did, a minute into loading).
    floor = harness.ephemeral_floor()
    ports = [harness.free_port() for _ in range(50)]
    assert all(harness.LISTEN_PORTS_FROM <= port < floor for port in ports), ports
