"""Numbers as people say them and as the assistant reads them back: ages in Chinese
numerals, phone and ticket numbers said digit by digit (幺 for 1, 洞 for 0), and digits
grouped for reading aloud slowly."""

from __future__ import annotations

import re
import unicodedata

# 幺 (yāo) is how 1 is said in phone numbers; 洞 is 0 in radio/phone speech; 两 is 2.
_SPOKEN_DIGITS = {
    "零": "0", "〇": "0", "洞": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3",
    "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "拐": "7", "九": "9", "勾": "9",
}  # fmt: skip
_CHINESE_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
                   "六": 6, "七": 7, "八": 8, "九": 9}  # fmt: skip
# 七十二, 八十, 十五, 九: tens, then ones (Chinese numerals up to 99).
_CHINESE_AGE = re.compile(
    r"([一二三四五六七八九两]?)十([一二三四五六七八九]?)|([一二三四五六七八九])"
)


def parse_age(text: str) -> int | None:
    """An age said in digits or Chinese numerals: "72岁", "七十二", "六十八了", "八十"."""
    digits = re.search(r"\d{1,3}", text)
    if digits:
        return int(digits.group())
    match = _CHINESE_AGE.search(text)
    if not match:
        return None
    if match.group(3):
        return _CHINESE_DIGITS[match.group(3)]
    tens = _CHINESE_DIGITS[match.group(1)] if match.group(1) else 1
    ones = _CHINESE_DIGITS[match.group(2)] if match.group(2) else 0
    return tens * 10 + ones


def spoken_digits(text: str) -> str:
    """The digits in what was said or typed: "幺三八 洞洞两一" → "13800 21"→"1380021"."""
    out = []
    for char in unicodedata.normalize("NFKC", text):
        if char.isdigit():
            out.append(char)
        elif char in _SPOKEN_DIGITS:
            out.append(_SPOKEN_DIGITS[char])
    return "".join(out)


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
    """Digits for reading back slowly, in groups: 13800138000 → "138 0013 8000", a ticket
    number 123456 → "123 456". The one way numbers are written for reading aloud."""
    if len(digits) == 11:
        return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    return " ".join(digits[i : i + 3] for i in range(0, len(digits), 3))


# Which of the choices put: the words people use, and the index they mean (-1: the last).
ORDINALS = (("第一", 0), ("第二", 1), ("第三", 2), ("头一个", 0), ("前面", 0), ("后面", -1),
            ("最后", -1), ("1", 0), ("2", 1), ("3", 2))  # fmt: skip


def ordinal(text: str, count: int) -> int | None:
    """The index of the choice ``text`` picks among ``count`` (None: it picks none)."""
    for word, index in ORDINALS:
        if word in text:
            return index % count if count else None
    return None
