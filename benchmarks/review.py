"""Conversation review at city scale: 100,000 stored turns (10,000 conversations of every
channel) in the embedded database, searched in Chinese and filtered through the staff app
signed in as a reviewer; the city's dashboard over the same data. Anchors measured in the
same run: the same requests on 1,000 turns (does a page cost grow with the table?) and
the cheapest staff page, one conversation's."""

from __future__ import annotations

import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert

from backoffice.app import create_staff_app
from benchmarks.report import section
from benchmarks.stack import percentile
from benchmarks.staff_desk import timed_pages
from liangwang.db import migrate, sessions_for, unit_of_work
from liangwang.review import segment
from liangwang.review.models import ReviewConversation, ReviewTurn
from liangwang.settings import Settings
from liangwang.staff import accounts
from liangwang.staff.models import Role
from ops.staff_client import StaffBrowser

CITY = 100_000
SMALL = 1_000
TURNS_PER_CONVERSATION = 10
REQUESTS = 100  # per measure
LIST_TARGET_MS, DASHBOARD_TARGET_MS = 200, 500
PASSWORD = "bench-password-1"
SAID = [
    "小区门口的路灯坏了，晚上一片黑", "我想办张敬老卡", "社保卡丢了怎么补办", "居住证要带什么材料",
    "楼下饭店半夜还很吵", "窗口让我跑了三趟还没办成", "网上预约一直进不去", "转人工",
    "我上次投诉的怎么样了", "井盖没了很危险", "异地就医备案怎么弄", "垃圾好几天没人收",
]  # fmt: skip
ANSWERED = [
    "好的，请问在哪个区？",
    "上海市敬老卡申领。",
    "是路灯的问题，对吗？",
    "好的，马上帮您转人工。",
]
LISTS = [
    "", "channel=phone", "fell_back=true", "handed_over=true&channel=web",
    "low_confidence=true", "not_reviewed=true&since=2026-11-01", "has_ticket=true",
]  # fmt: skip
SEARCHES = ["路灯", "敬老卡", "社保卡 补办", "噪音", "预约", "井盖 危险"]


def _fill(db_url: str, turns: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    now = datetime(2026, 11, 30, tzinfo=UTC)
    conversations: list[dict[str, object]] = []
    rows: list[dict[str, object]] = []
    words = {text: segment.indexed(text) for text in [*SAID, *ANSWERED]}
    for n in range(turns // TURNS_PER_CONVERSATION):
        channel = rng.choice(["web", "telegram", "phone"])
        cid = f"{channel}-{n}" if channel != "phone" else f"phone:1380000{n:04d}"
        started = now - timedelta(minutes=rng.randrange(0, 90 * 24 * 60))
        lowest = 1.0
        for k in range(TURNS_PER_CONVERSATION):
            user = k % 2 == 0
            text = rng.choice(SAID if user else ANSWERED)
            confidence = rng.uniform(0.2, 1.0) if user else None
            lowest = min(lowest, confidence or 1.0)
            rows.append(
                {
                    "event_id": len(rows) + 1,
                    "conversation_id": cid,
                    "at": started + timedelta(seconds=10 * k),
                    "kind": "user" if user else "bot",
                    "text": text,
                    "words": words[text],
                    "detail": "",
                    "intent": rng.choice(["report_problem", "ask_service", "nlu_fallback"])
                    if user
                    else None,
                    "confidence": confidence,
                }
            )
        conversations.append(
            {
                "conversation_id": cid,
                "channel": channel,
                "started_at": started,
                "last_at": started + timedelta(minutes=2),
                "citizen_turns": TURNS_PER_CONVERSATION // 2,
                "fell_back": rng.random() < 0.2,
                "handed_over": rng.random() < 0.1,
                "lowest_confidence": lowest,
                "tags": "",
            }
        )
    with unit_of_work(sessions_for(db_url)) as s:
        for start in range(0, len(rows), 5000):
            s.execute(insert(ReviewTurn), rows[start : start + 5000])
        s.execute(insert(ReviewConversation), conversations)
        accounts.create(s, "bench", PASSWORD, Role.reviewer)


def _measure(folder: Path, turns: int) -> dict[str, list[float]]:
    db_url = f"sqlite:///{folder / f'review-{turns}.db'}"
    migrate(db_url)
    _fill(db_url, turns)
    app = create_staff_app(Settings(database_url=db_url, data_dir=folder / f"var-{turns}"))
    found: dict[str, list[float]] = {}
    with TestClient(app, base_url="http://127.0.0.1") as client:
        member = StaffBrowser.sign_in(client, "bench", PASSWORD)
        lists = [f"/staff/conversations?{LISTS[i % len(LISTS)]}" for i in range(REQUESTS)]
        searches = [
            f"/staff/conversations?q={SEARCHES[i % len(SEARCHES)]}" for i in range(REQUESTS)
        ]
        dashboards = ["/staff/dashboard?since=2026-09-01&until=2026-11-30"] * (REQUESTS // 4)
        timed_pages(member, [*lists[:10], *searches[:10], dashboards[0]])  # warm
        found["list"] = timed_pages(member, lists)
        found["search"] = timed_pages(member, searches)
        found["dashboard"] = timed_pages(member, dashboards)
        found["one"] = timed_pages(
            member, [f"/staff/conversations/{1 + i}" for i in range(REQUESTS)]
        )
    return found


def _ms(values: list[float]) -> str:
    return f"{percentile(values, 0.5):.0f} ms / {percentile(values, 0.95):.0f} ms"


def run() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        city = _measure(folder, CITY)
        small = _measure(folder, SMALL)
    p95 = {name: percentile(values, 0.95) for name, values in city.items()}
    small_p95 = {name: percentile(values, 0.95) for name, values in small.items()}
    rows = []
    for name, label, target in (
        ("list", "conversation list, 7 filter mixes", LIST_TARGET_MS),
        ("search", "Chinese full-text search, 6 queries", LIST_TARGET_MS),
        ("dashboard", "dashboard over 3 months", DASHBOARD_TARGET_MS),
    ):
        ok = "✓" if p95[name] <= target else "✗"
        rows.append((f"{label}, {CITY:,} turns: p50 / p95", f"{_ms(city[name])} {ok}",
                     f"p95 ≤ {target} ms"))  # fmt: skip
        rows.append((f"anchor: the same on {SMALL:,} turns: p50 / p95",
                     f"{_ms(small[name])} ({CITY:,} costs {p95[name] / small_p95[name]:.2f}×)",
                     ""))  # fmt: skip
    rows.append((f"anchor: one conversation's page, {CITY:,} turns: p50 / p95",
                 f"{_ms(city['one'])} (the search costs {p95['search'] / p95['one']:.2f}×)",
                 ""))  # fmt: skip
    return section(
        "## Conversation review",
        rows,
        intro=[
            f"{REQUESTS} page requests per measure ({REQUESTS // 4} for the dashboard) through "
            "the staff app (FastAPI, signed in as a reviewer, SQLite embedded default with "
            f"FTS5), {CITY // TURNS_PER_CONVERSATION:,} conversations of "
            f"{TURNS_PER_CONVERSATION} turns, 50 a page, newest first.",
        ],
    )
