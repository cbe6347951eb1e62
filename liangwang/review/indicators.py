"""The city's indicators (一网统管) over a span of days, computed in the database: for the
dashboard, its JSON API and its CSV export alike.

- conversations per day by channel; containment (ended without a person), fallback and
  handoff rates — from the review tables;
- the services asked about most — from the guide's state as the dialogue set it;
- complaints by category and by district, SLA compliance (answered or closed by the
  deadline, of those whose deadline has passed or that were answered), the average
  好差评 rating and its trend by week — from the tickets and their audit trail;
- the phone line's recognition confidence and first-reply latency — from the calls.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liangwang.complaints.models import Status, Ticket, TicketAction, TicketEvent
from liangwang.db import aware, utcnow
from liangwang.review.models import ReviewConversation, ReviewTurn
from liangwang.transcripts import Call, CallTurn

ANSWERED = (TicketAction.answer.value, TicketAction.close.value)
NOT_COUNTED = (Status.withdrawn.value, Status.merged.value)
GUIDE_SLOT = "guide"  # the guide's state: {"service_id": …}


@dataclass
class Indicators:
    since: date
    until: date
    conversations_by_day: dict[str, dict[str, int]] = field(default_factory=dict)
    conversations: int = 0
    containment: float | None = None  # share ended without a person
    fallback_rate: float | None = None
    handoff_rate: float | None = None
    top_services: list[tuple[str, int]] = field(default_factory=list)
    complaints_by_category: dict[str, int] = field(default_factory=dict)
    complaints_by_district: dict[str, int] = field(default_factory=dict)
    sla_compliance: float | None = None
    average_rating: float | None = None
    rating_by_week: dict[str, float] = field(default_factory=dict)
    phone_confidence: float | None = None  # the recogniser's, averaged over caller turns
    phone_first_reply_ms_p50: float | None = None

    def as_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, default=str)

    def as_rows(self) -> list[tuple[str, str, str]]:
        """(indicator, key, value) rows for a CSV file."""
        rows: list[tuple[str, str, str]] = []
        for day, counts in self.conversations_by_day.items():
            rows += [("conversations", f"{day} {ch}", str(n)) for ch, n in counts.items()]
        for name in ("conversations", "containment", "fallback_rate", "handoff_rate",
                     "sla_compliance", "average_rating", "phone_confidence",
                     "phone_first_reply_ms_p50"):  # fmt: skip
            value = getattr(self, name)
            rows.append((name, "", "" if value is None else f"{value:.4g}"))
        rows += [("service", service, str(n)) for service, n in self.top_services]
        rows += [("category", k, str(n)) for k, n in self.complaints_by_category.items()]
        rows += [("district", k, str(n)) for k, n in self.complaints_by_district.items()]
        rows += [("rating_week", k, f"{v:.3g}") for k, v in self.rating_by_week.items()]
        return rows


def _span(since: date, until: date) -> tuple[datetime, datetime]:
    """From the start of ``since`` to the end of ``until`` (UTC)."""
    end = datetime.combine(until, time.min, UTC) + timedelta(days=1)
    return datetime.combine(since, time.min, UTC), end


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def compute(
    session: Session, since: date, until: date, service_names: dict[str, str]
) -> Indicators:
    start, end = _span(since, until)
    found = Indicators(since, until)
    _conversations(session, start, end, found)
    _services(session, start, end, found, service_names)
    _complaints(session, start, end, found)
    _phone(session, start, end, found)
    return found


def _conversations(session: Session, start: datetime, end: datetime, found: Indicators) -> None:
    c = ReviewConversation
    rows = session.execute(
        select(c.started_at, c.channel, c.fell_back, c.handed_over).where(
            c.started_at >= start, c.started_at < end, c.citizen_turns > 0
        )
    ).all()
    by_day: dict[str, Counter[str]] = {}
    for started, channel, _fell, _handed in rows:
        by_day.setdefault(aware(started).date().isoformat(), Counter())[channel] += 1
    found.conversations_by_day = {day: dict(n) for day, n in sorted(by_day.items())}
    found.conversations = len(rows)
    handed = sum(1 for r in rows if r.handed_over)
    found.containment = _share(len(rows) - handed, len(rows))
    found.fallback_rate = _share(sum(1 for r in rows if r.fell_back), len(rows))
    found.handoff_rate = _share(handed, len(rows))


def _services(
    session: Session, start: datetime, end: datetime, found: Indicators, names: dict[str, str]
) -> None:
    t = ReviewTurn
    rows = session.execute(
        select(t.conversation_id, t.detail).where(
            t.kind == "slot", t.text == GUIDE_SLOT, t.at >= start, t.at < end
        )
    )
    asked: set[tuple[str, str]] = set()  # (conversation, service): once per conversation
    for conversation_id, detail in rows:
        try:
            value = (json.loads(detail or "{}").get("value")) or {}
        except ValueError:
            continue
        service = value.get("service_id") if isinstance(value, dict) else None
        if service:
            asked.add((conversation_id, str(service)))
    counts = Counter(service for _, service in asked)
    found.top_services = [(names.get(s, s), n) for s, n in counts.most_common(10)]


def _complaints(session: Session, start: datetime, end: datetime, found: Indicators) -> None:
    filed = select(Ticket).where(
        Ticket.requested_at >= start, Ticket.requested_at < end, Ticket.status.not_in(NOT_COUNTED)
    )
    tickets = list(session.scalars(filed))
    found.complaints_by_category = dict(Counter(t.category for t in tickets).most_common())
    found.complaints_by_district = dict(Counter(t.district or "" for t in tickets).most_common())
    answered_at = dict(
        session.execute(
            select(TicketEvent.ticket_id, func.min(TicketEvent.at))
            .where(
                TicketEvent.action.in_(ANSWERED), TicketEvent.ticket_id.in_([t.id for t in tickets])
            )
            .group_by(TicketEvent.ticket_id)
        ).all()
    )
    now, due, met = utcnow(), 0, 0
    for ticket in tickets:
        answered = answered_at.get(ticket.id)
        deadline = aware(ticket.expected_at)
        if answered is None and deadline > now:
            continue  # still within its time: neither met nor missed yet
        due += 1
        met += answered is not None and aware(answered) <= deadline
    found.sla_compliance = _share(met, due)
    rated = [t for t in tickets if t.rating is not None]
    found.average_rating = sum(t.rating or 0 for t in rated) / len(rated) if rated else None
    weeks: dict[str, list[int]] = {}
    for ticket in rated:
        year, week, _ = aware(ticket.requested_at).isocalendar()
        weeks.setdefault(f"{year}-W{week:02d}", []).append(ticket.rating or 0)
    found.rating_by_week = {w: sum(r) / len(r) for w, r in sorted(weeks.items())}


def _phone(session: Session, start: datetime, end: datetime, found: Indicators) -> None:
    rows = session.execute(
        select(CallTurn.confidence, CallTurn.latency_ms)
        .join(Call, Call.id == CallTurn.call_pk)
        .where(Call.started_at >= start, Call.started_at < end)
    ).all()
    sure = [r.confidence for r in rows if r.confidence is not None]
    waits = sorted(r.latency_ms for r in rows if r.latency_ms is not None)
    found.phone_confidence = sum(sure) / len(sure) if sure else None
    found.phone_first_reply_ms_p50 = float(waits[len(waits) // 2]) if waits else None
