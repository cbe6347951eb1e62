"""The state of one complaint's intake: which question is being asked, what the citizen
has said so far, and one message from them. Stored as a plain dict in a Rasa slot and as a
draft in the database after every turn."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Step(StrEnum):
    """Where a complaint's intake is: the question being asked, or how it ended."""

    resume_check = "resume_check"  # a caller ID's draft: what was it about? (proof first)
    resume_offer = "resume_offer"  # a saved draft: continue it?
    description = "description"
    category = "category"  # the inferred category: right?
    category_name = "category_name"  # which category, then
    district = "district"
    address = "address"
    when = "when"
    phone = "phone"
    contact_public = "contact_public"  # may the department see the contact?
    photo = "photo"  # Telegram only
    readback = "readback"
    correct_which = "correct_which"  # which part of the read-back is wrong
    duplicate = "duplicate"  # merge with a nearby report (并单)?
    done = "done"  # filed
    gave_up = "gave_up"  # nothing filed; the draft is kept


# The questions in the order they are asked (each may be skipped when already answered).
ORDER = (
    Step.description, Step.category, Step.district, Step.address, Step.when, Step.phone,
    Step.contact_public, Step.photo, Step.readback,
)  # fmt: skip
FINISHED = frozenset({Step.done, Step.gave_up})


@dataclass
class IntakeState:
    step: Step = Step.description
    category: str | None = None
    description: str = ""
    district: str | None = None
    address: str = ""
    lat: float | None = None
    long: float | None = None
    when: str | None = None
    phone: str | None = None
    contact_public: bool | None = None
    media_url: str | None = None
    reasks: int = 0
    correcting: bool = False  # answering one field, then back to the read-back
    duplicates: list[list[str]] = field(default_factory=list)  # [[number, address], …]
    idempotency_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    filed_number: str | None = None
    merged_into: str | None = None
    sla_hours: int | None = None
    resume_step: Step | None = None  # set while offering to continue a saved draft
    call_id: str | None = None  # on the phone: the call the draft was last saved in

    def __post_init__(self) -> None:
        # A slot or a saved draft gives the steps back as plain strings.
        self.step = Step(self.step)
        self.resume_step = Step(self.resume_step) if self.resume_step else None

    @classmethod
    def from_dict(cls, value: Any) -> IntakeState | None:
        if not isinstance(value, dict) or value.get("step") not in set(Step):
            return None
        return cls(**{k: v for k, v in value.items() if k in cls.__dataclass_fields__})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["step"] = str(self.step)
        data["resume_step"] = str(self.resume_step) if self.resume_step else None
        return data


@dataclass(frozen=True)
class Message:
    text: str
    intent: str = ""
    lat: float | None = None  # a location shared on Telegram
    long: float | None = None
    media_url: str | None = None  # a photo sent on Telegram
