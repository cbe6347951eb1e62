"""Typed dependencies shared by the routers (``Annotated[..., Depends()]``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import AfterValidator
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from backoffice.rate_limits import RateLimits
from backoffice.speech_links import SpeechSigner
from liangwang.catalog.store import IndexCache
from liangwang.db import unit_of_work
from liangwang.dialogue import DialogueEngine
from liangwang.labels import ROLE_NAMES
from liangwang.personal_data import Shown
from liangwang.settings import Settings
from liangwang.speech import Speech

# A database id as a path or query value: an INTEGER column ends at 2**31 - 1 in
# PostgreSQL, so a larger number names nothing and is refused as invalid (422) before the
# driver would fail on it.
MAX_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
AfterId = Annotated[int, Query(ge=0, le=MAX_ID)]  # "what came after message n" (0: all)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None  # a ValueError answers 422


# A day from a form's date field, YYYY-MM-DD; a field left empty is sent as "" and means
# no day. Taken as text (pydantic would read "0" as a day in 1970).
if TYPE_CHECKING:  # what a route receives
    FormDate = date | None
else:
    FormDate = Annotated[str | None, Query(pattern=r"^(\d{4}-\d{2}-\d{2})?$"), AfterValidator(_day)]


@dataclass(frozen=True)
class AppState:
    settings: Settings
    sessions: sessionmaker[Session]
    dialogue: DialogueEngine
    templates: Jinja2Templates
    catalog_index: IndexCache
    rate_limits: RateLimits
    tracker_store: Engine  # Rasa's, read only (liangwang/tracker_log.py)
    speech: Speech  # the web page's press-to-talk and spoken replies
    speech_signer: SpeechSigner

    def page(self, request: Request, template: str, context: dict[str, Any]) -> HTMLResponse:
        """A server-rendered page: a template filled with plain values (never ORM sessions),
        and on staff pages the signed-in member (``me``) and personal data masked unless
        the route says it was revealed (``shown``)."""
        me = getattr(request.state, "staff", None)
        context = {"me": me, "role_names": ROLE_NAMES, "shown": Shown(), **context}
        response: HTMLResponse = self.templates.TemplateResponse(request, template, context)
        return response


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.deps
    return state


State = Annotated[AppState, Depends(get_state)]


def get_session(state: State) -> Iterator[Session]:
    with unit_of_work(state.sessions) as session:
        yield session


# scope="function": the unit of work commits when the route returns, before the response
# is sent. (By default FastAPI ends it after sending, so a browser following a 303 could
# read the page before the change it just made was committed.)
DbSession = Annotated[Session, Depends(get_session, scope="function")]
