"""A staff member's browser without the browser: signs an HTTP client in to the back office
and sends its forms with their CSRF token. Used by the end-to-end tests, the benchmarks and
the unit tests (FastAPI's TestClient is an httpx client too)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_in(page: str) -> str:
    found = _CSRF.search(page)
    if found is None:
        raise ValueError("the page has no form with a CSRF token")
    return found.group(1)


class SignInFailed(RuntimeError):
    pass


@dataclass
class StaffBrowser:
    client: httpx.Client
    csrf: str  # the session's token, which every form carries

    @classmethod
    def sign_in(cls, client: httpx.Client, username: str, password: str) -> StaffBrowser:
        form = client.get("/staff/sign-in")
        done = client.post(
            "/staff/sign-in",
            data={"username": username, "password": password, "csrf": csrf_in(form.text)},
            follow_redirects=False,
        )
        if done.status_code != 303:
            raise SignInFailed(f"sign-in answered {done.status_code}")
        # The calls page is open to every role, and its header carries the sign-out form.
        return cls(client, csrf_in(client.get("/staff/calls").text))

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path)

    def post(self, path: str, **fields: str) -> httpx.Response:
        return self.client.post(path, data={"csrf": self.csrf, **fields}, follow_redirects=False)
