"""Public JSON API of the catalog: ``GET /api/catalog/search?q=…&district=…``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from backoffice.deps import DbSession, State
from backoffice.guards import PerAddress
from backoffice.responses import errors
from liangwang.catalog.search import close_candidates
from liangwang.districts import parse_district
from liangwang.labels import BACK_OFFICE_ERRORS

router = APIRouter(prefix="/api/catalog")


class CandidateOut(BaseModel):
    service_id: str
    name: str
    score: float
    why: list[str]
    district_note: str | None = None


class SearchOut(BaseModel):
    query: str
    district: str | None
    ambiguous: bool
    candidates: list[CandidateOut]


@router.get("/search", responses=errors(429))
def search(
    q: Annotated[str, Query(min_length=1, max_length=200)],
    state: State,
    session: DbSession,
    _limited: PerAddress,
    district: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> SearchOut:
    district_name = None
    if district:
        district_name = parse_district(district)
        if district_name is None:
            # Refused like any other invalid parameter, in the 422 shape the schema documents.
            unknown = BACK_OFFICE_ERRORS["unknown_district"].format(district=district)
            raise RequestValidationError(
                [{"loc": ("query", "district"), "msg": unknown, "type": "value_error"}]
            )
    index = state.catalog_index.get(session)
    candidates = index.search(q, limit=limit)
    out = []
    for c in candidates:
        note = None
        if district_name:
            service = index.services[c.service_id]
            note = next(
                (v.notes for v in service.district_variations if v.district == district_name), None
            )
        out.append(
            CandidateOut(
                service_id=c.service_id, name=c.name, score=c.score, why=c.why, district_note=note
            )
        )
    return SearchOut(
        query=q,
        district=district_name,
        ambiguous=len(close_candidates(candidates)) > 1,
        candidates=out,
    )
