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
from liangwang.complaints.nlu import load_examples
from liangwang.settings import PROJECT_ROOT

OTHER = "other"  # the category of last resort: 12345 sorts it out
CATEGORIES_FILE = PROJECT_ROOT / "data" / "complaints" / "categories.yml"


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
        """The category a description in everyday words belongs to; 其他问题 ("other")
        when its words do not tell (the citizen is asked to confirm either way)."""
        return self.by_code[self._model.classify(text) or OTHER]


@cache
def load_categories(path: Path = CATEGORIES_FILE) -> Categories:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = [Category.model_validate(item) for item in data["categories"]]
    return Categories(items, load_examples())
