"""The catalog file format (``liangwang-catalog/1``), as pydantic models.

A file holds offices and service guides. Every service has one standard guide; any
difference between districts is stated explicitly in ``district_variations``.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from liangwang.districts import DISTRICTS


def _known_district(name: str) -> str:
    if name not in DISTRICTS:
        raise ValueError(f"unknown district {name!r}; one of: {', '.join(DISTRICTS)}")
    return name


District = Annotated[str, AfterValidator(_known_district)]

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True)]
Ident = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+([-_][a-z0-9]+)*$", max_length=80)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MaterialForm(StrEnum):
    original = "original"
    copy = "copy"
    original_and_copy = "original_and_copy"
    electronic = "electronic"


class Material(Strict):
    name: Text
    form: MaterialForm
    count: int = Field(ge=1, le=20)
    notes: OptionalText = ""


class Online(Strict):
    available: bool
    channel: OptionalText = ""
    notes: OptionalText = ""


class TimeLimit(Strict):
    legal_days: int | None = Field(default=None, ge=0, le=365)
    promised_days: int | None = Field(default=None, ge=0, le=365)
    notes: OptionalText = ""


class Proxy(Strict):
    allowed: bool
    rules: Text
    documents: list[Text] = []


class EligibilityQuestion(Strict):
    question: Text
    kind: Literal["yes_no", "age_at_least"]
    expect: bool | None = None
    min_age: int | None = Field(default=None, ge=0, le=120)
    fail_reason: Text

    @model_validator(mode="after")
    def _kind_fields(self) -> EligibilityQuestion:
        if self.kind == "yes_no" and self.expect is None:
            raise ValueError("yes_no questions need 'expect'")
        if self.kind == "age_at_least" and self.min_age is None:
            raise ValueError("age_at_least questions need 'min_age'")
        return self


class DistrictVariation(Strict):
    district: District
    notes: Text
    extra_materials: list[Material] = []


class Office(Strict):
    id: Ident
    kind: Ident
    district: District
    name: Text
    address: Text
    hours: Text
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9\-—－ ]{5,20}$")]
    verified: bool = False


class Service(Strict):
    id: Ident
    name: Text
    aliases: list[Text] = []
    colloquial: list[Text] = []
    # How citizens describe it without naming it: what they get or the situation they are
    # in ("老人坐公交不要钱"). Used by search and to generate NLU examples; not names.
    described_as: list[Text] = []
    category: Text
    department: Text
    target_group: Text
    summary: Text
    conditions: list[Text]
    materials: list[Material]
    steps: list[Text] = Field(min_length=1)
    online: Online
    office_kind: Ident | None
    time_limit: TimeLimit
    fee: Text
    proxy: Proxy
    elderly_notes: OptionalText = ""
    eligibility: list[EligibilityQuestion] = []
    district_variations: list[DistrictVariation] = []
    updated: date

    def all_names(self) -> list[str]:
        return [self.name, *self.aliases, *self.colloquial]

    def search_texts(self) -> list[str]:
        """Everything search matches a query against: the names and the descriptions."""
        return [*self.all_names(), *self.described_as]


class CatalogFile(Strict):
    format: Literal["liangwang-catalog/1"]
    sample: bool = False
    updated: date | None = None
    offices: list[Office] = []
    services: list[Service]
