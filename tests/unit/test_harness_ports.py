"""ops/harness.py: a stack's replicas listen on the ports after their service's, so the
ports a test stack is given leave those free (a replica once failed to start on a port
another service of the same stack had been given)."""

from __future__ import annotations

import socket

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
