"""The closed loop of a ticket: 受理 → 已派单 → 处置中 → 已答复 → 办结 (+ 退回/重派, 撤回, 并单),
every step recorded with who, when and a note. Filing is idempotent."""

from __future__ import annotations

import math
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from liangwang.complaints import validation
from liangwang.complaints.categories import Categories, load_categories
from liangwang.complaints.models import FINAL, OWES_WORK, Status, Ticket, TicketAction, TicketEvent
from liangwang.complaints.validation import InvalidInput
from liangwang.db import aware, utcnow
from liangwang.districts import parse_district
from liangwang.labels import TICKET_NOTES

# action → (states it may start from, state it leads to)
TRANSITIONS: dict[TicketAction, tuple[frozenset[Status], Status]] = {
    TicketAction.dispatch: (frozenset({Status.received, Status.returned}), Status.dispatched),
    TicketAction.start: (frozenset({Status.dispatched}), Status.processing),
    TicketAction.answer: (frozenset({Status.processing}), Status.answered),
    TicketAction.close: (frozenset({Status.answered}), Status.closed),
    TicketAction.return_: (frozenset({Status.dispatched, Status.processing}), Status.returned),
    TicketAction.withdraw: (
        frozenset({Status.received, Status.dispatched, Status.returned, Status.processing}),
        Status.withdrawn,
    ),
    TicketAction.merge: (
        frozenset({Status.received, Status.dispatched, Status.returned}),
        Status.merged,
    ),
}
DUPLICATE_WINDOW = timedelta(days=14)
DUPLICATE_RADIUS_M = 300.0
EARTH_RADIUS_M = 6_371_000


def audit(
    ticket: Ticket,
    action: TicketAction,
    *,
    actor: str,
    at: datetime,
    note: str = "",
    from_status: str | None = None,
    to_status: str | None = None,
) -> None:
    """Add a row to the ticket's audit trail; the status stays unless one is given."""
    ticket.events.append(
        TicketEvent(
            at=at,
            actor=actor,
            action=action,
            from_status=ticket.status if to_status is None else from_status,
            to_status=to_status or ticket.status,
            note=note,
        )
    )


class TransitionNotAllowed(ValueError):
    def __init__(self, action: str, status: str) -> None:
        super().__init__(f"cannot {action} a ticket that is {status}")
        self.action = action
        self.status = status


@dataclass(frozen=True)
class Filed:
    number: str
    sla_hours: int
    merged_into: str | None = None


@dataclass(frozen=True)
class NewTicket:
    category: str
    description: str
    channel: str
    district: str | None = None
    address: str = ""
    lat: float | None = None
    long: float | None = None
    media_url: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_public: bool = False
    identity: str | None = None
    idempotency_key: str | None = None


def _new_number(session: Session) -> str:
    while True:
        number = str(secrets.randbelow(900_000) + 100_000)  # six digits, no leading zero
        if session.scalar(select(Ticket.id).where(Ticket.number == number)) is None:
            return number


def validate(new: NewTicket, categories: Categories) -> NewTicket:
    """Check everything before anything is stored; raise InvalidInput naming the problem."""
    if new.category not in categories.by_code:
        raise InvalidInput("category_unknown", new.category)
    description = validation.description(new.description)
    district = None
    if new.district:
        district = parse_district(new.district)
        if district is None:
            raise InvalidInput("district_unknown", new.district)
    has_point = new.lat is not None and new.long is not None
    if has_point and not (-90 <= (new.lat or 0) <= 90 and -180 <= (new.long or 0) <= 180):
        raise InvalidInput("location_invalid")
    if not (has_point or new.address.strip() or district):
        raise InvalidInput("location_missing")
    phone = validation.phone_number(new.contact_phone) if new.contact_phone else None
    if len(new.address) > 300:
        raise InvalidInput("address_too_long")
    category = categories.by_code[new.category]
    for attribute in category.attributes:
        value = new.attributes.get(attribute.code)
        if attribute.required and value in (None, ""):
            raise InvalidInput("attribute_missing", attribute.code)
        if (
            value not in (None, "")
            and attribute.values
            and value not in {v.key for v in attribute.values}
        ):
            raise InvalidInput("attribute_invalid", attribute.code)
    unknown = set(new.attributes) - {a.code for a in category.attributes}
    if unknown:
        raise InvalidInput("attribute_unknown", ",".join(sorted(unknown)))
    return NewTicket(
        **{
            **new.__dict__,
            "description": description,
            "district": district,
            "address": new.address.strip(),
            "contact_phone": phone,
        }
    )


def file_ticket(
    session: Session,
    new: NewTicket,
    *,
    actor: str,
    now: datetime | None = None,
    categories: Categories | None = None,
) -> Ticket:
    """Store a new ticket (受理). The same idempotency key twice returns the first ticket."""
    categories = categories or load_categories()
    if new.idempotency_key:
        existing = session.scalar(
            select(Ticket).where(Ticket.idempotency_key == new.idempotency_key)
        )
        if existing is not None:
            return existing
    new = validate(new, categories)
    now = now or utcnow()
    category = categories.by_code[new.category]
    ticket = Ticket(
        number=_new_number(session),
        token=uuid.uuid4().hex,
        category=new.category,
        description=new.description,
        district=new.district,
        address=new.address,
        lat=new.lat,
        long=new.long,
        media_url=new.media_url,
        attributes=dict(new.attributes),
        contact_name=new.contact_name,
        contact_phone=new.contact_phone,
        contact_public=new.contact_public,
        channel=new.channel,
        identity=new.identity,
        status=Status.received,
        department=category.department,
        requested_at=now,
        updated_at=now,
        expected_at=now + timedelta(hours=category.sla_hours),
        idempotency_key=new.idempotency_key,
    )
    audit(
        ticket, TicketAction.file, actor=actor, at=now, from_status=None, to_status=Status.received
    )
    try:
        with session.begin_nested():
            session.add(ticket)
            session.flush()
    except IntegrityError:
        # Another request with the same key won the race: return its ticket.
        if new.idempotency_key is None:
            raise
        existing = session.scalar(
            select(Ticket).where(Ticket.idempotency_key == new.idempotency_key)
        )
        assert existing is not None
        return existing
    return ticket


def transition(
    session: Session,
    ticket: Ticket,
    action: TicketAction,
    *,
    actor: str,
    note: str = "",
    department: str | None = None,
    now: datetime | None = None,
) -> Ticket:
    if action not in TRANSITIONS:
        raise ValueError(f"unknown action {action}")
    allowed, target = TRANSITIONS[action]
    if Status(ticket.status) not in allowed:
        raise TransitionNotAllowed(action, ticket.status)
    now = now or utcnow()
    # Check and write in one statement: a staff 办结 and a citizen 撤回 read the same state,
    # and only the first to write may act on it.
    moved: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.status == ticket.status)
        .values(status=target, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        session.refresh(ticket)
        raise TransitionNotAllowed(action, ticket.status)
    if department:
        ticket.department = department
    audit(
        ticket, action, actor=actor, at=now, from_status=ticket.status, to_status=target, note=note
    )
    ticket.status = target
    if note:
        ticket.status_notes = note
    ticket.updated_at = now
    session.flush()
    return ticket


def merge(
    session: Session, ticket: Ticket, into: Ticket, *, actor: str, now: datetime | None = None
) -> Ticket:
    """并单: the ticket follows ``into`` from now on."""
    if into.id == ticket.id or not into.is_open:
        raise TransitionNotAllowed("merge", into.status)
    transition(
        session,
        ticket,
        TicketAction.merge,
        actor=actor,
        note=TICKET_NOTES["merged_into"].format(number=into.number),
        now=now,
    )
    ticket.merged_into_id = into.id
    return ticket


def add_information(
    session: Session, ticket: Ticket, text: str, *, actor: str, now: datetime | None = None
) -> Ticket:
    if not ticket.is_open:
        raise TransitionNotAllowed("add_information", ticket.status)
    extra = validation.description(text)
    if len(ticket.description) + len(extra) + 1 > validation.MAX_DESCRIPTION:
        raise InvalidInput("description_too_long")
    now = now or utcnow()
    ticket.description = f"{ticket.description}\n{extra}"
    audit(ticket, TicketAction.add_information, actor=actor, at=now, note=extra)
    ticket.updated_at = now
    session.flush()
    return ticket


def rate(
    session: Session,
    ticket: Ticket,
    stars: int,
    comment: str = "",
    *,
    actor: str,
    now: datetime | None = None,
) -> Ticket:
    """好差评 after 办结: 1–5 stars and an optional comment."""
    if ticket.status != Status.closed:
        raise TransitionNotAllowed("rate", ticket.status)
    if not 1 <= stars <= 5:
        raise InvalidInput("rating_invalid", str(stars))
    now = now or utcnow()
    ticket.rating = stars
    ticket.rating_comment = comment.strip() or None
    audit(ticket, TicketAction.rate, actor=actor, at=now, note=f"{stars} {comment}".strip())
    session.flush()
    return ticket


def is_overdue(ticket: Ticket, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return ticket.status in OWES_WORK and aware(ticket.expected_at) < now


def by_number(session: Session, number: str) -> Ticket | None:
    return session.scalar(select(Ticket).where(Ticket.number == number))


def for_identity(session: Session, identity: str) -> list[Ticket]:
    return list(
        session.scalars(
            select(Ticket).where(Ticket.identity == identity).order_by(Ticket.requested_at.desc())
        )
    )


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def possible_duplicates(
    session: Session, new: NewTicket, now: datetime | None = None
) -> list[Ticket]:
    """Open tickets of the same category, recent, at (about) the same place.

    Filing asks this before storing, so it must not grow with everything open in the
    category: the database narrows the candidates (same district for an address, a band
    of latitude for a point) and returns only the few columns the check needs; the exact
    check below then keeps the matches, and only those are loaded as tickets."""
    now = now or utcnow()
    point = (new.lat, new.long) if new.lat is not None and new.long is not None else None
    district = parse_district(new.district or "")
    places = []
    if point is not None:
        # Within DUPLICATE_RADIUS_M means within that many metres of latitude, too.
        band = math.degrees(DUPLICATE_RADIUS_M / EARTH_RADIUS_M) * 1.01
        places.append(
            and_(
                Ticket.lat.is_not(None),
                Ticket.long.is_not(None),
                Ticket.lat.between(point[0] - band, point[0] + band),
            )
        )
    if new.address:
        by_address = and_(
            Ticket.address != "",
            Ticket.district.is_(None) if district is None else Ticket.district == district,
        )
        if point is not None:  # a ticket with a point of its own is judged by distance only
            by_address = and_(by_address, or_(Ticket.lat.is_(None), Ticket.long.is_(None)))
        places.append(by_address)
    if not places:
        return []
    candidates = session.execute(
        select(Ticket.id, Ticket.lat, Ticket.long, Ticket.address, Ticket.district).where(
            Ticket.category == new.category,
            Ticket.status.not_in([s.value for s in FINAL]),
            Ticket.requested_at >= now - DUPLICATE_WINDOW,
            or_(*places),
        )
    )
    matches = []
    for id_, lat, long, address, ticket_district in candidates:
        if point is not None and lat is not None and long is not None:
            if _distance_m(point, (lat, long)) <= DUPLICATE_RADIUS_M:
                matches.append(id_)
        elif (
            new.address
            and address
            and ticket_district == district
            and (new.address in address or address in new.address)
        ):
            matches.append(id_)
    if not matches:
        return []
    return list(
        session.scalars(
            select(Ticket).where(Ticket.id.in_(matches)).order_by(Ticket.requested_at.desc())
        )
    )
