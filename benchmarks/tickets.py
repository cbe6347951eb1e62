"""一网统管 benchmarks: filing latency through the whole stack, and 1,000 tickets filed
concurrently by 20 clients (Open311, with retries) with none lost or duplicated."""

from __future__ import annotations

import re
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx

from benchmarks.report import section
from benchmarks.stack import percentile
from liangwang.complaints import tickets
from liangwang.db import sessions_for, unit_of_work
from ops.harness import make_stack

CONVERSATIONS = 30
TICKETS = 1000
CLIENTS = 20
KEY = "bench-key"
# Each conversation reports a lamp at its own address (国和路 100号, 101号, …): the same
# address every time would turn every conversation after the first into a 并单 offer
# (a possible duplicate) instead of a filing.
TURNS = ["我要投诉，路灯坏了", "对", "杨浦区", "国和路{n}号", "跳过", "不留"]


def _file_concurrently(web_url: str) -> tuple[int, int, int, float]:
    """Returns (accepted, distinct numbers, retries, seconds)."""

    def client(worker: int) -> list[str]:
        numbers = []
        with httpx.Client(base_url=web_url, timeout=60) as http:
            for i in range(TICKETS // CLIENTS):
                key = f"{worker}-{i}-{uuid.uuid4().hex}"
                data = {
                    "api_key": KEY,
                    "service_code": "garbage",
                    "description": f"垃圾 {key}",
                    "address_string": f"普陀区曹杨路{worker}弄{i}号",
                }
                tries = 2 if i % 10 == 0 else 1  # every tenth request is sent twice (a retry)
                for _ in range(tries):
                    reply = http.post(
                        "/open311/v2/requests.json", data=data, headers={"Idempotency-Key": key}
                    )
                    reply.raise_for_status()
                numbers.append(reply.json()[0]["service_request_id"])
        return numbers

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = [n for batch in pool.map(client, range(CLIENTS)) for n in batch]
    elapsed = time.perf_counter() - started
    return len(results), len(set(results)), TICKETS // 10, elapsed


def run() -> list[str]:
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="lw-bench-tickets-") as tmp:
        stack = make_stack(Path(tmp) / "data")
        stack.env["LIANGWANG_OPEN311_API_KEYS"] = KEY
        stack.start()
        try:
            stored_ms, round_trip_ms = [], []
            sessions = sessions_for(f"sqlite:///{stack.data_dir / 'liangwang.db'}")
            for n in range(CONVERSATIONS):
                cid = f"web-bench{uuid.uuid4().hex[:10]}"
                for text in TURNS:
                    stack.say(cid, text.format(n=100 + n))
                sent_at = datetime.now(UTC)
                t0 = time.perf_counter()
                reply = stack.say(cid, "对")  # the last turn: read-back confirmed → filed
                round_trip_ms.append((time.perf_counter() - t0) * 1000)
                match = re.search(r"编号是 (\d{3}) (\d{3})", str(reply))
                assert match, reply
                with unit_of_work(sessions) as session:
                    ticket = tickets.by_number(session, match.group(1) + match.group(2))
                    assert ticket is not None
                    stored_at = ticket.requested_at.replace(tzinfo=UTC)
                stored_ms.append((stored_at - sent_at).total_seconds() * 1000)
            rows.append(
                (
                    f"filing latency p50 (last user turn sent → ticket stored, {CONVERSATIONS} "
                    "conversations)",
                    f"{statistics.median(stored_ms):.0f} ms",
                    "—",
                )
            )
            rows.append(("filing latency p95", f"{percentile(stored_ms, 0.95):.0f} ms", "≤ 150 ms"))
            rows.append(
                (
                    "whole last turn incl. the reply (p50 / p95)",
                    f"{statistics.median(round_trip_ms):.0f} ms / "
                    f"{percentile(round_trip_ms, 0.95):.0f} ms",
                    "—",
                )
            )
            accepted, distinct, retries, seconds = _file_concurrently(stack.web_url)
            stored = httpx.get(
                f"{stack.web_url}/open311/v2/requests.json",
                params={"service_code": "garbage"},
                timeout=60,
            ).json()
            rows.append(
                (
                    f"{TICKETS} tickets by {CLIENTS} concurrent clients ({retries} retried)",
                    f"{accepted} accepted, {distinct} distinct, {len(stored)} stored, "
                    f"{seconds:.1f} s",
                    "0 lost, 0 duplicated",
                )
            )
        finally:
            stack.stop()
    return section("## 一网统管: filing", rows)
