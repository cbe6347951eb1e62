"""Back office for staff. First page: conversations waiting for a person (转人工)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from backoffice.deps import DbSession, State
from liangwang.handoff import open_handoffs

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def staff_home(request: Request, state: State, session: DbSession) -> HTMLResponse:
    return state.templates.TemplateResponse(
        request, "staff_home.html", {"handoffs": open_handoffs(session)}
    )
