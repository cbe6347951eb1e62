"""The running stack's processes, as a test finds, kills and waits for them."""

from __future__ import annotations

import time
from pathlib import Path

import httpx


def descendant_running(root: int, *markers: str) -> int:
    """The process under ``root`` whose command line holds every one of ``markers``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if all(m in cmdline for m in markers) and parent in (root, *_children_of(root)):
            return int(entry.name)
    raise LookupError(markers)


def _children_of(root: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{root}/task/{root}/children").read_text().split()]
    except OSError:
        return []


def wait_healthy(url: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(url)
