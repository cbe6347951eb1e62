"""Staff sign-in, roles and audit (backoffice/auth.py, liangwang/staff/): every page needs
a signed-in account of the right role, every form its CSRF token; wrong passwords lock an
account, sessions end; what staff do is recorded under the account, never a form field."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session, sessionmaker

from backoffice.app import create_staff_app
from backoffice.auth import COOKIE
from liangwang.complaints import tickets
from liangwang.complaints.models import Status, Ticket
from liangwang.complaints.tickets import NewTicket
from liangwang.db import unit_of_work, utcnow
from liangwang.dialogue import RecordingEngine
from liangwang.settings import Settings
from liangwang.staff import accounts
from liangwang.staff.models import Role, StaffAccount, StaffAuditEntry, StaffSession
from ops.cli import main as cli
from ops.staff_client import SignInFailed, StaffBrowser, csrf_in
from tests.staff_desk import PASSWORD, add_member, signed_in


@pytest.fixture
def app(db_url: str) -> FastAPI:
    return create_staff_app(
        Settings(database_url=db_url, staff_max_failed_sign_ins=3), RecordingEngine()
    )


@pytest.fixture
def number(sessions: sessionmaker[Session]) -> str:
    with unit_of_work(sessions) as s:
        return tickets.file_ticket(
            s,
            NewTicket(
                category="streetlight",
                description="国和路100号3室门口路灯坏了，有事打13912345678",
                channel="phone",
                district="杨浦",
                address="国和路100号3室",
                identity="phone:13800138000",
                contact_phone="13912345678",
            ),
            actor="phone:13800138000",
        ).number


def _pages(app: FastAPI) -> Iterator[tuple[str, str]]:
    """Every staff route (method, path with its parameters filled in), sign-in aside."""
    for path, operations in app.openapi()["paths"].items():
        if not path.startswith("/staff/") or path.startswith("/staff/sign-"):
            continue
        filled = (
            path.replace("{number}", "123456")
            .replace("{action}", "close")
            .replace("{call_pk}", "1")
            .replace("{username}", "nobody")
            .replace("{folder}", "1")
            .replace("{name}", "x.wav")
        )
        for method in operations:
            yield method.upper(), filled


def test_every_staff_page_needs_a_signed_in_account(app: FastAPI) -> None:
    pages = list(_pages(app))
    assert len(pages) >= 12  # tickets, calls, recordings, photos, accounts, reveals…
    with TestClient(app) as anonymous:
        for method, path in pages:
            reply = anonymous.request(method, path, data={"csrf": "x", "staff": "冒名"})
            assert reply.status_code == 401, (method, path)
            assert 'action="/staff/sign-in"' in reply.text  # the sign-in page
        anonymous.cookies.set(COOKIE, "made-up")
        assert anonymous.get("/staff/").status_code == 401


@pytest.mark.parametrize(
    ("role", "allowed", "forbidden"),
    [
        (Role.reviewer, ["/staff/calls"], ["/staff/", "/staff/tickets", "/staff/accounts"]),
        (Role.dispatcher, ["/staff/", "/staff/tickets", "/staff/calls"], ["/staff/accounts"]),
        (Role.admin, ["/staff/", "/staff/tickets", "/staff/calls", "/staff/accounts"], []),
    ],
)
def test_each_role_reaches_its_pages_and_no_others(
    app: FastAPI, db_url: str, number: str, role: Role, allowed: list[str], forbidden: list[str]
) -> None:
    with signed_in(app, db_url, role) as member:
        for path in allowed:
            assert member.get(path).status_code == 200, path
        for path in forbidden:
            assert member.get(path).status_code == 403, path
        dispatch = member.post(f"/staff/tickets/{number}/dispatch", department="路灯所")
        assert dispatch.status_code == (403 if role == Role.reviewer else 303)
        made = member.post("/staff/accounts", username="x1", password="long-enough-1", role="admin")
        assert made.status_code == (303 if role == Role.admin else 403)


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    app: FastAPI, db_url: str, number: str, sessions: sessionmaker[Session]
) -> None:
    with signed_in(app, db_url, Role.dispatcher) as member:
        path = f"/staff/tickets/{number}/dispatch"
        assert member.client.post(path, data={"department": "所"}).status_code == 403
        wrong = member.client.post(path, data={"department": "所", "csrf": "x" * 43})
        assert wrong.status_code == 403
        with sessions() as s:
            assert s.scalars(select(Ticket.status)).one() == Status.received
        assert member.post(path, department="所").status_code == 303


def test_the_sign_in_form_needs_its_own_token(app: FastAPI, db_url: str) -> None:
    name = add_member(db_url, Role.dispatcher)
    with TestClient(app) as client:
        form = {"username": name, "password": PASSWORD}
        # A page elsewhere posting our sign-in form has neither the cookie nor the token.
        assert client.post("/staff/sign-in", data={**form, "csrf": "x"}).status_code == 403
        assert COOKIE not in client.cookies
        token = csrf_in(client.get("/staff/sign-in").text)
        done = client.post("/staff/sign-in", data={**form, "csrf": token}, follow_redirects=False)
        assert done.status_code == 303


def test_the_session_cookie_is_http_only_strict_and_secure_behind_tls(db_url: str) -> None:
    name = add_member(db_url, Role.reviewer)

    def cookies_set(behind_tls: bool, scheme: str) -> list[str]:
        settings = Settings(database_url=db_url, staff_behind_tls=behind_tls)
        app = create_staff_app(settings, RecordingEngine())
        with TestClient(app, base_url=f"{scheme}://testserver") as client:
            form = client.get("/staff/sign-in")
            data = {"username": name, "password": PASSWORD, "csrf": csrf_in(form.text)}
            done = client.post("/staff/sign-in", data=data, follow_redirects=False)
            return [*form.headers.get_list("set-cookie"), *done.headers.get_list("set-cookie")]

    plain = cookies_set(False, "http")
    [session] = [c for c in plain if c.startswith(f"{COOKIE}=")]
    assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/staff" in session
    assert all("Secure" not in c for c in plain)
    assert all("Secure" in c for c in cookies_set(False, "https") if "Max-Age=0" not in c)
    # Behind a TLS proxy the app sees plain HTTP, and still marks every cookie Secure (so
    # over plain HTTP the browser keeps it from us, and signing in cannot complete).
    assert all("Secure" in c for c in cookies_set(True, "http"))


def test_wrong_passwords_lock_the_account_for_a_while(
    app: FastAPI, db_url: str, sessions: sessionmaker[Session]
) -> None:
    name = add_member(db_url, Role.dispatcher)
    with TestClient(app) as client:
        for _ in range(3):  # staff_max_failed_sign_ins
            with pytest.raises(SignInFailed):
                StaffBrowser.sign_in(client, name, "not-the-password")
        # Locked: the right password no longer signs in, and the page says no more.
        with pytest.raises(SignInFailed, match="401"):
            StaffBrowser.sign_in(client, name, PASSWORD)
    with unit_of_work(sessions) as s:
        account = accounts.by_username(s, name)
        assert account is not None and account.locked_until is not None
        assert [e.action for e in s.scalars(select(StaffAuditEntry))] == [
            "locked_out",
            "sign_in_refused",
        ]
        account.locked_until = utcnow() - timedelta(seconds=1)  # the lockout has passed
    with TestClient(app) as client:
        StaffBrowser.sign_in(client, name, PASSWORD)


def test_sign_in_attempts_from_one_address_are_limited(app: FastAPI, db_url: str) -> None:
    with TestClient(app) as client:
        answers = []
        for attempt in range(7):
            token = csrf_in(client.get("/staff/sign-in").text)
            form = {"username": f"guess{attempt}", "password": "guess-guess", "csrf": token}
            answers.append(client.post("/staff/sign-in", data=form).status_code)
    assert answers[:5] == [401] * 5 and answers[-1] == 429


def test_sessions_end_when_idle_after_a_shift_and_on_sign_out(
    app: FastAPI, db_url: str, sessions: sessionmaker[Session]
) -> None:
    for late in ({"last_seen_at": timedelta(minutes=31)}, {"started_at": timedelta(hours=13)}):
        with signed_in(app, db_url, Role.reviewer) as member:
            assert member.get("/staff/calls").status_code == 200
            with unit_of_work(sessions) as s:
                for row in s.scalars(select(StaffSession)):
                    for column, ago in late.items():
                        setattr(row, column, utcnow() - ago)
            assert member.get("/staff/calls").status_code == 401
    with signed_in(app, db_url, Role.reviewer) as member:
        assert member.post("/staff/sign-out").status_code == 303
        assert member.get("/staff/calls").status_code == 401


def test_a_disabled_account_is_signed_out_and_cannot_sign_in(
    app: FastAPI, db_url: str, sessions: sessionmaker[Session]
) -> None:
    with signed_in(app, db_url, Role.dispatcher, "zhao") as member:
        with signed_in(app, db_url, Role.admin) as admin:
            assert admin.post("/staff/accounts/zhao/disable").status_code == 303
        assert member.get("/staff/").status_code == 401
        with pytest.raises(SignInFailed):
            StaffBrowser.sign_in(member.client, "zhao", PASSWORD)


def test_audit_rows_carry_the_signed_in_account_never_a_form_field(
    app: FastAPI, db_url: str, number: str, sessions: sessionmaker[Session]
) -> None:
    with signed_in(app, db_url, Role.dispatcher, "alice") as member:
        reply = member.post(f"/staff/tickets/{number}/dispatch", department="路灯所", staff="冒名")
        assert reply.status_code == 303
    with sessions() as s:
        ticket = s.scalars(select(Ticket)).one()
        assert [e.actor for e in ticket.events][-1] == "alice"


def test_personal_data_is_masked_until_revealed_and_revealing_is_audited(
    app: FastAPI, db_url: str, number: str, sessions: sessionmaker[Session]
) -> None:
    with signed_in(app, db_url, Role.dispatcher, "bob") as member:
        page = member.get(f"/staff/tickets/{number}").text
        assert "13912345678" not in page and "139****5678" in page
        assert "100号" not in page and "国和路****" in page
        assert "13800138000" not in page  # the filing identity on the audit trail
        with sessions() as s:
            assert (
                s.scalars(select(StaffAuditEntry).where(StaffAuditEntry.action == "reveal")).all()
                == []
            )
        revealed = member.post(f"/staff/tickets/{number}/reveal")
        assert revealed.status_code == 200
        assert "13912345678" in revealed.text and "国和路100号3室" in revealed.text
        assert "13912345678" not in member.get(f"/staff/tickets/{number}").text  # that view only
    with sessions() as s:
        [entry] = s.scalars(select(StaffAuditEntry).where(StaffAuditEntry.action == "reveal"))
        assert (entry.actor, entry.target) == ("bob", f"ticket {number}")


def test_the_staff_audit_trail_is_append_only_in_the_database(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    with unit_of_work(sessions) as s:
        accounts.record(s, "alice", "reveal", "ticket 1")
    for statement in ("UPDATE staff_audit SET actor = 'mallory'", "DELETE FROM staff_audit"):
        with pytest.raises(DatabaseError, match="append-only"), unit_of_work(sessions) as s:
            s.execute(text(statement))


def test_accounts_are_made_disabled_and_reset_from_the_command_line(
    db_url: str, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setenv("LIANGWANG_DATABASE_URL", db_url)
    monkeypatch.setattr("sys.stdin", io.StringIO("first-password-1\n"))
    assert cli(["staff", "create", "chen", "--role", "admin", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli(["staff", "reset-password", "chen", "--password-stdin"]) == 1  # too short
    monkeypatch.setattr("sys.stdin", io.StringIO("second-password-2\n"))
    assert cli(["staff", "reset-password", "chen", "--password-stdin"]) == 0
    with sessions() as s:
        account = s.scalars(select(StaffAccount)).one()
        assert account.role == Role.admin and account.password_hash.startswith("$argon2id$")
        assert "second-password-2" not in account.password_hash
        assert s.scalars(select(StaffAuditEntry.action)).all() == [
            "cli_create",
            "cli_reset-password",
        ]
    assert cli(["staff", "disable", "chen"]) == 0
    with sessions() as s:
        assert s.scalars(select(StaffAccount.disabled)).one() is True
    assert cli(["staff", "disable", "nobody"]) == 1
