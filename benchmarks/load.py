"""Load: simulated citizens through Rasa's REST channel, beside a bare Rasa bot in one run.

Each citizen holds one conversation after another — a guide asked about, or a street lamp
reported and filed — sending a turn, waiting for the reply, then thinking for an
exponentially distributed time (mean 1 s) before the next: 20 citizens offer about 20
turns a second when replies are instant. Then the same setup is saturated (40 citizens,
hardly a pause) to measure its capacity. Loopback only, bounded in time.

The anchor is a bare Rasa 3.6 bot (benchmarks/bare_bot: four intents, rules only, no custom
actions, the in-memory tracker store, the assistant's tokenizer and classifier settings),
trained in the same run and put under the same load; each figure of the assistant is
quoted beside it. The same bot is then served keeping its conversations (Rasa's own SQL
tracker store on an SQLite file): the anchor keeps nothing, the assistant must keep what
every citizen said, and the second anchor shows what that alone costs Rasa.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.machine import command_line, cpu_seconds_each, rss_mib
from benchmarks.report import section
from benchmarks.stack import percentile, process_name
from liangwang.settings import PROJECT_ROOT, Settings
from ops.harness import free_port, make_stack, scaled_profile, wait_answering
from ops.rasa_engine import rasa_bin, rasa_env

BARE_BOT = PROJECT_ROOT / "benchmarks" / "bare_bot"
TURN_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Shape:
    """How the simulated citizens load the engine."""

    citizens: int
    think_mean_s: float
    duration_s: float


# The load: 20 citizens, a turn about every second each.
STEADY = Shape(citizens=20, think_mean_s=1.0, duration_s=120.0)
# As much as each setup can take: twice the citizens, hardly a pause. What it serves is
# its capacity on these cores.
SATURATING = Shape(citizens=40, think_mean_s=0.05, duration_s=60.0)
GUIDE = ["你好", "敬老卡怎么办", "要带什么材料", "在哪里办", "谢谢，再见"]
# A lamp at an address of its own per conversation (the same address would be offered as
# a possible duplicate instead of filed).
# The last "对" confirms the read-back: the complaint is filed.
COMPLAINT = ["我要投诉，路灯坏了", "对", "杨浦区", "国和路{n}号", "跳过", "不留", "对"]
# The scaled profile's locks, on the machine's Redis (its databases: ops/harness.py).
REDIS = "redis://127.0.0.1:6379/5"


@dataclass
class Load:
    """What one run under load measured."""

    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    peak_mib: float = 0.0
    # CPU seconds each of the setup's processes used (replicas summed), by the stack's name.
    cpu_by_process: dict[str, float] = field(default_factory=dict)

    @property
    def turns_per_s(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def cpu_cores(self) -> float:
        """Cores the setup's processes used on average."""
        return sum(self.cpu_by_process.values()) / self.seconds

    def ms(self, q: float) -> float:
        return 1000 * percentile(self.latencies, q) if self.latencies else float("nan")

    def cpu_ms_per_turn(self) -> dict[str, float]:
        """CPU milliseconds per turn served, by process, the costliest first."""
        turns = max(len(self.latencies), 1)
        by_cost = sorted(self.cpu_by_process.items(), key=lambda item: -item[1])
        return {name: 1000 * seconds / turns for name, seconds in by_cost}


def cpu_by_process(
    before: dict[int, float], after: dict[int, float], names: dict[int, str]
) -> dict[str, float]:
    """CPU seconds used between two readings (by pid), summed by process name: a process
    started in between counts from its start, one gone by the second reading is left out."""
    used: dict[str, float] = {}
    for pid, seconds in after.items():
        name = names.get(pid, "other")
        used[name] = used.get(name, 0.0) + seconds - before.get(pid, 0.0)
    return used


def _names(pids: Iterable[int]) -> dict[int, str]:
    names = {}
    for pid in pids:
        try:
            names[pid] = process_name(command_line(pid))
        except OSError:
            continue
    return names


def _conversations(rng: random.Random) -> Iterator[list[str]]:
    while True:
        if rng.random() < 0.5:
            yield GUIDE
        else:
            n = rng.randrange(1, 10_000)
            yield [turn.format(n=n) for turn in COMPLAINT]


async def _citizen(
    http: httpx.AsyncClient, url: str, seed: int, deadline: float, think_s: float, load: Load
) -> None:
    rng = random.Random(seed)
    for turns in _conversations(rng):
        sender = f"load-{uuid.uuid4().hex[:12]}"
        for said in turns:
            await asyncio.sleep(rng.expovariate(1 / think_s))
            if time.monotonic() >= deadline:
                return
            started = time.perf_counter()
            try:
                reply = await http.post(url, json={"sender": sender, "message": said})
                answered = reply.status_code == 200 and bool(reply.json())
            except (httpx.HTTPError, ValueError):
                answered = False
            if answered:
                load.latencies.append(time.perf_counter() - started)
            else:
                load.errors += 1


async def _drive(url: str, pid: int, shape: Shape) -> Load:
    load = Load(seconds=shape.duration_s)
    deadline = time.monotonic() + shape.duration_s
    limits = httpx.Limits(max_connections=shape.citizens)
    cpu_before = cpu_seconds_each(pid)

    async def sample_memory() -> None:
        while time.monotonic() < deadline:
            load.peak_mib = max(load.peak_mib, rss_mib(pid))
            await asyncio.sleep(2)

    async with httpx.AsyncClient(timeout=TURN_TIMEOUT_S, limits=limits) as http:
        await asyncio.gather(
            sample_memory(),
            *(
                _citizen(http, url, seed, deadline, shape.think_mean_s, load)
                for seed in range(shape.citizens)
            ),
        )
    cpu_after = cpu_seconds_each(pid)
    load.cpu_by_process = cpu_by_process(cpu_before, cpu_after, _names(cpu_after))
    return load


def under_load(rasa_url: str, pid: int, shape: Shape = STEADY) -> Load:
    """Simulated citizens against a running Rasa REST channel; ``pid`` is the process whose
    tree is served by it (for CPU and memory)."""
    return asyncio.run(_drive(f"{rasa_url}/webhooks/rest/webhook", pid, shape))


def under_both(rasa_url: str, pid: int) -> tuple[Load, Load]:
    """The steady load, then the saturating one, on the same running setup."""
    return under_load(rasa_url, pid, STEADY), under_load(rasa_url, pid, SATURATING)


def train_bare(folder: Path) -> Path:
    """The bare bot trained into ``folder``: its model file."""
    folder.mkdir(parents=True, exist_ok=True)
    config, domain, data = (
        str(BARE_BOT / name) for name in ("config.yml", "domain.yml", "data.yml")
    )
    subprocess.run(
        [str(rasa_bin(Settings())), "train", "--config", config, "--domain", domain,
         "--data", data, "--out", str(folder), "--fixed-model-name", "bare"],
        check=True, cwd=folder, env=_quiet(folder), capture_output=True,
    )  # fmt: skip
    return folder / "bare.tar.gz"


@contextmanager
def bare_rasa(model: Path, *, keeping: bool = False) -> Iterator[tuple[str, int]]:
    """The bare bot's ``model`` served on a free loopback port. ``keeping``: with Rasa's own
    SQL tracker store on an SQLite file beside the model, so what was said outlives the
    process (the in-memory store, as shipped, keeps nothing)."""
    folder = model.parent
    endpoints: list[str] = []
    if keeping:
        store = folder / "bare-endpoints.yml"
        store.write_text(
            f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {folder / 'bare-tracker.db'}\n"
        )
        endpoints = ["--endpoints", str(store)]
    port = free_port()
    proc = subprocess.Popen(
        [str(rasa_bin(Settings())), "run", "--model", str(model), "--interface", "127.0.0.1",
         "--port", str(port), "--credentials", str(BARE_BOT / "credentials.yml"), *endpoints],
        cwd=folder, env=_quiet(folder), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_answering(url, timeout_s=300, proc=proc)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _quiet(folder: Path) -> dict[str, str]:
    """Rasa's own environment: quiet TensorFlow, no telemetry, caches in ``folder``."""
    return rasa_env(Settings(data_dir=folder))


def _row(
    name: str,
    load: Load,
    anchor: Load | None,
    target: str = "≥ 1× throughput, p95 ≤ 1×, 0 errors",
    keeping: Load | None = None,
) -> tuple[str, str, str]:
    """A setup's figures, with its ratios to the bare bot and, if given, to the bare bot
    keeping its conversations."""
    figures = (
        f"{load.turns_per_s:.1f} turns/s · p50 {load.ms(0.5):.0f} ms · "
        f"p95 {load.ms(0.95):.0f} ms · p99 {load.ms(0.99):.0f} ms · "
        f"{load.errors} errors · {load.cpu_cores:.2f} cores · {load.peak_mib:.0f} MiB"
    )
    if anchor is None:
        return (name, figures, "anchor")
    ratios = _ratios(load, anchor)
    if keeping is not None:
        ratios += f"; beside the bare bot keeping its conversations {_ratios(load, keeping)}"
    return (name, f"{figures} ({ratios})", target)


def _ratios(load: Load, anchor: Load) -> str:
    return (
        f"{load.turns_per_s / anchor.turns_per_s:.2f}× throughput, "
        f"p95 {load.ms(0.95) / anchor.ms(0.95):.2f}×"
    )


def _cpu_row(name: str, load: Load, anchor: Load | None) -> tuple[str, str, str]:
    per_turn = load.cpu_ms_per_turn()
    total = sum(per_turn.values())
    parts = [f"{process} {ms:.1f} ms" for process, ms in per_turn.items() if ms >= 0.05]
    figures = " · ".join([*parts, f"all {total:.1f} ms"])
    if anchor is None:
        return (f"{name}: CPU per turn served", figures, "anchor")
    ratio = total / sum(anchor.cpu_ms_per_turn().values())
    return (f"{name}: CPU per turn served", f"{figures} ({ratio:.2f}×)", "where the time goes")


def _assistant(folder: Path, settings: dict[str, str]) -> tuple[Load, Load]:
    """The whole assistant under both loads, with ``settings`` over the embedded
    default's."""
    stack = make_stack(folder)
    # As shipped: the back office reads new conversation events at its own pace, not at the
    # quick one the tests' stacks use.
    stack.env.pop("LIANGWANG_REVIEW_INGEST_EVERY_S", None)
    stack.env.update(settings)
    stack.start()
    try:
        assert stack.proc is not None
        return under_both(stack.rasa_url, stack.proc.pid)
    finally:
        stack.stop()


def run() -> list[str]:
    with tempfile.TemporaryDirectory(prefix="lw-load-") as tmp:
        folder = Path(tmp)
        model = train_bare(folder / "bare")
        with bare_rasa(model) as (url, pid):
            anchor, anchor_max = under_both(url, pid)
        with bare_rasa(model, keeping=True) as (url, pid):
            kept, kept_max = under_both(url, pid)
        embedded, embedded_max = _assistant(folder / "embedded", {})
        both_cores, both_cores_max = _assistant(
            folder / "both-cores", {"LIANGWANG_RASA_REPLICAS": "2"}
        )
        with scaled_profile(REDIS) as stores:
            scaled, scaled_max = _assistant(folder / "scaled", stores)
    bare = "bare Rasa 3.6 bot (4 intents, rules, in-memory tracker)"
    bare_keeping = "the bare bot keeping its conversations (Rasa's own SQL tracker store on SQLite)"
    keeping_costs = "what keeping what was said costs Rasa itself"
    one = "the assistant, embedded default (SQLite, one Rasa)"
    one_two = (
        "the assistant, embedded with LIANGWANG_RASA_REPLICAS=2 (SQLite, 2 Rasa sharing a "
        "lock file, behind HAProxy)"
    )
    two = (
        "the assistant, scaled profile (PostgreSQL, Redis locks, 2 Rasa + 2 action "
        "servers behind HAProxy, on the same 2 cores)"
    )
    saturated = (
        f", saturated ({SATURATING.citizens} citizens, think time {SATURATING.think_mean_s} s)"
    )
    capacity = "capacity, for the ratio"
    rows = [
        _row(bare, anchor, None),
        _row(bare_keeping, kept, anchor, target=keeping_costs),
        _row(one, embedded, anchor, keeping=kept),
        _row(one_two, both_cores, anchor, keeping=kept),
        _row(two, scaled, anchor, target="≥ 1.5× throughput, p95 ≤ 1×, 0 errors", keeping=kept),
        _row(bare + saturated, anchor_max, None),
        _row(bare_keeping + saturated, kept_max, anchor_max, target=keeping_costs),
        _row(one + saturated, embedded_max, anchor_max, target=capacity, keeping=kept_max),
        _row(one_two + saturated, both_cores_max, anchor_max, target=capacity, keeping=kept_max),
        _row(two + saturated, scaled_max, anchor_max, target=capacity, keeping=kept_max),
        _cpu_row(bare, anchor, None),
        _cpu_row(bare_keeping, kept, anchor),
        _cpu_row(one, embedded, anchor),
        _cpu_row(one_two, both_cores, anchor),
        _cpu_row(two, scaled, anchor),
    ]
    return section(
        "## Load: simulated citizens through the REST channel",
        rows,
        intro=[
            f"{STEADY.citizens} citizens, each a conversation after another (half a guide "
            "asked about, half a street lamp reported and filed), a reply awaited, then an "
            f"exponential think time (mean {STEADY.think_mean_s:.0f} s); "
            f"{STEADY.duration_s:.0f} s per setup, one after the other on the same machine "
            "(the scaled profile on the machine's own PostgreSQL and Redis). Then each setup "
            f"saturated for {SATURATING.duration_s:.0f} s: what it serves there is its "
            "capacity on these cores. CPU: cores used on average by the setup's processes; "
            "memory: their peak resident size. In brackets: the ratio to the bare bot under "
            "the same load; for the assistant also to the bare bot keeping its "
            "conversations: as shipped, the bare bot keeps nothing (a restart forgets every "
            "conversation), while the assistant saves each turn before it answers. CPU per "
            "turn served: the CPU time each process used under the steady load, divided by "
            "the turns served (replicas summed; processes under 0.05 ms left out): where "
            "the time goes beyond the bare bot's.",
        ],
    )
