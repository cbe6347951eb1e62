"""How the Rasa engine calls the action server, made cheaper: installed by bot/rasa_start.py.

Rasa 3.6 calls a custom action by posting the conversation and the whole domain (35 kB of
responses, slots and forms, the same at every call) as JSON, over a connection opened for
that call alone and closed after it. Under load that was about a tenth of the engine's
time, and the action server spent a fifth of its own parsing the same domain again.

- The domain goes by its digest. rasa_sdk keeps the last domain it was sent with its
  digest and answers 449 when a call names a digest it does not hold (a new action server,
  a replica not called yet, a retrained model); the call is then sent again with the
  domain. This is how later Rasa versions call the same action server.
- Calls are serialised with ujson (in Rasa's environment already), falling back to the
  standard library for anything ujson refuses, so every body json would send is sent.
- Each endpoint keeps its connections open between calls. Idle ones are closed by this
  side after a few seconds, well before the action server would (120 s), so a call never
  goes out on a connection the other side is closing. Behind HAProxy (the scaled profile)
  each request still has connections of its own: HAProxy closes them after the response.

Like bot/rasa_start.py this replaces private parts of Rasa and is pinned with it there;
tests/unit/test_action_calls.py runs each against our real action server.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import aiohttp
import ujson

# rasa_sdk's answer to a call whose domain digest it does not hold.
DOMAIN_MISSING = 449
# Shorter than the action server's own idle timeout (rasa_sdk: 120 s).
IDLE_CONNECTION_S = 5.0


class CallByDigest(dict[str, Any]):
    """An action call naming the domain by its digest; it keeps the domain itself for an
    action server that has not been sent it yet."""

    def __init__(self, call: dict[str, Any], domain: dict[str, Any], digest: str) -> None:
        super().__init__(call, domain_digest=digest)
        self.domain = domain

    def with_domain(self) -> dict[str, Any]:
        return {**self, "domain": self.domain}


def digest(domain: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(domain, sort_keys=True).encode()).hexdigest()


def send_the_domain_by_digest() -> None:
    from rasa.core.actions.action import RemoteAction
    from rasa.utils.endpoints import ClientResponseError, EndpointConfig

    call_format = RemoteAction._action_call_format
    request = EndpointConfig.request
    # The domain of the loaded model and its digest: Rasa keeps one dict per model.
    known: list[tuple[dict[str, Any], str]] = []

    def digest_of(domain: dict[str, Any]) -> str:
        if not known or known[0][0] is not domain:
            known[:] = [(domain, digest(domain))]
        return known[0][1]

    def call_by_digest(self: RemoteAction, tracker: Any, domain: Any) -> dict[str, Any]:
        call: dict[str, Any] = call_format(self, tracker, domain)
        sent = call.pop("domain", None)
        return call if sent is None else CallByDigest(call, sent, digest_of(sent))

    async def request_with_domain_if_missing(
        self: EndpointConfig, *args: Any, **kwargs: Any
    ) -> Any:
        try:
            return await request(self, *args, **kwargs)
        except ClientResponseError as error:
            call = kwargs.get("json")
            if error.status != DOMAIN_MISSING or not isinstance(call, CallByDigest):
                raise
            return await request(self, *args, **{**kwargs, "json": call.with_domain()})

    RemoteAction._action_call_format = call_by_digest  # type: ignore[method-assign]
    EndpointConfig.request = request_with_domain_if_missing  # type: ignore[method-assign]


def dumps(value: Any) -> str:
    """JSON as ``json.dumps`` writes it, by ujson where it can (it refuses integers beyond
    64 bits, for one)."""
    try:
        return ujson.dumps(value)
    except (OverflowError, TypeError, ValueError):
        return json.dumps(value)


class _KeptSession:
    """``async with`` on an endpoint's session yields it without closing it afterwards."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self._session

    async def __aexit__(self, *exc_info: object) -> None:
        return None


def keep_connections_and_serialise_fast() -> None:
    from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
    from rasa.utils.endpoints import EndpointConfig

    def kept_session(self: EndpointConfig) -> _KeptSession:
        # One session per endpoint and event loop: Rasa serves from one loop, a script or
        # test may run several one after another, and a session belongs to its loop.
        loop = asyncio.get_running_loop()
        kept: tuple[asyncio.AbstractEventLoop, aiohttp.ClientSession] | None
        kept = getattr(self, "_kept_session", None)
        if kept is None or kept[0] is not loop or kept[1].closed:
            auth = self.basic_auth
            session = aiohttp.ClientSession(
                headers=self.headers,
                auth=aiohttp.BasicAuth(auth["username"], auth["password"]) if auth else None,
                timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(keepalive_timeout=IDLE_CONNECTION_S),
                json_serialize=dumps,
            )
            kept = (loop, session)
            self._kept_session = kept  # type: ignore[attr-defined]
        return _KeptSession(kept[1])

    EndpointConfig.session = kept_session  # type: ignore[assignment,method-assign]


def install() -> None:
    send_the_domain_by_digest()
    keep_connections_and_serialise_fast()
