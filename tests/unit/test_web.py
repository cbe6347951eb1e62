"""Web app through HTTP with a recording dialogue engine (the engine is the system's edge)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from backoffice.app import create_citizen_app, create_staff_app
from liangwang.conversation import BotMessage
from liangwang.db import unit_of_work
from liangwang.dialogue import DialogueError, RecordingEngine, UserTurn
from liangwang.handoff import request_handoff
from liangwang.settings import Settings
from liangwang.staff.models import Role
from ops.staff_client import StaffBrowser, csrf_in
from tests.staff_desk import signed_in


@pytest.fixture
def engine() -> RecordingEngine:
    return RecordingEngine(
        lambda turn: [BotMessage("您好！", [{"title": "转人工", "payload": "/handoff"}])]
    )


@pytest.fixture
def client(db_url: str, engine: RecordingEngine) -> Iterator[TestClient]:
    settings = Settings(database_url=db_url, max_message_chars=50)
    with TestClient(create_citizen_app(settings, engine)) as c:
        yield c


@pytest.fixture
def staff(db_url: str) -> Iterator[StaffBrowser]:
    app = create_staff_app(Settings(database_url=db_url), RecordingEngine())
    with signed_in(app, db_url, Role.dispatcher, "李四") as member:
        yield member


def test_staff_pages_and_citizen_pages_are_on_separate_listeners(
    client: TestClient, staff: StaffBrowser
) -> None:
    # The citizen web may face the internet: nothing of the back office answers on it.
    for path in ("/staff/", "/staff/tickets", "/staff/calls", "/staff/tickets/1/close"):
        assert client.get(path).status_code == 404
        assert client.post(path, data={"staff": "x"}).status_code in (404, 405)
    assert staff.get("/staff/").status_code == 200
    assert staff.client.get("/", follow_redirects=False).headers["location"] == "/staff/"
    # …and the staff listener takes no citizen traffic.
    assert (
        staff.client.post(
            "/api/chat", json={"conversation_id": "abcdefgh12", "text": "你好"}
        ).status_code
        == 404
    )
    assert client.get("/healthz").status_code == staff.get("/healthz").status_code == 200


def test_health_names_each_part_and_writes_to_the_database(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    from fastapi import FastAPI

    from liangwang.health import Heartbeat
    from tests.fakes.server import ServedApp

    engine_stand_in = FastAPI()
    engine_stand_in.get("/")(lambda: "Hello from Rasa")
    engine_stand_in.get("/health")(lambda: {"status": "ok"})
    with ServedApp(engine_stand_in) as served:
        both_up = Settings(database_url=db_url, rasa_port=served.port, action_port=served.port)
        with TestClient(create_citizen_app(both_up, RecordingEngine())) as c:
            reply = c.get("/healthz")
    assert reply.status_code == 200
    assert reply.json() == {
        "status": "ok",
        "parts": {"database": "ok", "rasa": "ok", "actions": "ok"},
    }
    with sessions() as s:
        assert s.get(Heartbeat, 1) is not None  # written, not only read
    # Rasa and the action server gone: this process still serves, and says what is down.
    with TestClient(create_citizen_app(Settings(database_url=db_url), RecordingEngine())) as c:
        reply = c.get("/healthz")
    assert reply.status_code == 200 and reply.json()["status"] == "degraded"
    assert reply.json()["parts"]["actions"].startswith("unreachable")


def test_health_shows_whether_the_redis_lock_store_answers(db_url: str) -> None:
    from fastapi import FastAPI

    from ops.harness import free_port
    from tests.fakes.server import ServedApp

    engine_stand_in = FastAPI()
    engine_stand_in.get("/")(lambda: "Hello from Rasa")
    engine_stand_in.get("/health")(lambda: {"status": "ok"})
    with ServedApp(engine_stand_in) as served:
        ports = {"rasa_port": served.port, "action_port": served.port}
        for locks, status, said in (
            ("redis://127.0.0.1:6379/4", "ok", "ok"),  # the machine's Redis
            (f"redis://127.0.0.1:{free_port()}/0", "degraded", "unreachable: ConnectionError"),
        ):
            settings = Settings(database_url=db_url, lock_store_url=locks, **ports)
            with TestClient(create_citizen_app(settings, RecordingEngine())) as c:
                reply = c.get("/healthz")
            # Redis gone: conversations cannot take their lock, and /healthz says so while
            # this process goes on serving (the catalog, the staff pages).
            assert reply.status_code == 200
            assert reply.json()["status"] == status
            assert reply.json()["parts"]["locks"] == said


def test_health_is_red_when_the_database_takes_no_writes(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker as make_sessions

    import backoffice.health
    from liangwang.health import database_writable

    read_only = create_engine(f"sqlite:///file:{tmp_path / 'test.db'}?mode=ro&uri=true")
    why = database_writable(make_sessions(read_only))
    assert why != "ok" and "readonly" in why.lower()
    monkeypatch.setattr(backoffice.health, "database_writable", lambda _sessions: why)
    with TestClient(create_citizen_app(Settings(database_url=db_url), RecordingEngine())) as c:
        reply = c.get("/healthz")
    assert reply.status_code == 503 and reply.json()["parts"]["database"] == why


def test_a_database_gone_mid_request_is_said_plainly_never_a_bare_500() -> None:
    from ops.harness import free_port

    gone = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    settings = Settings(database_url=gone)
    with TestClient(create_citizen_app(settings, RecordingEngine())) as c:
        reply = c.post("/api/chat", json={"conversation_id": "abcdefgh12", "text": "你好"})
    assert reply.status_code == 503
    assert "请稍后再发一次" in reply.json()["detail"] and "Traceback" not in reply.text
    with TestClient(create_staff_app(settings, RecordingEngine())) as c:
        form = c.get("/staff/sign-in")
        reply = c.post(
            "/staff/sign-in",
            data={"username": "a", "password": "b", "csrf": csrf_in(form.text)},
        )
    assert reply.status_code == 503 and "数据库暂时不可用" in reply.json()["detail"]


def test_chat_page_is_elder_friendly(client: TestClient) -> None:
    page = client.get("/").text
    assert 'lang="zh-CN"' in page and "转人工" in page and "大字" in page
    css = client.get("/static/chat.css").text
    assert "--size: 20px" in css and "--size: 30px" in css and "min-height: 60px" in css


def test_chat_relays_to_the_engine_with_a_web_conversation_id(
    client: TestClient, engine: RecordingEngine
) -> None:
    reply = client.post("/api/chat", json={"conversation_id": "abcdefgh12", "text": " 你好 "})
    assert reply.status_code == 200
    assert reply.json() == {
        "messages": [
            {
                "text": "您好！",
                "buttons": [{"title": "转人工", "payload": "/handoff"}],
                "speech": [],  # no speech engines here: nothing to hear
            }
        ],
        "with_staff": False,
    }
    assert engine.turns == [UserTurn("web-abcdefgh12", "你好", "web")]


def test_too_long_message_is_refused_with_a_clear_chinese_error(
    client: TestClient, engine: RecordingEngine
) -> None:
    reply = client.post("/api/chat", json={"conversation_id": "abcdefgh12", "text": "长" * 51})
    assert reply.status_code == 413
    assert "最多 50 个字" in reply.json()["detail"]
    assert engine.turns == []


def test_blank_message_is_refused(client: TestClient, engine: RecordingEngine) -> None:
    for blank in ("   ", "\x1f", "\x00\x07 \u3000"):
        reply = client.post("/api/chat", json={"conversation_id": "abcdefgh12", "text": blank})
        # Was a 422 with a string detail, where the schema documents 422 as FastAPI's
        # validation errors (found by the schema-driven fuzzing).
        assert reply.status_code == 400 and reply.json() == {"detail": "请说点什么再发送。"}
    assert engine.turns == []


def down(turn: UserTurn) -> list[BotMessage]:
    raise DialogueError("connection refused")


def silent(turn: UserTurn) -> list[BotMessage]:
    return []  # what Rasa answers when a custom action fails


@pytest.mark.parametrize("failure", [down, silent])
def test_engine_down_or_silent_says_so_and_keeps_the_text(
    db_url: str, failure: Callable[[UserTurn], list[BotMessage]]
) -> None:
    with TestClient(
        create_citizen_app(Settings(database_url=db_url), RecordingEngine(failure))
    ) as c:
        reply = c.post("/api/chat", json={"conversation_id": "abcdefgh12", "text": "你好"})
    assert reply.status_code == 503
    assert "输入框" in reply.json()["detail"]


def test_staff_see_conversations_waiting_for_a_person(
    staff: StaffBrowser, sessions: sessionmaker[Session]
) -> None:
    with unit_of_work(sessions) as s:
        request_handoff(
            s, conversation_id="telegram-42", channel="telegram", last_user_text="路灯坏了"
        )
    page = staff.get("/staff/").text
    assert "telegram-42" in page and "路灯坏了" in page


def test_staff_work_a_ticket_through_the_closed_loop(
    staff: StaffBrowser, sessions: sessionmaker[Session]
) -> None:
    from liangwang.complaints import tickets
    from liangwang.complaints.tickets import NewTicket

    with unit_of_work(sessions) as s:
        number = tickets.file_ticket(
            s,
            NewTicket(category="manhole", description="井盖没了", channel="web", district="徐汇"),
            actor="web",
        ).number
    assert number in staff.get("/staff/tickets").text
    steps = [
        ("dispatch", {"department": "徐汇区排水管理所"}),
        ("start", {}),
        ("answer", {"note": "已补装井盖"}),
        ("close", {}),
    ]
    for action, extra in steps:
        reply = staff.post(f"/staff/tickets/{number}/{action}", **extra)
        assert reply.status_code == 303
    page = staff.get(f"/staff/tickets/{number}").text
    assert "办结" in page and "已补装井盖" in page and "徐汇区排水管理所" in page
    assert page.split('id="audit"')[1].count("李四") == 4  # each step under the account
    again = staff.post(f"/staff/tickets/{number}/start")
    assert again.status_code == 409
    assert staff.get("/staff/tickets/999999").status_code == 404


def test_a_kept_photo_is_shown_to_staff_and_never_published(
    client: TestClient, staff: StaffBrowser, sessions: sessionmaker[Session]
) -> None:
    from liangwang.complaints import tickets
    from liangwang.complaints.tickets import NewTicket
    from liangwang.photos import PhotoStore

    settings = Settings()
    media = PhotoStore(settings.photos_dir, settings.max_photo_bytes).save(b"\xff\xd8jpeg")
    with unit_of_work(sessions) as s:
        number = tickets.file_ticket(
            s,
            NewTicket(
                category="streetlight",
                description="路灯坏了",
                channel="telegram",
                district="杨浦",
                identity="telegram-42",
                media_url=media,
            ),
            actor="telegram-42",
        ).number
    assert f'src="/staff/{media}"' in staff.get(f"/staff/tickets/{number}").text
    photo = staff.get(f"/staff/{media}")
    assert photo.status_code == 200 and photo.content == b"\xff\xd8jpeg"
    assert staff.get("/staff/photos/..%2F..%2Ftest.db").status_code == 404
    [published] = client.get(f"/open311/v2/requests/{number}.json").json()
    assert published["media_url"] is None


def test_a_shared_location_reaches_the_dialogue_as_on_telegram(
    client: TestClient, engine: RecordingEngine
) -> None:
    where = {"lat": 31.2304, "long": 121.4737}
    body = {"conversation_id": "abcdefgh12", "text": "我的位置", "location": where}
    assert client.post("/api/chat", json=body).status_code == 200
    assert engine.turns[-1].metadata == {"location": where}
    nowhere = {**body, "location": {"lat": 91, "long": 0}}
    assert client.post("/api/chat", json=nowhere).status_code == 422
