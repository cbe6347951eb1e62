"""A route's database work is committed before its response leaves: a browser that follows
a 303 (sign in, claim, 派单) at once must find the change made. A real browser found the
opposite: FastAPI ends a request-scoped dependency after sending, so the sign-in's session
row was sometimes not there yet when the redirected page asked for it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from backoffice.app import create_staff_app
from liangwang.dialogue import RecordingEngine
from liangwang.settings import Settings
from tests.staff_desk import PASSWORD, add_member


async def _post_form(app: Any, path: str, form: dict[str, str], cookie: str) -> None:
    body = urlencode(form).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
            (b"cookie", cookie.encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            ORDER.append(f"response {message['status']}")

    await app(scope, receive, send)


ORDER: list[str] = []


@pytest.fixture
def commits_recorded() -> Any:
    def committed(_session: Session) -> None:
        ORDER.append("commit")

    ORDER.clear()
    event.listen(Session, "after_commit", committed)
    yield
    event.remove(Session, "after_commit", committed)


async def test_signing_in_is_committed_before_the_redirect_is_sent(
    db_url: str, commits_recorded: Any
) -> None:
    name = add_member(db_url)
    app = create_staff_app(Settings(database_url=db_url), RecordingEngine())
    form = {"username": name, "password": PASSWORD, "csrf": "t" * 43}
    ORDER.clear()  # the account's own commit is not the one in question
    await _post_form(app, "/staff/sign-in", form, cookie=f"lw_sign_in={'t' * 43}")
    assert "response 303" in ORDER
    assert ORDER.index("commit") < ORDER.index("response 303"), ORDER
