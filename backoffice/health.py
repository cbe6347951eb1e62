"""Liveness for the supervisor and load balancers: the database must answer."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from backoffice.deps import DbSession

router = APIRouter()


@router.get("/healthz")
def healthz(session: DbSession) -> dict[str, str]:
    session.execute(text("SELECT 1"))
    return {"status": "ok"}
