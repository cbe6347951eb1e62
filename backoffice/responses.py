"""The answers a route gives besides its success, declared in the OpenAPI schema with
``responses=``. Clients read the schema, and the schema-driven fuzzing
(tests/unit/test_api_fuzz.py) fails on any status or body a route gives that it does not
declare: a route that can answer 404, 409 or 429 says so here.

The schemas are written out rather than given as ``model=``: FastAPI files a model under
the route's own media type, which for a page is text/html, while these answers are JSON
(or plain text) whatever the route's success is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import RedirectResponse
from fastapi.types import DecoratedCallable

# FastAPI's own responses= type: a status (or "default") to its OpenAPI description.
Responses = dict[int | str, dict[str, Any]]

_WHY = {
    400: "Bad request: a body that could not be read, or a value the route refuses",
    401: "Not signed in (staff): the sign-in page, as HTML",
    403: "Not allowed: a missing or wrong API key; for staff, a role that may not do this, "
    "or a form without its CSRF token",
    404: "Not found",
    409: "Not allowed in the ticket's present state, or not configured",
    413: "Too large: the request body (or the message in it) is over its limit",
    429: "Too many requests from this address or conversation; Retry-After says when to retry",
    503: "A part this answer needs is unavailable",
}
# An HTTPException's answer.
_DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
# The body-size guard (backoffice/guards.py) answers before any route, in plain text.
_PLAIN_TEXT = {"schema": {"type": "string"}}
# Open311 GeoReport v2 errors: a list of {code, description}.
_OPEN311_ERRORS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
        "required": ["code", "description"],
    },
}


def errors(*statuses: int) -> Responses:
    """``{"detail": "…"}`` answers for these statuses; a 413 may also be the guard's text,
    and a 401 is the staff sign-in page."""
    declared: Responses = {}
    for status in statuses:
        content: dict[str, Any] = {"application/json": {"schema": _DETAIL}}
        if status == 401:
            content = {"text/html": {"schema": {"type": "string"}}}
        if status == 413:
            content["text/plain"] = _PLAIN_TEXT
        declared[status] = {"description": _WHY[status], "content": content}
    return declared


def body_too_large() -> Responses:
    """Only the guard's plain-text 413, for a route that refuses nothing for size itself."""
    return {413: {"description": _WHY[413], "content": {"text/plain": _PLAIN_TEXT}}}


def open311_errors(*statuses: int) -> Responses:
    """Open311's own error list for these statuses."""
    return {
        status: {
            "description": _WHY[status],
            "content": {"application/json": {"schema": _OPEN311_ERRORS}},
        }
        for status in statuses
    }


def file_of(media_type: str) -> Responses:
    """A file's bytes as the success (FastAPI would otherwise document JSON)."""
    return {200: {"description": f"The file ({media_type})", "content": {media_type: {}}}}


def form_post(
    router: APIRouter, path: str, *refusals: int
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """A form's POST that answers 303, on to the page to show next; ``refusals``: the
    statuses it may answer instead (the guard's 413 besides)."""
    return router.post(
        path,
        status_code=303,
        response_class=RedirectResponse,
        responses={**errors(*refusals), **body_too_large()},
    )
