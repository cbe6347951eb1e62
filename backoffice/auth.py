"""Staff sign-in for the back office: the sign-in page, the session cookie, the role each
route needs, and the CSRF token every form carries.

- The cookie holds a random token (its hash is the session's key in the database): it is
  HttpOnly, SameSite=Strict, limited to /staff, and Secure behind TLS.
- A route declares the role it needs (``Reviewer``, ``Dispatcher``, ``Admin``): without a
  session the answer is 401 and the sign-in page; with too small a role, 403.
- A form's POST must carry the session's CSRF token (``csrf``), and the sign-in form a
  token matching its own cookie; otherwise 403 and nothing is done.
- Sign-in attempts are limited per address (429) and per account (locked after
  ``LIANGWANG_STAFF_MAX_FAILED_SIGN_INS`` wrong passwords in a row).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from backoffice.deps import DbSession, State
from backoffice.guards import client_address, refuse_if_limited
from backoffice.responses import form_post
from liangwang.staff import accounts
from liangwang.staff.accounts import SignInPolicy
from liangwang.staff.models import Role

COOKIE = "lw_staff"
SIGN_IN_COOKIE = "lw_sign_in"  # the sign-in form's own CSRF token
PATH = "/staff"


@dataclass(frozen=True)
class StaffMember:
    """The signed-in account, as routes see it."""

    username: str
    display_name: str
    role: Role
    csrf_token: str
    session_token: str


class SignInNeeded(Exception):
    """No live session: answered with the sign-in page (401)."""


def _member(request: Request, state: State, session: DbSession) -> StaffMember:
    token = request.cookies.get(COOKIE, "")
    found = accounts.current(session, token, SignInPolicy.from_settings(state.settings))
    if found is None:
        raise SignInNeeded
    member = StaffMember(
        username=found.account.username,
        display_name=found.account.display_name,
        role=Role(found.account.role),
        csrf_token=found.csrf_token,
        session_token=token,
    )
    request.state.staff = member  # for the pages' header (who is signed in)
    return member


def needs(role: Role) -> Callable[..., Awaitable[StaffMember]]:
    """A dependency: the signed-in member, if their role may do what ``role`` may."""

    async def check(
        request: Request, member: Annotated[StaffMember, Depends(_member)]
    ) -> StaffMember:
        if not member.role.may(role):
            raise HTTPException(403, f"this needs the {role} role")
        if request.method == "POST":
            form = await request.form()  # parsed once; the route's Form fields reuse it
            if not accounts.same_token(member.csrf_token, str(form.get("csrf", ""))):
                raise HTTPException(403, "the form's CSRF token is missing or wrong")
        return member

    return check


Reviewer = Annotated[StaffMember, Depends(needs(Role.reviewer))]
Dispatcher = Annotated[StaffMember, Depends(needs(Role.dispatcher))]
Admin = Annotated[StaffMember, Depends(needs(Role.admin))]

router = APIRouter()


def sign_in_page(
    request: Request, state: State, status: int = 200, failed: bool = False
) -> Response:
    token = secrets.token_urlsafe(32)
    page = state.page(request, "staff_sign_in.html", {"csrf": token, "failed": failed})
    page.status_code = status
    _set_cookie(page, request, state, SIGN_IN_COOKIE, token, max_age=3600)
    return page


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request, state: State) -> Response:
    return sign_in_page(request, state)


@form_post(router, "/sign-in", 401, 403, 429)
def sign_in(
    request: Request,
    state: State,
    session: DbSession,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf: Annotated[str, Form(max_length=100)],
) -> Response:
    if not accounts.same_token(request.cookies.get(SIGN_IN_COOKIE, ""), csrf) or not csrf:
        raise HTTPException(403, "the sign-in form's CSRF token is missing or wrong")
    refuse_if_limited(state.rate_limits.sign_in, client_address(request))
    policy = SignInPolicy.from_settings(state.settings)
    signed = accounts.sign_in(session, username, password, policy)
    if signed is None:
        return sign_in_page(request, state, status=401, failed=True)
    response = RedirectResponse(f"{PATH}/", status_code=303)
    lifetime = int(policy.lifetime.total_seconds())
    _set_cookie(response, request, state, COOKIE, signed.token, max_age=lifetime)
    response.delete_cookie(SIGN_IN_COOKIE, path=PATH)
    return response


@form_post(router, "/sign-out", 401, 403)
def sign_out(member: Reviewer, session: DbSession) -> Response:
    accounts.sign_out(session, member.session_token)
    accounts.record(session, member.username, "sign_out")
    response = RedirectResponse(f"{PATH}/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path=PATH)
    return response


def _set_cookie(
    response: Response, request: Request, state: State, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=state.settings.staff_behind_tls or request.url.scheme == "https",
    )
