"""Open311 GeoReport v2 (JSON) at /open311/v2/: the same tickets as filed by conversation.

Errors are a list of ``{code, description}`` with the HTTP status of the spec: 400 bad
request, 403 bad api_key, 404 unknown service_code or request.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import select

from backoffice.deps import DbSession, State
from backoffice.guards import PerAddress
from backoffice.responses import body_too_large, errors, open311_errors
from liangwang.complaints import tickets
from liangwang.complaints.categories import Category, load_categories
from liangwang.complaints.models import FINAL, Ticket
from liangwang.complaints.tickets import NewTicket
from liangwang.complaints.validation import InvalidInput
from liangwang.db import utcnow
from liangwang.districts import parse_district
from liangwang.personal_data import coarse_address
from liangwang.photos import is_stored

PREFIX = "/open311/v2"
MAX_RANGE = timedelta(days=90)
PAGE_SIZE, MAX_PAGE_SIZE = 50, 200
COORDINATE_DECIMALS = 3  # about 110 m of latitude
router = APIRouter(prefix=PREFIX)


class Open311Error(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def error_response(status: int, description: str) -> JSONResponse:
    return JSONResponse([{"code": status, "description": description}], status_code=status)


async def on_open311_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Open311Error)
    return error_response(exc.status, exc.description)


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()
    )
    return error_response(400, problems)


def key_id(api_key: str) -> str:
    """A name for an API key that audit rows and logs can carry: a digest, never key
    material (a prefix of the key itself would narrow a guess)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


def _w3(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite keeps naive datetimes; we store UTC
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


def _service(category: Category) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": category.description,
        "metadata": bool(category.attributes),
        "type": "realtime",
        "keywords": ",".join(category.keywords[:5]),
        "group": category.group,
    }


def _request(ticket: Ticket) -> dict[str, Any]:
    """A ticket as the public may see it. A citizen who spoke to the assistant never
    agreed to publish their words: the description is published only for requests filed
    through this API, where the client posted it to be published. Coordinates are rounded
    to about a hundred metres, the address cut at the road; contacts are never shown."""
    category = load_categories().by_code.get(ticket.category)
    return {
        "service_request_id": ticket.number,
        "status": "closed" if ticket.status in FINAL else "open",
        "status_notes": ticket.status_notes or None,
        "service_name": category.name if category else ticket.category,
        "service_code": ticket.category,
        "description": ticket.description if ticket.channel == "open311" else None,
        "agency_responsible": ticket.department,
        "service_notice": None,
        "requested_datetime": _w3(ticket.requested_at),
        "updated_datetime": _w3(ticket.updated_at),
        "expected_datetime": _w3(ticket.expected_at),
        "address": coarse_address(ticket.address, ticket.district),
        "address_id": None,
        "zipcode": None,
        "lat": None if ticket.lat is None else round(ticket.lat, COORDINATE_DECIMALS),
        "long": None if ticket.long is None else round(ticket.long, COORDINATE_DECIMALS),
        # A photo we keep is for staff; only a public URL a client gave is published.
        "media_url": None if is_stored(ticket.media_url) else ticket.media_url,
    }


@router.get("/services.json")
def services() -> list[dict[str, Any]]:
    return [_service(c) for c in load_categories().items]


@router.get("/services/{service_code}.json", responses=open311_errors(404))
def service_definition(service_code: str) -> dict[str, Any]:
    category = load_categories().by_code.get(service_code)
    if category is None:
        raise Open311Error(404, f"service_code {service_code} not found")
    return {
        "service_code": category.code,
        "attributes": [
            {
                "variable": True,
                "code": a.code,
                "datatype": a.datatype,
                "required": a.required,
                "datatype_description": None,
                "order": order,
                "description": a.description,
                "values": [{"key": v.key, "name": v.name} for v in a.values],
            }
            for order, a in enumerate(category.attributes, 1)
        ],
    }


async def attribute_fields(request: Request) -> dict[str, str]:
    """The ``attribute[code]=value`` form fields (read here, in the event loop, so that the
    endpoint itself can be synchronous and run its database work off the loop)."""
    form = await request.form()
    return {
        key[len("attribute[") : -1]: str(value)
        for key, value in form.multi_items()
        if key.startswith("attribute[") and key.endswith("]")
    }


@router.post(
    "/requests.json",
    responses={**open311_errors(400, 403, 404), **errors(429), **body_too_large()},
)
def create_request(
    session: DbSession,
    attributes: Annotated[dict[str, str], Depends(attribute_fields)],
    state: State,
    _limited: PerAddress,
    api_key: Annotated[str | None, Form()] = None,
    service_code: Annotated[str | None, Form()] = None,
    lat: Annotated[float | None, Form()] = None,
    long: Annotated[float | None, Form()] = None,
    address_string: Annotated[str | None, Form()] = None,
    description: Annotated[str | None, Form()] = None,
    first_name: Annotated[str | None, Form()] = None,
    last_name: Annotated[str | None, Form()] = None,
    phone: Annotated[str | None, Form()] = None,
    media_url: Annotated[str | None, Form()] = None,
    device_id: Annotated[str | None, Form()] = None,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> list[dict[str, Any]]:
    if not api_key:
        raise Open311Error(400, "api_key was not provided")
    if api_key not in state.settings.open311_keys:
        raise Open311Error(403, "invalid api_key")
    if not service_code:
        raise Open311Error(400, "service_code was not provided")
    categories = load_categories()
    if service_code not in categories.by_code:
        raise Open311Error(404, f"service_code {service_code} not found")
    address = (address_string or "").strip()
    if (lat is None or long is None) and not address:
        raise Open311Error(400, "a location is required: lat and long, or address_string")
    name = " ".join(p for p in (last_name, first_name) if p) or None
    client = key_id(api_key)
    new = NewTicket(
        category=service_code,
        description=description or "",
        channel="open311",
        district=parse_district(address) if address else None,
        address=address,
        lat=lat,
        long=long,
        media_url=media_url,
        attributes=attributes,
        contact_name=name,
        contact_phone=phone,
        # Both are the client's own names: scoped by its key, so one client can neither
        # receive another's request by reusing its idempotency key nor speak as its device.
        identity=f"open311-{client}-{device_id}" if device_id else None,
        idempotency_key=f"open311-{client}-{idempotency_key}" if idempotency_key else None,
    )
    try:
        ticket = tickets.file_ticket(session, new, actor=f"open311:{client}", categories=categories)
    except InvalidInput as exc:
        raise Open311Error(400, f"{exc.code}") from None
    return [
        {
            "service_request_id": ticket.number,
            "token": ticket.token,
            "service_notice": None,
            "account_id": None,
        }
    ]


def _parse_w3(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(
            400, f"{name} must be a w3 datetime, e.g. 2026-01-01T00:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise Open311Error(400, f"{name} must include a timezone")
    return parsed


@router.get("/requests.json", responses=open311_errors(400))
def list_requests(
    session: DbSession,
    service_request_id: Annotated[str | None, Query()] = None,
    service_code: Annotated[str | None, Query()] = None,
    start_date: Annotated[str | None, Query()] = None,
    end_date: Annotated[str | None, Query()] = None,
    status: Annotated[str | None, Query()] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = PAGE_SIZE,
) -> list[dict[str, Any]]:
    """Newest first, ``page_size`` at a time (``page`` from 1)."""
    query = select(Ticket)
    if service_request_id:
        # The spec: ids override every other filter.
        ids = [i.strip() for i in service_request_id.split(",") if i.strip()][:MAX_PAGE_SIZE]
        found = session.scalars(query.where(Ticket.number.in_(ids))).all()
        return [_request(t) for t in sorted(found, key=lambda t: ids.index(t.number))]
    start = _parse_w3("start_date", start_date)
    end = _parse_w3("end_date", end_date)
    if start and end and end - start > MAX_RANGE:
        raise Open311Error(400, "start_date and end_date may not span more than 90 days")
    if start and end and end < start:
        raise Open311Error(400, "end_date is before start_date")
    end = end or (start + MAX_RANGE if start else utcnow())
    start = start or end - MAX_RANGE
    query = query.where(Ticket.requested_at >= start, Ticket.requested_at <= end)
    if service_code:
        query = query.where(Ticket.category.in_(service_code.split(",")))
    if status:
        wanted = set(status.split(","))
        if not wanted <= {"open", "closed"}:
            raise Open311Error(400, "status must be open or closed")
        final = [s.value for s in FINAL]
        if wanted == {"open"}:
            query = query.where(Ticket.status.not_in(final))
        elif wanted == {"closed"}:
            query = query.where(Ticket.status.in_(final))
    query = query.order_by(Ticket.requested_at.desc(), Ticket.id.desc())
    rows = session.scalars(query.offset((page - 1) * page_size).limit(page_size))
    return [_request(t) for t in rows]


@router.get("/requests/{service_request_id}.json", responses=open311_errors(404))
def get_request(service_request_id: str, session: DbSession) -> list[dict[str, Any]]:
    ticket = tickets.by_number(session, service_request_id)
    if ticket is None:
        raise Open311Error(404, f"service_request_id {service_request_id} not found")
    return [_request(ticket)]


@router.get("/tokens/{token}.json", responses=open311_errors(404))
def get_token(token: str, session: DbSession) -> list[dict[str, Any]]:
    ticket = session.scalar(select(Ticket).where(Ticket.token == token))
    if ticket is None:
        raise Open311Error(404, f"token {token} not found")
    return [{"service_request_id": ticket.number, "token": token}]
