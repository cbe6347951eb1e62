"""Foundation benchmarks: training, cold and warm start, REST turn latency, memory."""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.machine import child_processes, command_line, own_rss_mib, rss_mib
from benchmarks.report import section
from liangwang.settings import Settings
from ops.harness import make_stack
from ops.rasa_engine import train

# A mix of turns answered by rules alone and turns that call the action server.
TURNS = ["你好", "你能做什么", "你是机器人吗", "再说一遍", "谢谢", "帮我查查明天天气"]
# Realistic conversations are short: 50 conversations of 6 turns each, one turn at a time.
CONVERSATIONS = 50
WARM_STARTS = 3


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# How the stack's processes are told apart by their command lines (ops/stack.py), and Rasa
# started by its own command (the load benchmark's bare bot).
PROCESS_MARKERS = (
    ("rasa_start.py run", "rasa"),
    ("bin/rasa run", "rasa"),
    ("ops.action_server", "actions"),
    ("backoffice.app", "staff"),
    ("ops.web_apps", "web"),
    ("ops.telegram_bot", "telegram"),
    ("ops.retention", "retention"),
    ("ops.cli phone", "phone"),
)


def process_name(cmdline: str) -> str:
    """The stack's name for a process; another one by its program's file name only (a
    report names no folder of the machine it ran on)."""
    for marker, name in PROCESS_MARKERS:
        if marker in cmdline:
            return name
    return Path(cmdline.split(" ", 1)[0]).name


def run() -> list[str]:
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="lw-bench-") as tmp_name:
        tmp = Path(tmp_name)

        started = time.monotonic()
        train(
            Settings(models_dir=tmp / "train-models", data_dir=tmp / "train-data"),
            force=True,
            log=tmp / "train.log",
        )
        training_s = time.monotonic() - started
        rows.append(("training time (`liangwang train --force`)", f"{training_s:.1f} s", "≤ 300 s"))

        cold = make_stack(tmp / "data", models_dir=tmp / "models")
        cold_s = cold.start()
        cold.stop()
        rows.append(
            (
                "cold `liangwang run` to ready (new data dir, no model: trains)",
                f"{cold_s:.1f} s",
                "—",
            )
        )

        warm_times: list[float] = []
        stack = make_stack(tmp / "data", models_dir=tmp / "models")
        for attempt in range(WARM_STARTS):
            warm_times.append(stack.start())
            if attempt < WARM_STARTS - 1:
                stack.stop()
                stack = make_stack(tmp / "data", models_dir=tmp / "models")
        rows.append(
            (
                f"warm `liangwang run` to ready (median of {WARM_STARTS})",
                f"{statistics.median(warm_times):.1f} s",
                "≤ 60 s",
            )
        )

        try:
            for text in TURNS:  # warm-up: first calls load lazy parts
                stack.say("bench-warm-up", text)
            latencies: list[float] = []
            for _ in range(CONVERSATIONS):
                conversation = f"bench-{uuid.uuid4().hex[:8]}"
                for text in TURNS:
                    t0 = time.perf_counter()
                    stack.say(conversation, text)
                    latencies.append((time.perf_counter() - t0) * 1000)
            label = f"{CONVERSATIONS} conversations × {len(TURNS)} turns, one at a time"
            p50 = f"{percentile(latencies, 0.5):.0f} ms"
            rows.append((f"REST turn latency p50 ({label})", p50, "≤ 80 ms"))
            rows.append(("REST turn latency p95", f"{percentile(latencies, 0.95):.0f} ms", "—"))

            assert stack.proc is not None
            total = rss_mib(stack.proc.pid)
            rows.append(("RSS supervisor", f"{own_rss_mib(stack.proc.pid):.0f} MiB", "—"))
            for pid in child_processes(stack.proc.pid):
                rows.append(
                    (f"RSS {process_name(command_line(pid))}", f"{rss_mib(pid):.0f} MiB", "—")
                )
            rows.append(("RSS whole stack", f"{total:.0f} MiB", "≤ 3072 MiB"))
        finally:
            stack.stop()

    return section(
        "## Foundation: start, training, turn latency, memory",
        rows,
        ["Environments already installed (installation is network-bound and not measured)."],
    )
