"""The dispatchers' ticket queue at city scale: 100,000 tickets in the embedded database,
the queue page filtered and sorted by deadline, through the staff app signed in as a
dispatcher. Anchors measured in the same run: the same requests on 1,000 tickets (does a
page cost grow with the table?) and one ticket's page on 100,000 (the cheapest page)."""

from __future__ import annotations

import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert

from backoffice.app import create_staff_app
from benchmarks.report import section
from benchmarks.stack import percentile
from liangwang.complaints.categories import load_categories
from liangwang.complaints.models import Status, Ticket
from liangwang.db import migrate, sessions_for, unit_of_work
from liangwang.dialogue import RecordingEngine
from liangwang.districts import DISTRICTS
from liangwang.settings import Settings
from liangwang.staff import accounts
from liangwang.staff.models import Role
from ops.staff_client import StaffBrowser

CITY = 100_000
SMALL = 1_000
REQUESTS = 200  # per measure
TARGET_P95_MS = 200
PASSWORD = "bench-password-1"
DEPARTMENTS = [f"{d}城管执法局" for d in DISTRICTS] + [f"{d}绿化市容局" for d in DISTRICTS]
FILTERS = [
    "",
    "status=received&status=returned",
    "overdue=true",
    "category=streetlight&district=杨浦区",
    "department=静安区城管执法局",
    "channel=phone&status=dispatched",
    "rated=true",
    "since=2026-10-01&until=2026-10-31",
    "district=浦东新区&sort=newest",
    "status=processing&page=5",
]


def _fill(db_url: str, count: int, seed: int = 7) -> list[str]:
    """``count`` tickets of every kind, place, state and age; returns their numbers."""
    rng = random.Random(seed)
    categories = list(load_categories().by_code)
    now = datetime(2026, 11, 30, tzinfo=UTC)
    numbers = rng.sample(range(100_000, 1_000_000), count)
    rows = []
    for number in numbers:
        filed = now - timedelta(minutes=rng.randrange(0, 180 * 24 * 60))
        status = rng.choice(list(Status))
        rows.append(
            {
                "number": str(number),
                "token": uuid.uuid4().hex,
                "category": rng.choice(categories),
                "description": "市民反映的问题",
                "district": rng.choice(DISTRICTS),
                "channel": rng.choice(["phone", "web", "telegram", "open311"]),
                "status": status,
                "department": "" if status == Status.received else rng.choice(DEPARTMENTS),
                "requested_at": filed,
                "updated_at": filed,
                "expected_at": filed + timedelta(hours=rng.choice([24, 48, 72, 120])),
                "rating": rng.choice([None, None, None, 3, 4, 5]),
            }
        )
    sessions = sessions_for(db_url)
    with unit_of_work(sessions) as s:
        for start in range(0, len(rows), 5000):
            s.execute(insert(Ticket), rows[start : start + 5000])
        accounts.create(s, "bench", PASSWORD, Role.dispatcher)
    return [str(n) for n in numbers]


def timed_pages(member: StaffBrowser, paths: list[str]) -> list[float]:
    """Milliseconds each page took, asked for one after another (each must answer 200)."""
    took = []
    for path in paths:
        started = time.perf_counter()
        reply = member.get(path)
        took.append((time.perf_counter() - started) * 1000)
        assert reply.status_code == 200, (path, reply.status_code)
    return took


def _measure(folder: Path, count: int) -> tuple[list[float], list[float], int]:
    """(queue page ms, single ticket page ms, tickets) on ``count`` tickets."""
    db_url = f"sqlite:///{folder / f'desk-{count}.db'}"
    migrate(db_url)
    numbers = _fill(db_url, count)
    settings = Settings(database_url=db_url, data_dir=folder / f"var-{count}")
    app = create_staff_app(settings, RecordingEngine())
    with TestClient(app, base_url="http://127.0.0.1") as client:  # an allowed host
        member = StaffBrowser.sign_in(client, "bench", PASSWORD)
        queue = [f"/staff/tickets?{FILTERS[i % len(FILTERS)]}" for i in range(REQUESTS)]
        timed_pages(member, queue[: len(FILTERS)])  # warm: templates compiled, pages cached
        pages = timed_pages(member, queue)
        rng = random.Random(3)
        singles = timed_pages(
            member, [f"/staff/tickets/{rng.choice(numbers)}" for _ in range(REQUESTS)]
        )
    return pages, singles, len(numbers)


def run() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        city, single, rows = _measure(folder, CITY)
        small, _, _ = _measure(folder, SMALL)
    p95, small_p95, single_p95 = (percentile(v, 0.95) for v in (city, small, single))
    ok = "✓" if p95 <= TARGET_P95_MS else "✗"
    return section(
        "## Staff desk",
        [
            (
                f"ticket queue, {rows:,} tickets, 10 filter/sort mixes: p50 / p95",
                f"{percentile(city, 0.5):.0f} ms / {p95:.0f} ms {ok}",
                f"p95 ≤ {TARGET_P95_MS} ms",
            ),
            (
                f"anchor: the same requests on {SMALL:,} tickets: p50 / p95",
                f"{percentile(small, 0.5):.0f} ms / {small_p95:.0f} ms "
                f"(100,000 costs {p95 / small_p95:.2f}×)",
                "",
            ),
            (
                f"anchor: one ticket's page on {rows:,} tickets: p50 / p95",
                f"{percentile(single, 0.5):.0f} ms / {single_p95:.0f} ms "
                f"(the queue costs {p95 / single_p95:.2f}×)",
                "",
            ),
        ],
        intro=[
            f"{REQUESTS} page requests per measure through the staff app (FastAPI, signed in "
            "as a dispatcher, SQLite embedded default), 50 tickets a page, sorted by time "
            "left unless the mix says newest first.",
        ],
    )
