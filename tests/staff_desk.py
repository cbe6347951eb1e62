"""Staff members for tests: an account of a given role in the test database, signed in to
the staff app through its real sign-in form."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI
from fastapi.testclient import TestClient

from liangwang.db import sessions_for, unit_of_work
from liangwang.staff import accounts
from liangwang.staff.models import Role
from ops.staff_client import StaffBrowser

PASSWORD = "test-staff-password"
_numbers = itertools.count(1)


def add_member(db_url: str, role: Role = Role.admin, username: str | None = None) -> str:
    username = username or f"{role}-{next(_numbers)}"
    sessions = sessions_for(db_url)
    with unit_of_work(sessions) as session:
        accounts.create(session, username, PASSWORD, role)
    sessions.kw["bind"].dispose()
    return username


@contextmanager
def signed_in(
    app: FastAPI, db_url: str, role: Role = Role.admin, username: str | None = None
) -> Iterator[StaffBrowser]:
    """A member of ``role`` signed in to ``app`` (its own client: its own cookies)."""
    name = add_member(db_url, role, username)
    with TestClient(app) as client:
        yield StaffBrowser.sign_in(client, name, PASSWORD)
