"""FastAPI app factories, one per listener: the citizen web and the staff back office.
Everything the routes need is built here, at start-up, from settings."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from backoffice import calls, catalog_api, chat, health, open311, staff
from backoffice.deps import AppState
from backoffice.guards import BodySizeLimit
from backoffice.rate_limits import RateLimits
from liangwang.catalog.store import IndexCache
from liangwang.db import make_engine, make_session_factory
from liangwang.dialogue import DialogueEngine, RasaRestEngine
from liangwang.settings import Settings, load_settings

HERE = Path(__file__).resolve().parent


def create_citizen_app(
    settings: Settings | None = None, engine: DialogueEngine | None = None
) -> FastAPI:
    """What citizens and partner systems reach: the web chat, its API, the catalog search
    and Open311. It may face the internet; nothing on it shows another citizen's data."""
    app = _app("liangwang-assist", settings, engine)
    app.include_router(chat.router)
    app.include_router(catalog_api.router)
    app.include_router(open311.router)
    app.add_exception_handler(open311.Open311Error, open311.on_open311_error)
    return app


def create_staff_app(
    settings: Settings | None = None, engine: DialogueEngine | None = None
) -> FastAPI:
    """The back office: tickets, handoffs, calls and their recordings, with citizens'
    numbers and addresses. On its own listener (LIANGWANG_STAFF_HOST/PORT), so exposing
    the citizen web never exposes it."""
    app = _app("liangwang-assist staff", settings, engine)
    app.include_router(staff.router, prefix="/staff")
    app.include_router(calls.router, prefix="/staff")

    @app.get("/", include_in_schema=False)
    async def _home() -> RedirectResponse:
        return RedirectResponse("/staff/")

    return app


def _app(title: str, settings: Settings | None, engine: DialogueEngine | None) -> FastAPI:
    """An app with what every listener has: its dependencies built from settings, the
    request guards, static files and /healthz."""
    settings = settings or load_settings()
    db_engine = make_engine(settings.effective_database_url)
    dialogue = engine or RasaRestEngine.from_settings(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await dialogue.aclose()
        db_engine.dispose()

    app = FastAPI(title=title, lifespan=lifespan)
    app.state.deps = AppState(
        settings=settings,
        sessions=make_session_factory(db_engine),
        dialogue=dialogue,
        templates=Jinja2Templates(directory=HERE / "templates"),
        catalog_index=IndexCache(),
        rate_limits=RateLimits(
            settings.rate_limit_per_address, settings.rate_limit_per_conversation
        ),
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_host_list)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(health.router)
    app.add_exception_handler(RequestValidationError, _validation_error)
    return app


class _AsciiJSONResponse(JSONResponse):
    """JSON with everything outside ASCII escaped. A validation error quotes what the
    client sent, and a lone surrogate in it ("\\ud800" in the request's JSON) cannot be
    encoded as UTF-8: the 422 would become a 500."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if request.url.path.startswith(open311.PREFIX):
        return open311.validation_error_response(exc)
    return _AsciiJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
