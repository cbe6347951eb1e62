"""The real ticket desk for conversations: filing, 并单, drafts, status in plain words."""

from __future__ import annotations

from sqlalchemy.orm import Session

from liangwang.complaints import tickets
from liangwang.complaints.categories import Categories, load_categories
from liangwang.complaints.intake_state import IntakeState
from liangwang.complaints.models import ComplaintDraft
from liangwang.complaints.tickets import Filed, NewTicket
from liangwang.db import utcnow
from liangwang.handoff import Reason, request_handoff
from liangwang.labels import HANDOFF_NOTES


class StoredDesk:
    def __init__(
        self,
        session: Session,
        actor: str,
        categories: Categories | None = None,
        channel: str = "",
    ) -> None:
        self.session = session
        self.actor = actor  # the conversation's identity
        self.categories = categories or load_categories()
        self.channel = channel

    def duplicates(self, new: NewTicket) -> list[tuple[str, str]]:
        found = tickets.possible_duplicates(self.session, new)
        return [
            (t.number, t.address or t.district or "") for t in found if t.identity != new.identity
        ]

    def file(self, new: NewTicket, merge_into: str | None) -> Filed:
        ticket = tickets.file_ticket(
            self.session, new, actor=self.actor, categories=self.categories
        )
        into = tickets.by_number(self.session, merge_into) if merge_into else None
        if into is not None and ticket.merged_into_id is None and into.is_open:
            tickets.merge(self.session, ticket, into, actor=self.actor)
        sla = self.categories.by_code[ticket.category].sla_hours
        return Filed(ticket.number, sla, into.number if into is not None else None)

    def keep_for_call_back(self, draft: IntakeState) -> None:
        """An unfinished complaint its caller could not prove theirs: staff see its words
        in the handoff list and call the number back."""
        place = " ".join(p for p in (draft.district or "", draft.address) if p)
        note = HANDOFF_NOTES["unfinished_draft"].format(description=draft.description)
        if place:
            note += HANDOFF_NOTES["unfinished_draft_place"].format(place=place)
        request = request_handoff(
            self.session,
            conversation_id=self.actor,
            channel=self.channel,
            last_user_text=note,
            reason=Reason.unfinished_draft,
        )
        if note not in request.last_user_text:  # a handoff was open already: add, not lose
            request.last_user_text = f"{request.last_user_text}\n{note}".strip()


def save_draft(session: Session, identity: str, channel: str, data: dict[str, object]) -> None:
    draft = session.get(ComplaintDraft, identity)
    if draft is None:
        session.add(ComplaintDraft(identity=identity, channel=channel, data=data))
    else:
        draft.data = data
        draft.updated_at = utcnow()


def load_draft(session: Session, identity: str) -> dict[str, object] | None:
    draft = session.get(ComplaintDraft, identity)
    return dict(draft.data) if draft is not None else None


def delete_draft(session: Session, identity: str) -> None:
    draft = session.get(ComplaintDraft, identity)
    if draft is not None:
        session.delete(draft)
