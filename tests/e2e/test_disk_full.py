"""The disk under the embedded default's data filling up in the middle of a complaint: the
citizen is told plainly to send it again, /healthz turns red, nothing is half-written, and
once there is room the same answer files the complaint once.

The data directory is a small tmpfs of its own (mounting needs root, as the test machines
and CI run; elsewhere the test cannot make a disk full and says so)."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ops.harness import RunningStack, make_stack
from tests.e2e.talk import assert_asked_to_send_again, complain_to_read_back, web_chat

pytestmark = pytest.mark.e2e


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small disk here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


@pytest.fixture
def stack(small_disk: Path) -> Iterator[RunningStack]:
    running = make_stack(small_disk / "data")
    running.start()
    yield running
    running.stop()


def fill(disk: Path) -> Path:
    """Write zeros until the disk has no room left; the file that took it."""
    filler = disk / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(bytes(1 << 20))
                out.flush()
        except OSError:
            pass
    return filler


def tickets(data: Path) -> int:
    with sqlite3.connect(f"file:{data / 'liangwang.db'}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT count(*) FROM tickets").fetchone()[0])


def test_a_full_disk_mid_complaint_loses_nothing_and_files_once(
    stack: RunningStack, small_disk: Path
) -> None:
    send = web_chat(stack.web_url)
    complain_to_read_back(send)
    assert httpx.get(f"{stack.web_url}/healthz").status_code == 200

    filler = fill(small_disk)
    refused = send("对")
    assert_asked_to_send_again(refused)
    health = httpx.get(f"{stack.web_url}/healthz")
    assert health.status_code == 503 and "full" in health.json()["parts"]["database"]
    assert tickets(stack.data_dir) == 0  # nothing half-written

    filler.unlink()
    assert httpx.get(f"{stack.web_url}/healthz").status_code == 200
    filed = send("对")
    assert filed.status_code == 200 and "编号是" in filed.text, filed.text
    send("对")  # the same yes again: still one ticket
    assert tickets(stack.data_dir) == 1
