"""NLU examples of reporting a problem, generated from how citizens describe each kind of
problem (data/complaints/examples.yml, which also trains the category model): an angry or
tired description in everyday words starts a complaint, whatever its category.

Written to nlu_data/generated/complaints.yml by `liangwang catalog nlu`; a test keeps it
up to date. A few examples per category are enough for the intent; all of them train the
category model.
"""

from __future__ import annotations

from collections.abc import Mapping

import yaml

from liangwang.settings import PROJECT_ROOT

EXAMPLES_FILE = PROJECT_ROOT / "data" / "complaints" / "examples.yml"

GENERATED_NLU = PROJECT_ROOT / "nlu_data" / "generated" / "complaints.yml"
HEADER = "# Generated from data/complaints/examples.yml by `liangwang catalog nlu`. Do not edit.\n"
PER_CATEGORY = 20


def generate(examples: Mapping[str, list[str]]) -> str:
    """The report_problem examples: every category's first ``PER_CATEGORY`` examples."""
    lines = [text for code in sorted(examples) for text in examples[code][:PER_CATEGORY]]
    block = "".join(f"      - {' '.join(line.split())}\n" for line in dict.fromkeys(lines))
    return f'{HEADER}version: "3.1"\nnlu:\n  - intent: report_problem\n    examples: |\n{block}'


def load_examples() -> dict[str, list[str]]:
    """How citizens describe each kind of problem, by category code (none: empty)."""
    if not EXAMPLES_FILE.exists():
        return {}
    examples: dict[str, list[str]] = yaml.safe_load(EXAMPLES_FILE.read_text(encoding="utf-8"))[
        "examples"
    ]
    return examples


def write(text: str) -> None:
    GENERATED_NLU.parent.mkdir(parents=True, exist_ok=True)
    GENERATED_NLU.write_text(text, encoding="utf-8")
