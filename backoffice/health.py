"""Health for the supervisor, load balancers and operators: ``/healthz``.

The answer names each part's state: the database (written to, not only read), Rasa, the
action server and, where one is configured, the Redis lock store. The HTTP status is this
web process's own: 503 when it cannot write to the database (it would lose what citizens
send), 200 otherwise; a part it depends on for conversations being down makes the status
"degraded" in the body, so an operator sees it while the catalog search and the staff
pages go on serving.
"""

from __future__ import annotations

import asyncio

import httpx
import redis
import redis.asyncio
from fastapi import APIRouter, Response

from backoffice.deps import State
from liangwang.health import OK, database_writable

router = APIRouter()
PROBE_TIMEOUT_S = 2.0


# The 503 names each part as the 200 does: documented without a schema of its own.
@router.get("/healthz", responses={503: {"description": "The database cannot be written to"}})
async def healthz(state: State, response: Response) -> dict[str, object]:
    settings = state.settings
    probes = {
        "database": asyncio.to_thread(database_writable, state.sessions),
        "rasa": _answers(f"{settings.rasa_url}/"),
        "actions": _answers(settings.action_health_url),
    }
    if settings.lock_store_url:  # Redis: without it no Rasa replica can take a turn
        probes["locks"] = _redis_answers(settings.lock_store_url)
    parts = dict(zip(probes, await asyncio.gather(*probes.values()), strict=True))
    if parts["database"] != OK:
        response.status_code = 503
    return {"status": "ok" if all(p == OK for p in parts.values()) else "degraded", "parts": parts}


async def _answers(url: str) -> str:
    try:
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_S) as client:
            reply = await client.get(url)
    except httpx.HTTPError as exc:
        return f"unreachable: {type(exc).__name__}"
    return OK if reply.status_code < 500 else f"HTTP {reply.status_code}"


async def _redis_answers(url: str) -> str:
    client = redis.asyncio.Redis.from_url(
        url, socket_timeout=PROBE_TIMEOUT_S, socket_connect_timeout=PROBE_TIMEOUT_S
    )
    try:
        await client.ping()
    except redis.RedisError as exc:
        return f"unreachable: {type(exc).__name__}"
    finally:
        await client.aclose()
    return OK
