"""The guide's state between turns (one Rasa slot) and its small vocabularies."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Awaiting(StrEnum):
    """What the guide's last question asked for."""

    service = "service"  # which service
    choice = "choice"  # one of the offered services (or yes/no to a single guess)
    more_steps = "more_steps"  # read the next step?
    district = "district"  # the district, to answer a pending question
    eligibility = "eligibility"  # the answer to an eligibility question


class Answer(StrEnum):
    """How one eligibility answer came out."""

    pass_ = "pass"
    fail = "fail"
    unknown = "unknown"


@dataclass
class GuideState:
    service_id: str | None = None
    previous_service_id: str | None = None
    district: str | None = None
    awaiting: Awaiting | None = None
    step: int = 0  # index of the next step to read
    candidates: list[str] = field(default_factory=list)
    pending_question: str | None = None  # follow-up to answer once we know the district
    eligibility_index: int = 0
    eligibility_results: list[Answer] = field(default_factory=list)
    reasks: int = 0

    def __post_init__(self) -> None:
        # The slot gives the vocabularies back as plain strings.
        self.awaiting = Awaiting(self.awaiting) if self.awaiting else None
        self.eligibility_results = [Answer(r) for r in self.eligibility_results]

    @classmethod
    def from_slot(cls, value: Any) -> GuideState:
        if not isinstance(value, dict):
            return cls()
        known = {k: v for k, v in value.items() if k in cls.__dataclass_fields__}
        try:
            return cls(**known)
        except ValueError:  # a slot from an older version of the guide: start afresh
            return cls()

    def to_slot(self) -> dict[str, Any]:
        data = asdict(self)
        data["awaiting"] = str(self.awaiting) if self.awaiting else None
        data["eligibility_results"] = [str(r) for r in self.eligibility_results]
        return data
