"""What stands between the internet and the routes: the hosts we answer to, how large a
request may be, and how often one address (or one conversation) may ask.

- ``TrustedHostMiddleware`` (Starlette's) refuses requests for any other Host header, so a
  page on another site cannot reach us through DNS rebinding.
- ``BodySizeLimit`` refuses a request body over the limit (413) before any route reads
  it, whether it announces its length or streams it.
- ``PerAddress`` and ``refuse_if_limited`` answer 429 with Retry-After when an address or
  a conversation is over its rate limit (backoffice/rate_limits.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backoffice.deps import State
from liangwang.rate_limit import RateLimit
from liangwang.wording import Say, render


class BodySizeLimit:
    """Pure ASGI middleware: 413 for a body over ``max_bytes`` (or over the limit of its
    path in ``larger``: an upload route of its own). The body is read here (it is small,
    by this very limit) and handed on whole, so the route never sees a request that is
    too large, however it arrived."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, larger: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope.get("path", ""), self.max_bytes)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before it finished sending
            body += message.get("body", b"")
            if len(body) > limit:
                await _too_large(send)
                return
            if not message.get("more_body", False):
                break
        whole: list[Message] = [{"type": "http.request", "body": bytes(body), "more_body": False}]

        async def replay() -> Message:
            return whole.pop() if whole else await receive()

        await self.app(scope, replay, send)


async def _too_large(send: Send) -> None:
    body = render(Say("utter_channel_request_too_large")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def refuse_if_limited(limit: RateLimit, key: str) -> None:
    wait = limit.wait_s(key)
    if wait > 0:
        raise HTTPException(
            429,
            render(Say("utter_channel_slow_down")),
            headers={"Retry-After": str(math.ceil(wait))},
        )


def client_address(connection: HTTPConnection) -> str:
    """The client's address (a request's or a WebSocket's), as the proxy headers allow."""
    return connection.client.host if connection.client else "unknown"


def _per_address(request: Request, state: State) -> None:
    refuse_if_limited(state.rate_limits.address, client_address(request))


def _polls_per_address(request: Request, state: State) -> None:
    refuse_if_limited(state.rate_limits.polls, client_address(request))


# Route dependencies: the caller's address is counted against its limit (PerAddress), or
# against the one for a page asking what is new (PollsPerAddress).
PerAddress = Annotated[None, Depends(_per_address)]
PollsPerAddress = Annotated[None, Depends(_polls_per_address)]
