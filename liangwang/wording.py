"""Render responses from bot/domain.yml outside Rasa (pushed messages): the wording still
lives in the domain file, never in Python."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from liangwang.guide import Say, fragments_from_responses
from liangwang.settings import PROJECT_ROOT

DOMAIN = PROJECT_ROOT / "bot" / "domain.yml"


@cache
def responses(path: Path = DOMAIN) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))["responses"]
    return data


def fragments() -> dict[str, str]:
    return fragments_from_responses(responses())


def render(say: Say) -> str:
    return str(responses()[say.response][0]["text"]).format(**say.vars)
