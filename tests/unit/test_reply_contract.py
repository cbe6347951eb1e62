"""The domain's channel instructions are a closed vocabulary: ``custom: {expect: …}`` values
are ``Expect`` members and ``custom: {voice: …}`` values ``VoiceCue`` members.

A typo in bot/domain.yml would otherwise be read as "nothing in particular" by the phone
line (no hints, no care, no transfer); a member no response uses is a rule nobody can
reach. Either way the enums and the domain have drifted apart."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
import yaml

from liangwang.conversation import Expect, VoiceCue

DOMAIN = Path(__file__).resolve().parents[2] / "bot" / "domain.yml"


def customs() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every response variant's ``custom`` dict, with the response's name."""
    domain = yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))
    for name, variants in domain["responses"].items():
        for variant in variants:
            custom = variant.get("custom")
            if custom is not None:
                assert isinstance(custom, dict), name
                yield name, custom


def used(key: str) -> dict[str, list[object]]:
    found: dict[str, list[object]] = {}
    for name, custom in customs():
        if key in custom:
            found.setdefault(name, []).append(custom[key])
    return found


@pytest.mark.parametrize(("key", "vocabulary"), [("expect", Expect), ("voice", VoiceCue)])
def test_every_value_in_the_domain_is_a_member(key: str, vocabulary: type[StrEnum]) -> None:
    members = {member.value for member in vocabulary}
    unknown = {
        name: value
        for name, values in used(key).items()
        for value in values
        if not isinstance(value, str) or value not in members
    }
    assert not unknown, f"custom.{key} outside {vocabulary.__name__}: {unknown}"


@pytest.mark.parametrize(("key", "vocabulary"), [("expect", Expect), ("voice", VoiceCue)])
def test_every_member_is_used_by_some_response(key: str, vocabulary: type[StrEnum]) -> None:
    values = {value for values in used(key).values() for value in values}
    unused = [member.value for member in vocabulary if member.value not in values]
    assert not unused, f"{vocabulary.__name__} members no response uses: {unused}"


def test_the_domain_has_channel_instructions_at_all() -> None:
    # Guards the walk itself: if the domain's layout changed, the tests above would pass
    # on nothing.
    assert used("expect") and used("voice")
