"""The benchmarks' report names the stack's processes as the stack does, and never by a
folder of the machine it ran on; the load benchmark tells their CPU apart by those names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks.load import Load, _row, cpu_by_process
from benchmarks.machine import cpu_seconds_each
from benchmarks.stack import process_name
from liangwang.settings import Settings
from ops.stack import build_stack, phone_spec, telegram_spec


def test_each_process_of_the_stack_is_named_as_the_stack_names_it() -> None:
    settings = Settings(phone_enabled=False)
    specs = [
        *build_stack(settings, Path("model.tar.gz")).processes,
        telegram_spec(settings),
        phone_spec(settings),
    ]
    assert {process_name(" ".join(spec.argv)): spec.name for spec in specs} == {
        spec.name: spec.name for spec in specs
    }
    assert process_name("/somewhere/bin/python -m something.else") == "python"
    assert process_name("/somewhere/bin/python /somewhere/bin/rasa run --model m") == "rasa"


def test_cpu_is_told_apart_by_process_replicas_summed_per_turn_served() -> None:
    before = {10: 5.0, 11: 7.0, 12: 1.0, 13: 3.0}
    # 13 ended between the readings, 14 started.
    after = {10: 6.5, 11: 7.5, 12: 1.25, 14: 0.5}
    names = {10: "rasa", 11: "rasa", 12: "actions", 13: "web", 14: "staff"}
    used = cpu_by_process(before, after, names)
    assert used == {"rasa": 2.0, "actions": 0.25, "staff": 0.5}

    load = Load(seconds=60, latencies=[0.02] * 100, cpu_by_process=used)
    assert list(load.cpu_ms_per_turn().items()) == [
        ("rasa", 20.0),
        ("staff", 5.0),
        ("actions", 2.5),
    ]


def test_the_assistant_is_quoted_beside_the_bare_bot_and_beside_it_keeping_conversations() -> None:
    bare = Load(seconds=10, latencies=[0.010] * 100)
    keeping = Load(seconds=10, latencies=[0.020] * 100)
    assistant = Load(seconds=10, latencies=[0.040] * 90)
    _, figures, _ = _row("assistant", assistant, bare, keeping=keeping)
    assert figures.endswith(
        "(0.90× throughput, p95 4.00×; beside the bare bot keeping its conversations "
        "0.90× throughput, p95 2.00×)"
    )
    _, figures, target = _row("bare, keeping", keeping, bare, target="what keeping costs")
    assert figures.endswith("(1.00× throughput, p95 2.00×)") and target == "what keeping costs"


def test_a_child_process_is_charged_the_cpu_it_used() -> None:
    before = cpu_seconds_each(os.getpid())
    busy = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    child = subprocess.Popen(
        [sys.executable, "-c", busy + "\nprint(flush=True)\ninput()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        child.stdout.readline()  # busy for 0.3 s of its own CPU time, now waiting
        after = cpu_seconds_each(os.getpid())
        used = cpu_by_process(before, after, {child.pid: "busy"})
    finally:
        child.communicate("\n", timeout=10)
    assert used["busy"] >= 0.25
