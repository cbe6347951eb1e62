"""Load: simulated citizens through Rasa's REST channel, beside a bare Rasa bot in one run.

Each citizen holds one conversation after another — a guide asked about, or a street lamp
reported and filed — sending a turn, waiting for the reply, then thinking for an
exponentially distributed time (mean 1 s) before the next: 20 citizens offer about 20
turns a second when replies are instant. Loopback only, bounded in time.

The anchor is a bare Rasa 3.6 bot (benchmarks/bare_bot: four intents, rules only, no custom
actions, the in-memory tracker store, the assistant's tokenizer and classifier settings),
trained in the same run and put under the same load; each figure of the assistant is
quoted beside it.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from benchmarks.machine import rss_mib
from benchmarks.report import section
from benchmarks.stack import percentile
from liangwang.settings import PROJECT_ROOT, Settings
from ops.harness import free_port, make_stack
from ops.rasa_engine import rasa_bin, rasa_env

BARE_BOT = PROJECT_ROOT / "benchmarks" / "bare_bot"
CITIZENS = 20
THINK_MEAN_S = 1.0
DURATION_S = 120.0
TURN_TIMEOUT_S = 30.0
GUIDE = ["你好", "敬老卡怎么办", "要带什么材料", "在哪里办", "谢谢，再见"]
# A lamp at an address of its own per conversation (the same address would be offered as
# a possible duplicate instead of filed).
COMPLAINT = ["我要投诉，路灯坏了", "对", "杨浦区", "国和路{n}号", "跳过", "不留"]
# The scaled profile runs on the machine's PostgreSQL and Redis, in databases of its own.
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/5"


@dataclass
class Load:
    """What one run under load measured."""

    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    cpu_cores: float = 0.0
    peak_mib: float = 0.0

    @property
    def turns_per_s(self) -> float:
        return len(self.latencies) / self.seconds

    def ms(self, q: float) -> float:
        return 1000 * percentile(self.latencies, q) if self.latencies else float("nan")


def _conversations(rng: random.Random) -> Iterator[list[str]]:
    while True:
        if rng.random() < 0.5:
            yield GUIDE
        else:
            n = rng.randrange(1, 10_000)
            yield [turn.format(n=n) for turn in COMPLAINT]


async def _citizen(
    http: httpx.AsyncClient, url: str, seed: int, deadline: float, load: Load
) -> None:
    rng = random.Random(seed)
    for turns in _conversations(rng):
        sender = f"load-{uuid.uuid4().hex[:12]}"
        for said in turns:
            await asyncio.sleep(rng.expovariate(1 / THINK_MEAN_S))
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


def _cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of processes and their descendants so far."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    seen: set[int] = set()
    stack = list(pids)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        stack.extend(int(child) for child in children)
    return total


async def _drive(url: str, pid: int, duration_s: float) -> Load:
    load = Load(seconds=duration_s)
    deadline = time.monotonic() + duration_s
    limits = httpx.Limits(max_connections=CITIZENS)
    cpu_before = _cpu_seconds([pid])

    async def sample_memory() -> None:
        while time.monotonic() < deadline:
            load.peak_mib = max(load.peak_mib, rss_mib(pid))
            await asyncio.sleep(2)

    async with httpx.AsyncClient(timeout=TURN_TIMEOUT_S, limits=limits) as http:
        await asyncio.gather(
            sample_memory(),
            *(_citizen(http, url, seed, deadline, load) for seed in range(CITIZENS)),
        )
    load.cpu_cores = (_cpu_seconds([pid]) - cpu_before) / duration_s
    return load


def under_load(rasa_url: str, pid: int, duration_s: float = DURATION_S) -> Load:
    """Simulated citizens against a running Rasa REST channel; ``pid`` is the process whose
    tree is served by it (for CPU and memory)."""
    return asyncio.run(_drive(f"{rasa_url}/webhooks/rest/webhook", pid, duration_s))


@contextmanager
def bare_rasa(folder: Path) -> Iterator[tuple[str, int]]:
    """The bare bot trained into ``folder`` and served on a free loopback port."""
    rasa = str(rasa_bin(Settings()))
    folder.mkdir(parents=True, exist_ok=True)
    # Rasa's own environment (quiet TensorFlow, no telemetry, caches in the folder).
    quiet = rasa_env(Settings(data_dir=folder))
    files = ("config.yml", "domain.yml", "data.yml")
    config, domain, data = (str(BARE_BOT / name) for name in files)
    subprocess.run(
        [rasa, "train", "--config", config, "--domain", domain, "--data", data,
         "--out", str(folder), "--fixed-model-name", "bare"],
        check=True, cwd=folder, env=quiet, capture_output=True,
    )  # fmt: skip
    port = free_port()
    proc = subprocess.Popen(
        [rasa, "run", "--model", str(folder / "bare.tar.gz"), "--interface", "127.0.0.1",
         "--port", str(port), "--credentials", str(BARE_BOT / "credentials.yml")],
        cwd=folder, env=quiet, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, proc)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _wait_until_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the bare Rasa bot did not start")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError("the bare Rasa bot did not answer in 300 s")


def _row(
    name: str,
    load: Load,
    anchor: Load | None,
    target: str = "≥ 1× throughput, p95 ≤ 1×, 0 errors",
) -> tuple[str, str, str]:
    figures = (
        f"{load.turns_per_s:.1f} turns/s · p50 {load.ms(0.5):.0f} ms · "
        f"p95 {load.ms(0.95):.0f} ms · p99 {load.ms(0.99):.0f} ms · "
        f"{load.errors} errors · {load.cpu_cores:.2f} cores · {load.peak_mib:.0f} MiB"
    )
    if anchor is None:
        return (name, figures, "anchor")
    ratio = (
        f"{load.turns_per_s / anchor.turns_per_s:.2f}× throughput, "
        f"p95 {load.ms(0.95) / anchor.ms(0.95):.2f}×"
    )
    return (name, f"{figures} ({ratio})", target)


@contextmanager
def postgres_database(server: str = POSTGRES) -> Iterator[str]:
    """A database of its own on the running PostgreSQL, dropped afterwards."""
    name = f"lw_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{server}/{name}"
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _assistant(folder: Path, scaled: bool) -> Load:
    with postgres_database() as ours, postgres_database() as tracker, postgres_database() as events:
        stack = make_stack(folder)
        if scaled:
            stack.env.update(
                LIANGWANG_PROFILE="scaled",
                LIANGWANG_DATABASE_URL=ours,
                LIANGWANG_TRACKER_STORE_URL=tracker,
                LIANGWANG_EVENT_BROKER_URL=events,
                LIANGWANG_LOCK_STORE_URL=REDIS,
            )
        stack.start()
        try:
            assert stack.proc is not None
            return under_load(stack.rasa_url, stack.proc.pid)
        finally:
            stack.stop()


def run() -> list[str]:
    with tempfile.TemporaryDirectory(prefix="lw-load-") as tmp:
        folder = Path(tmp)
        with bare_rasa(folder / "bare") as (url, pid):
            anchor = under_load(url, pid)
        embedded = _assistant(folder / "embedded", scaled=False)
        scaled = _assistant(folder / "scaled", scaled=True)
    rows = [
        _row("bare Rasa 3.6 bot (4 intents, rules, in-memory tracker)", anchor, None),
        _row("the assistant, embedded default (SQLite, one Rasa)", embedded, anchor),
        _row(
            "the assistant, scaled profile (PostgreSQL, Redis locks, 2 Rasa + 2 action "
            "servers behind HAProxy, on the same 2 cores)",
            scaled,
            anchor,
            target="≥ 1.5× throughput, p95 ≤ 1×, 0 errors",
        ),
    ]
    return section(
        "## Load: simulated citizens through the REST channel",
        rows,
        intro=[
            f"{CITIZENS} citizens, each a conversation after another (half a guide asked "
            "about, half a street lamp reported and filed), a reply awaited, then an "
            f"exponential think time (mean {THINK_MEAN_S:.0f} s); {DURATION_S:.0f} s per "
            "setup, one after the other on the same machine (the scaled profile on the "
            "machine's own PostgreSQL and Redis). CPU: cores used on average by "
            "the setup's processes; memory: their peak resident size. In brackets: the ratio "
            "to the bare bot.",
        ],
    )
