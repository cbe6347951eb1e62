"""Checks on what citizens give us (descriptions, phone numbers)."""

from __future__ import annotations

import re
import unicodedata

from liangwang.spoken import spoken_digits

MAX_DESCRIPTION = 4000

MOBILE = re.compile(r"^1[3-9]\d{9}$")
SHANGHAI_LANDLINE = re.compile(r"^(021)?[2-9]\d{7}$")


class InvalidInput(ValueError):
    """``code`` names the problem; wording lives with whoever shows it to a person."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


def phone_number(text: str) -> str:
    """A mainland mobile number or a Shanghai landline, from speech or keypad."""
    digits = spoken_digits(text)
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if MOBILE.match(digits) or SHANGHAI_LANDLINE.match(digits):
        return digits
    raise InvalidInput("phone_invalid", digits)


def description(text: str) -> str:
    cleaned = text.strip()
    if not cleaned:
        raise InvalidInput("description_empty")
    if not any(unicodedata.category(c)[0] in "LN" for c in cleaned):
        raise InvalidInput("description_no_words")
    if len(cleaned) > MAX_DESCRIPTION:
        raise InvalidInput("description_too_long", str(len(cleaned)))
    return cleaned
