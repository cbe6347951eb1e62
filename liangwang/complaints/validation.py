"""Checks on what citizens give us, and digits as people say them on the phone."""

from __future__ import annotations

import re
import unicodedata

MAX_DESCRIPTION = 4000

# 幺 (yāo) is how 1 is said in phone numbers; 洞 is 0 in radio/phone speech; 两 is 2.
_SPOKEN_DIGITS = {
    "零": "0", "〇": "0", "洞": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3",
    "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "拐": "7", "九": "9", "勾": "9",
}  # fmt: skip
MOBILE = re.compile(r"^1[3-9]\d{9}$")
SHANGHAI_LANDLINE = re.compile(r"^(021)?[2-9]\d{7}$")


class InvalidInput(ValueError):
    """``code`` names the problem; wording lives with whoever shows it to a person."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


def spoken_digits(text: str) -> str:
    """The digits in what was said or typed: "幺三八 洞洞两一" → "13800 21"→"1380021"."""
    out = []
    for char in unicodedata.normalize("NFKC", text):
        if char.isdigit():
            out.append(char)
        elif char in _SPOKEN_DIGITS:
            out.append(_SPOKEN_DIGITS[char])
    return "".join(out)


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


# Words with 一 in them that are not digits ("查一下", "一个一个地说").
_NOT_DIGITS = ("一下", "一个", "一点", "一些", "一共", "一起", "一样")


def ticket_number(text: str) -> str | None:
    """A six-digit ticket number typed or said digit by digit, if the text holds one."""
    typed = re.sub(r"\D", "", unicodedata.normalize("NFKC", text))
    if len(typed) == 6:
        return typed
    for words in _NOT_DIGITS:
        text = text.replace(words, "")
    spoken = spoken_digits(text)
    return spoken if len(spoken) == 6 else None


def grouped(digits: str) -> str:
    """Digits for reading back slowly, in groups: 13800138000 → "138 0013 8000"."""
    if len(digits) == 11:
        return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    return " ".join(digits[i : i + 3] for i in range(0, len(digits), 3))
