"""Staff accounts and sign-in: create, disable and reset accounts; sign in with lockout
after repeated failures; sessions that expire when idle and after a fixed time; and the
staff audit trail. Plain functions over a database session; no web here."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from liangwang.db import aware, utcnow
from liangwang.settings import Settings
from liangwang.staff.models import Role, StaffAccount, StaffAuditEntry, StaffSession
from liangwang.staff.passwords import DUMMY_HASH, hash_password, verify_password

SEEN_EVERY = timedelta(minutes=1)


class AccountError(ValueError):
    pass


@dataclass(frozen=True)
class SignInPolicy:
    max_failures: int = 5  # wrong passwords in a row, then the account is locked
    lockout: timedelta = timedelta(minutes=15)
    idle: timedelta = timedelta(minutes=30)  # a session unused this long has ended
    lifetime: timedelta = timedelta(hours=12)  # and any session after this long (a shift)

    @classmethod
    def from_settings(cls, settings: Settings) -> SignInPolicy:
        return cls(
            max_failures=settings.staff_max_failed_sign_ins,
            lockout=timedelta(minutes=settings.staff_lockout_minutes),
            idle=timedelta(minutes=settings.staff_idle_minutes),
            lifetime=timedelta(hours=settings.staff_session_hours),
        )


def record(session: Session, actor: str, action: str, target: str = "") -> None:
    session.add(StaffAuditEntry(actor=actor, action=action, target=target[:200]))


def by_username(session: Session, username: str) -> StaffAccount | None:
    return session.scalars(select(StaffAccount).where(StaffAccount.username == username)).first()


def create(
    session: Session, username: str, password: str, role: Role, display_name: str = ""
) -> StaffAccount:
    username = username.strip()
    if not username or len(username) > 64:
        raise AccountError("a username has 1 to 64 characters")
    if by_username(session, username) is not None:
        raise AccountError(f"account {username} exists already")
    account = StaffAccount(
        username=username,
        display_name=display_name.strip() or username,
        role=Role(role),
        password_hash=hash_password(password),
    )
    session.add(account)
    session.flush()
    return account


def _existing(session: Session, username: str) -> StaffAccount:
    account = by_username(session, username)
    if account is None:
        raise AccountError(f"no account {username}")
    return account


def _end_sessions(session: Session, account: StaffAccount) -> None:
    session.execute(delete(StaffSession).where(StaffSession.account_id == account.id))


def disable(session: Session, username: str) -> None:
    """The account can no longer sign in, and its open sessions end now."""
    account = _existing(session, username)
    account.disabled = True
    _end_sessions(session, account)


def reset_password(session: Session, username: str, password: str) -> None:
    """A new password; the lock is lifted and every session of the account ends."""
    account = _existing(session, username)
    account.password_hash = hash_password(password)
    account.failed_sign_ins, account.locked_until = 0, None
    _end_sessions(session, account)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    token: str  # for the cookie; only its hash is stored
    account: StaffAccount


def sign_in(
    session: Session,
    username: str,
    password: str,
    policy: SignInPolicy,
    now: datetime | None = None,
) -> SignedIn | None:
    """A new session, or None: the same answer whether the name is unknown, the password
    wrong, the account disabled or locked, so a guesser learns nothing from it."""
    now = now or utcnow()
    account = by_username(session, username)
    if account is None:
        verify_password(DUMMY_HASH, password)
        return None
    locked = account.locked_until is not None and aware(account.locked_until) > now
    if locked or account.disabled:
        verify_password(DUMMY_HASH, password)
        record(session, account.username, "sign_in_refused", "locked" if locked else "disabled")
        return None
    if not verify_password(account.password_hash, password):
        account.failed_sign_ins += 1
        if account.failed_sign_ins >= policy.max_failures:
            account.locked_until, account.failed_sign_ins = now + policy.lockout, 0
            record(session, account.username, "locked_out")
        return None
    account.failed_sign_ins, account.locked_until = 0, None
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            token_hash=_token_hash(token),
            account_id=account.id,
            csrf_token=secrets.token_urlsafe(32),
            started_at=now,
            last_seen_at=now,
        )
    )
    record(session, account.username, "sign_in")
    return SignedIn(token, account)


def current(
    session: Session, token: str, policy: SignInPolicy, now: datetime | None = None
) -> StaffSession | None:
    """The live session for a cookie's token, its idle time restarted; None (and the row
    removed) when it has expired or its account is disabled."""
    now = now or utcnow()
    found = session.get(StaffSession, _token_hash(token)) if token else None
    if found is None:
        return None
    expired = (
        now - aware(found.last_seen_at) > policy.idle
        or now - aware(found.started_at) > policy.lifetime
    )
    if expired or found.account.disabled:
        session.delete(found)
        return None
    # Every page (and the queue asking every few seconds) comes through here: the idle
    # time is restarted at most once a minute, not written on every request.
    if now - aware(found.last_seen_at) > SEEN_EVERY:
        found.last_seen_at = now
    return found


def sign_out(session: Session, token: str) -> None:
    session.execute(delete(StaffSession).where(StaffSession.token_hash == _token_hash(token)))


def same_token(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())
