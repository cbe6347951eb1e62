"""Complaint categories, read from data/complaints/categories.yml, and the likely one for
what a citizen said (so the assistant confirms a guess instead of reading a long menu)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict

from liangwang.complaints.classifier import CategoryModel
from liangwang.settings import PROJECT_ROOT

CATEGORIES_FILE = PROJECT_ROOT / "data" / "complaints" / "categories.yml"
# How citizens describe each kind of problem: the category model's training examples.
EXAMPLES_FILE = PROJECT_ROOT / "data" / "complaints" / "examples.yml"


class AttributeValue(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    key: str
    name: str


class Attribute(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str
    description: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool = False
    values: list[AttributeValue] = []


class Category(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str
    name: str
    group: str
    description: str
    department: str
    sla_hours: int
    keywords: list[str]
    attributes: list[Attribute] = []


class Categories:
    def __init__(self, items: list[Category], examples: Mapping[str, list[str]] | None = None):
        """``examples``: how citizens describe each category's problems, by code."""
        self.items = items
        self.by_code = {c.code: c for c in items}
        given = examples or {}
        self._model = CategoryModel(
            {c.code: [c.name, c.description, *c.keywords, *given.get(c.code, ())] for c in items}
        )

    def infer(self, text: str) -> Category | None:
        """The category a short answer names by its words ("是噪声"): the one whose keywords
        cover most of the text (longest matches win)."""
        best: tuple[int, Category] | None = None
        for category in self.items:
            covered = sum(len(k) for k in category.keywords if k in text)
            if covered and (best is None or covered > best[0]):
                best = (covered, category)
        return best[1] if best else None

    def classify(self, text: str) -> Category:
        """The category a description in everyday words most likely belongs to."""
        code, _probability = self._model.scores(text)[0]
        return self.by_code[code]


@cache
def load_categories(path: Path = CATEGORIES_FILE, examples: Path = EXAMPLES_FILE) -> Categories:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    described = (
        yaml.safe_load(examples.read_text(encoding="utf-8"))["examples"]
        if examples.exists()
        else {}
    )
    return Categories([Category.model_validate(item) for item in data["categories"]], described)
