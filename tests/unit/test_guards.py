"""The web app answers only for its own host names, reads no body over its limit, and
slows down an address or a conversation that asks too often."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from backoffice.app import create_citizen_app
from liangwang.conversation import BotMessage
from liangwang.dialogue import RecordingEngine
from liangwang.rate_limit import MAX_TRACKED, RateLimit
from liangwang.settings import Settings


def app_client(db_url: str, **settings: object) -> TestClient:
    engine = RecordingEngine(lambda turn: [BotMessage("好的")])
    return TestClient(create_citizen_app(Settings(database_url=db_url, **settings), engine))  # type: ignore[arg-type]


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    with app_client(db_url, max_request_bytes=2048, rate_limit_per_conversation=3) as c:
        yield c


def say(client: TestClient, text: str, conversation: str = "conversation-1") -> int:
    reply = client.post("/api/chat", json={"conversation_id": conversation, "text": text})
    return reply.status_code


def test_another_host_name_is_refused(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    rebound = client.get("/healthz", headers={"Host": "evil.example"})
    assert rebound.status_code == 400


def test_a_body_over_the_limit_is_refused_whether_announced_or_streamed(
    client: TestClient,
) -> None:
    big = '{"conversation_id": "conversation-1", "text": "' + "长" * 2000 + '"}'
    announced = client.post("/api/chat", content=big.encode())
    assert announced.status_code == 413 and "太大" in announced.text

    def chunks() -> Iterator[bytes]:
        data = big.encode()
        for i in range(0, len(data), 500):
            yield data[i : i + 500]

    streamed = client.post("/api/chat", content=chunks())  # no Content-Length
    assert streamed.status_code == 413


def test_a_conversation_that_asks_too_often_is_asked_to_slow_down(client: TestClient) -> None:
    # 3 a minute, one at once: the second message right away waits.
    assert [say(client, f"又一句{n}", "conversation-2") for n in range(3)] == [200, 429, 429]
    slowed = client.post("/api/chat", json={"conversation_id": "conversation-2", "text": "喂"})
    assert slowed.status_code == 429 and "稍等" in slowed.text
    assert int(slowed.headers["Retry-After"]) >= 1
    assert say(client, "另一个人", "conversation-3") == 200  # others go on


def test_an_address_that_searches_too_often_is_asked_to_slow_down(db_url: str) -> None:
    with app_client(db_url, rate_limit_per_address=3) as c:
        statuses = [
            c.get("/api/catalog/search", params={"q": "敬老卡"}).status_code for _ in range(4)
        ]
    assert statuses[0] != 429 and statuses[-1] == 429


def test_buckets_refill_and_the_number_kept_is_bounded() -> None:
    now = [0.0]
    limit = RateLimit(per_minute=60, burst=2, clock=lambda: now[0])
    assert [limit.wait_s("a") for _ in range(3)] == [0.0, 0.0, 1.0]
    now[0] += 1.0
    assert limit.wait_s("a") == 0.0  # a second later, one more
    for n in range(MAX_TRACKED + 50):
        limit.wait_s(f"address-{n}")
    assert limit.tracked == MAX_TRACKED


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"conversation_id": "conversation-9", "text": ""}', 422),
        ('{"conversation_id": "conversation-9", "text": "\\u0000\\u0007 "}', 400),
        ('{"conversation_id": "conversation-9", "text": "\\u0000\\u0007\\u001b[31m路灯"}', 200),
        ('{"conversation_id": "conversation-9", "text": "路灯坏了😡🔥💡 lamp ランプ 가로등"}', 200),
        ('{"conversation_id": "conversation-9", "text": "' + "长" * 40_000 + '"}', 413),
        ('{"conversation_id": "../../etc", "text": "你好"}', 422),
        ("not json at all", 422),
    ],
)
def test_the_chat_answers_hostile_text_clearly_and_never_fails(
    db_url: str, body: str, expected: int
) -> None:
    with app_client(db_url) as c:
        reply = c.post(
            "/api/chat", content=body.encode(), headers={"content-type": "application/json"}
        )
    assert reply.status_code == expected, reply.text


def test_a_lone_surrogate_is_refused_clearly_not_a_crash(db_url: str) -> None:
    engine = RecordingEngine(lambda turn: [BotMessage("好的")])
    with TestClient(create_citizen_app(Settings(database_url=db_url), engine)) as c:
        # "\\ud800" in the JSON is a lone surrogate: not text. The 422 quotes it back, and
        # UTF-8 cannot encode it: that 422 was a 500 before its answer was ASCII-escaped.
        reply = c.post(
            "/api/chat",
            content=b'{"conversation_id": "conversation-9", "text": "\\ud800\\u8def"}',
            headers={"content-type": "application/json"},
        )
    assert reply.status_code == 422 and reply.json()["detail"][0]["loc"] == ["body", "text"]
    assert engine.turns == []


def test_invalid_utf8_is_refused_not_a_crash(db_url: str) -> None:
    with app_client(db_url) as c:
        reply = c.post(
            "/api/chat",
            content=b'{"conversation_id": "conversation-9", "text": "\xff\xfe\xfd"}',
            headers={"content-type": "application/json"},
        )
    assert reply.status_code in (400, 422)


def test_the_web_takes_a_forwarded_address_only_from_our_proxies() -> None:
    from ops.stack import web_spec

    argv = web_spec(Settings(trusted_proxies="10.0.0.7,10.0.0.8")).argv
    assert "--proxy-headers" in argv
    assert argv[argv.index("--forwarded-allow-ips") + 1] == "10.0.0.7,10.0.0.8"
