"""What the assistant says, by name: ``Say`` names a response of bot/domain.yml with its
variables, and ``render`` fills it in outside Rasa (pushed messages, the phone line). The
wording lives in the domain file, never in Python."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from liangwang.settings import PROJECT_ROOT

DOMAIN = PROJECT_ROOT / "bot" / "domain.yml"


@dataclass(frozen=True)
class Say:
    response: str
    vars: dict[str, str] = field(default_factory=dict)
    buttons: list[dict[str, str]] = field(default_factory=list)


@cache
def responses(path: Path = DOMAIN) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))["responses"]
    return data


@cache
def domain_intents(path: Path = DOMAIN) -> tuple[str, ...]:
    """The intents the domain declares (what a reviewer may say a turn meant)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    declared = document.get("intents") or ()
    return tuple(str(next(iter(i))) if isinstance(i, dict) else str(i) for i in declared)


def fragments() -> dict[str, str]:
    return fragments_from_responses(responses())


def render(say: Say) -> str:
    return str(responses()[say.response][0]["text"]).format(**say.vars)


FRAGMENT_PREFIX = "utter_fragment_"


def fragments_from_responses(responses: Mapping[str, Any]) -> dict[str, str]:
    """Pieces of wording (``utter_fragment_*`` in the domain) used to build longer texts."""
    return {
        name.removeprefix(FRAGMENT_PREFIX): str(variants[0]["text"])
        for name, variants in responses.items()
        if name.startswith(FRAGMENT_PREFIX)
    }
