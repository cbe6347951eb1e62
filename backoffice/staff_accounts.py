"""Staff accounts, for administrators: the list, a new account, disabling one, and a new
password. The same operations as ``liangwang staff …``; each is on the staff audit trail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from backoffice.auth import Admin
from backoffice.deps import DbSession, State
from backoffice.responses import form_post
from liangwang.staff import accounts
from liangwang.staff.models import Role, StaffAccount, StaffAuditEntry
from liangwang.staff.passwords import WeakPassword

router = APIRouter()
AUDIT_SHOWN = 200  # the latest staff audit entries on the page


@router.get("/accounts", response_class=HTMLResponse)
def account_list(request: Request, state: State, session: DbSession, member: Admin) -> HTMLResponse:
    rows = session.scalars(select(StaffAccount).order_by(StaffAccount.username)).all()
    audit = session.scalars(
        select(StaffAuditEntry).order_by(StaffAuditEntry.id.desc()).limit(AUDIT_SHOWN)
    ).all()
    return state.page(
        request, "staff_accounts.html", {"accounts": rows, "audit": audit, "roles": list(Role)}
    )


def _done(session: DbSession, member: Admin, action: str, username: str) -> RedirectResponse:
    accounts.record(session, member.username, action, f"account {username}")
    return RedirectResponse("/staff/accounts", status_code=303)


@form_post(router, "/accounts", 400)
def account_create(
    session: DbSession,
    member: Admin,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    role: Annotated[Role, Form()],
    display_name: Annotated[str, Form(max_length=100)] = "",
) -> RedirectResponse:
    try:
        accounts.create(session, username, password, role, display_name)
    except (accounts.AccountError, WeakPassword) as exc:
        raise HTTPException(400, str(exc)) from exc
    return _done(session, member, "account_created", username)


@form_post(router, "/accounts/{username}/disable", 404)
def account_disable(username: str, session: DbSession, member: Admin) -> RedirectResponse:
    try:
        accounts.disable(session, username)
    except accounts.AccountError as exc:
        raise HTTPException(404, str(exc)) from exc
    return _done(session, member, "account_disabled", username)


@form_post(router, "/accounts/{username}/password", 400, 404)
def account_password(
    username: str,
    session: DbSession,
    member: Admin,
    password: Annotated[str, Form(max_length=256)],
) -> RedirectResponse:
    try:
        accounts.reset_password(session, username, password)
    except accounts.AccountError as exc:
        raise HTTPException(404, str(exc)) from exc
    except WeakPassword as exc:
        raise HTTPException(400, str(exc)) from exc
    return _done(session, member, "password_reset", username)
