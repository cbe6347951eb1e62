"""The telephone keypad (DTMF), turned into what the caller means.

Keys work everywhere speech does:
- ``0`` alone hands over to a person at any moment. When we have just asked for a number
  (phone, ticket number) a ``0`` may begin that number, so there it counts as "person"
  only when pressed alone (followed by ``#`` or a pause).
- ``*`` repeats what we last said.
- Digits then ``#`` (or a pause) send the digits, e.g. a phone or ticket number.
- One digit picks the N-th choice we offered (the reply's buttons: at the start 1 办事指南,
  2 我要找茬, 3 查询进度); with no choices on offer 1 means yes and 2 means no.

Pure and driven by frame ticks, so the timing is exact in tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

AFFIRM = "/affirm"
DENY = "/deny"
HANDOFF = "/handoff"


@dataclass(frozen=True)
class SendText:
    text: str  # what goes to the dialogue: digits, or an intent payload such as /affirm
    keys: str


@dataclass(frozen=True)
class RepeatLast:
    pass


@dataclass(frozen=True)
class HandOver:
    pass


KeyAction = SendText | RepeatLast | HandOver


class Keypad:
    def __init__(self, *, timeout_ticks: int) -> None:
        self._timeout_ticks = timeout_ticks
        self._keys = ""
        self._idle = 0
        self.choices: Sequence[dict[str, Any]] = ()  # the buttons of our last reply
        self.expects_number = False  # our last reply asked for a phone or ticket number

    @property
    def pending(self) -> bool:
        return bool(self._keys)

    def press(self, key: str) -> KeyAction | None:
        if key == "*":
            self._keys = ""
            return RepeatLast()
        if key == "#":
            return self._resolve() if self._keys else None
        if not key.isdigit():
            return None  # A-D: not on an ordinary phone's keypad
        if key == "0" and not self._keys and not self.expects_number:
            return HandOver()
        self._keys += key
        self._idle = 0
        return None

    def flush(self) -> KeyAction | None:
        """The caller started speaking: what they typed so far is complete."""
        return self._resolve() if self._keys else None

    def tick(self) -> KeyAction | None:
        """One 20 ms frame passed; a pause ends what was typed."""
        if not self._keys:
            return None
        self._idle += 1
        return self._resolve() if self._idle >= self._timeout_ticks else None

    def _resolve(self) -> KeyAction:
        keys, self._keys, self._idle = self._keys, "", 0
        if keys == "0":
            return HandOver()
        if len(keys) == 1:
            index = int(keys) - 1
            if self.choices:
                if 0 <= index < len(self.choices):
                    payload = str(self.choices[index].get("payload", ""))
                    return HandOver() if payload == HANDOFF else SendText(payload, keys)
            elif keys in ("1", "2"):
                return SendText(AFFIRM if keys == "1" else DENY, keys)
        return SendText(keys, keys)
