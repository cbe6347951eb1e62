"""FastAPI app factories, one per listener: the citizen web and the staff back office.
Everything the routes need is built here, at start-up, from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import RedirectResponse
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

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith(open311.PREFIX):
            return open311.validation_error_response(exc)
        return await request_validation_exception_handler(request, exc)

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
    return app
