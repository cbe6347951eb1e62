"""FastAPI app factories, one per listener: the citizen web and the staff back office.
Everything the routes need is built here, at start-up, from settings."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
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
from sqlalchemy.exc import SQLAlchemyError

from backoffice import (
    auth,
    calls,
    catalog_api,
    chat,
    chat_voice,
    health,
    open311,
    staff_accounts,
    staff_admin,
    staff_conversations,
    staff_dashboard,
    staff_handoffs,
    staff_ticket_queue,
    staff_tickets,
)
from backoffice.deps import AppState
from backoffice.guards import BodySizeLimit
from backoffice.rate_limits import RateLimits
from backoffice.responses import errors
from backoffice.speech_links import SpeechSigner
from liangwang.catalog.store import IndexCache
from liangwang.db import make_engine, make_session_factory
from liangwang.dialogue import DialogueEngine, RasaRestEngine
from liangwang.labels import BACK_OFFICE_ERRORS
from liangwang.settings import Settings, load_settings
from liangwang.speech import NoSpeech, Speech
from liangwang.staff_aware import StaffAwareEngine
from liangwang.wording import Say, render

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent


def create_citizen_app(
    settings: Settings | None = None,
    engine: DialogueEngine | None = None,
    speech: Speech | None = None,
) -> FastAPI:
    """What citizens and partner systems reach: the web chat, its API, the catalog search
    and Open311. It may face the internet; nothing on it shows another citizen's data.
    ``speech`` hears press-to-talk and speaks replies (none: the page is text only)."""
    app = _app(
        "liangwang-assist", settings, engine, jobs=[chat.tell_the_unclaimed_often], speech=speech
    )
    app.include_router(chat.router)
    app.include_router(chat_voice.router)
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
    settings = settings or load_settings()
    # A catalog file is larger than any other request: its upload has its own limit.
    uploads = {staff_admin.CATALOG_PATH: settings.max_catalog_bytes}
    jobs = [staff_conversations.ingest_often]  # conversation events into the review tables
    app = _app("liangwang-assist staff", settings, engine, jobs=jobs, uploads=uploads)
    app.include_router(auth.router, prefix=auth.PATH)
    # Every other page needs a signed-in member of the right role (backoffice/auth.py).
    signed_in_only = errors(401, 403)
    for pages in (
        staff_admin.router,
        staff_handoffs.router,
        staff_ticket_queue.router,  # before the ticket pages: /tickets/bulk is not a number
        staff_tickets.router,
        calls.router,
        staff_conversations.router,
        staff_dashboard.router,
        staff_accounts.router,
    ):
        app.include_router(pages, prefix=auth.PATH, responses=signed_in_only)
    app.add_exception_handler(auth.SignInNeeded, _sign_in_needed)

    @app.get("/", include_in_schema=False)
    async def _home() -> RedirectResponse:
        return RedirectResponse("/staff/")

    return app


Job = Callable[[AppState], Coroutine[Any, Any, None]]


def _app(
    title: str,
    settings: Settings | None,
    engine: DialogueEngine | None,
    jobs: Sequence[Job] = (),
    uploads: Mapping[str, int] | None = None,
    speech: Speech | None = None,
) -> FastAPI:
    """An app with what every listener has: its dependencies built from settings, the
    request guards, static files and /healthz; ``jobs`` run in the background while it
    serves."""
    settings = settings or load_settings()
    db_engine = make_engine(settings.effective_database_url)
    sessions = make_session_factory(db_engine)
    tracker_store = make_engine(settings.effective_tracker_store_url)
    # Silent where a person holds the conversation (the live handoff desk).
    dialogue = StaffAwareEngine(engine or RasaRestEngine.from_settings(settings), sessions)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        running = [asyncio.create_task(job(app.state.deps)) for job in jobs]
        yield
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await dialogue.aclose()
        db_engine.dispose()
        tracker_store.dispose()

    app = FastAPI(title=title, lifespan=lifespan)
    app.state.deps = AppState(
        settings=settings,
        sessions=sessions,
        dialogue=dialogue,
        templates=Jinja2Templates(directory=HERE / "templates"),
        catalog_index=IndexCache(),
        tracker_store=tracker_store,
        rate_limits=RateLimits(
            settings.rate_limit_per_address,
            settings.rate_limit_per_conversation,
            settings.staff_sign_ins_per_minute,
        ),
        speech=speech or NoSpeech(),
        speech_signer=SpeechSigner.from_settings(settings),
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes, larger=uploads)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_host_list)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(health.router)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(SQLAlchemyError, _database_unavailable)
    return app


class _AsciiJSONResponse(JSONResponse):
    """JSON with everything outside ASCII escaped. A validation error quotes what the
    client sent, and a lone surrogate in it ("\\ud800" in the request's JSON) cannot be
    encoded as UTF-8: the 422 would become a 500."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


async def _sign_in_needed(request: Request, exc: Exception) -> Response:
    return auth.sign_in_page(request, request.app.state.deps, status=401)


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    # The database went away mid-request (restarted, disk full): said plainly, never a
    # bare 500; a citizen's words are still in the box to send again. /healthz is red.
    log.warning("database unavailable for %s: %s", request.url.path, type(exc).__name__)
    if request.url.path.startswith("/staff"):
        said = BACK_OFFICE_ERRORS["database_unavailable"]
    else:
        said = render(Say("utter_channel_unavailable_web"))
    return JSONResponse({"detail": said}, status_code=503)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if request.url.path.startswith(open311.PREFIX):
        return open311.validation_error_response(exc)
    return _AsciiJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
