"""Describe the machine a benchmark ran on, and measure process memory from /proc."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path


def describe() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {platform.system()} {platform.release()} · "
        f"{cpu} · {os.cpu_count()} cores · {mem_kb / 1024 / 1024:.0f} GiB RAM · "
        f"Python {platform.python_version()}"
    )


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces; the ppid is the 2nd field after ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            kids.append(int(entry.name))
    return kids


def own_rss_mib(pid: int) -> float:
    """Resident memory of one process, without its children, in MiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _tree(pid: int) -> list[int]:
    """A process and all its descendants."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(_children(current))
    return found


def rss_mib(pid: int) -> float:
    """Resident memory of one process and all its descendants, in MiB."""
    return sum(own_rss_mib(p) for p in _tree(pid))


def cpu_seconds_each(pid: int) -> dict[int, float]:
    """User and system CPU time so far of a process and of each living descendant, by pid."""
    each: dict[int, float] = {}
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        each[p] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return each


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


def child_processes(pid: int) -> list[int]:
    return _children(pid)


def children_mib(pid: int | None = None) -> float:
    """Resident memory of a process's descendants only (default: this process), in MiB."""
    pid = os.getpid() if pid is None else pid
    return rss_mib(pid) - own_rss_mib(pid)
