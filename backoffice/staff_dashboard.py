"""The city's indicators (一网统管) for staff: a page rendered here with no outside resource
(no CDN: a tile map of the 16 districts drawn as SVG), and the same figures as JSON and
as CSV for a city's own BI tools (liangwang/review/indicators.py computes them)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from backoffice.auth import Reviewer
from backoffice.deps import DbSession, FormDate, State
from liangwang.complaints.categories import load_categories
from liangwang.db import utcnow
from liangwang.labels import CHANNEL_NAMES
from liangwang.review import indicators
from liangwang.review.indicators import Indicators

router = APIRouter()
DEFAULT_DAYS = 30
MAX_DAYS = 366
# Where each district sits on the tile map (column, row): roughly as on a map of Shanghai.
DISTRICT_TILES = {
    "嘉定区": (1, 0), "宝山区": (2, 0), "崇明区": (4, 0),
    "青浦区": (0, 1), "普陀区": (1, 1), "静安区": (2, 1), "虹口区": (3, 1), "杨浦区": (4, 1),
    "长宁区": (1, 2), "黄浦区": (2, 2), "浦东新区": (3, 2),
    "松江区": (0, 3), "闵行区": (1, 3), "徐汇区": (2, 3),
    "金山区": (0, 4), "奉贤区": (2, 4),
}  # fmt: skip


def _window(since: date | None, until: date | None) -> tuple[date, date]:
    until = until or utcnow().date()
    since = since or until - timedelta(days=DEFAULT_DAYS - 1)
    return max(since, until - timedelta(days=MAX_DAYS)), until


def _figures(
    state: State,
    session: DbSession,
    member: Reviewer,
    since: FormDate = None,
    until: FormDate = None,
) -> Indicators:
    """The indicators over the days asked for (the last DEFAULT_DAYS when none)."""
    first, last = _window(since, until)
    names = {sid: s.name for sid, s in state.catalog_index.get(session).services.items()}
    return indicators.compute(session, first, last, names)


# What every page of the dashboard shows: a signed-in reviewer's figures for the window.
Figures = Annotated[Indicators, Depends(_figures)]


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, state: State, found: Figures) -> HTMLResponse:
    busiest = max(found.complaints_by_district.values(), default=0)
    context = {
        "f": found,
        "channels": CHANNEL_NAMES,
        "categories": {c.code: c.name for c in load_categories().items},
        "tiles": [
            (name, col, row, found.complaints_by_district.get(name, 0))
            for name, (col, row) in DISTRICT_TILES.items()
        ],
        "busiest": busiest,
    }
    return state.page(request, "staff_dashboard.html", context)


@router.get("/dashboard.json")
def dashboard_json(found: Figures) -> Response:
    return Response(found.as_json(), media_type="application/json")


@router.get(
    "/dashboard.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def dashboard_csv(found: Figures) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["indicator", "key", "value"])
    writer.writerows(found.as_rows())
    name = f"indicators-{found.since}-{found.until}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
