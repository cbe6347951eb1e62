"""Text as it will be spoken: numbers written out in Chinese words, and a reply split into
sentences. Pure functions, shared by the speech engines and their cache."""

from __future__ import annotations

import re

_DIGIT_WORDS = "零一二三四五六七八九"
_PHONE_WORDS = "零幺二三四五六七八九"  # phone/ticket numbers say 幺 for 1, as operators do
_UNITS = ("", "十", "百", "千")
# The words that join numbers when they are read out.
_WORDS = {
    "zero": "零", "two": "两",  # 两千, not 二千
    "point": "点", "minute": "分", "to": "到", "percent": "百分之",
    "year": "年", "month": "月", "day": "日",
}  # fmt: skip
_FULLWIDTH = str.maketrans("０１２３４５６７８９％：．", "0123456789%:.")
_SPEAKABLE = re.compile(r"[0-9A-Za-z\u3400-\u9fff]")


def _digits(run: str, words: str = _PHONE_WORDS) -> str:
    return "".join(words[int(ch)] for ch in run)


def _cardinal(n: int) -> str:
    """0..9999 as a Chinese number: 10 → 十, 105 → 一百零五, 2000 → 两千."""
    if n == 0:
        return _WORDS["zero"]
    text = str(n)
    out: list[str] = []
    pending_zero = False
    for i, ch in enumerate(text):
        digit, place = int(ch), len(text) - 1 - i
        if digit == 0:
            pending_zero = True
            continue
        if pending_zero and out:
            out.append(_WORDS["zero"])
        pending_zero = False
        word = _WORDS["two"] if digit == 2 and place >= 2 else _DIGIT_WORDS[digit]
        if digit == 1 and place == 1 and not out:
            word = ""  # 十二, not 一十二
        out.append(word + _UNITS[place])
    return "".join(out)


def _number(run: str) -> str:
    """A digit run: long runs (phone and ticket numbers) and runs with a leading zero are
    read digit by digit; shorter runs as numbers."""
    if len(run) >= 5 or (len(run) > 1 and run.startswith("0")):
        return _digits(run)
    return _cardinal(int(run))


def _decimal(whole: str, fraction: str | None) -> str:
    spoken = _number(whole)
    return spoken + _WORDS["point"] + _digits(fraction, _DIGIT_WORDS) if fraction else spoken


def _clock(hour: str, minute: str) -> str:
    if minute == "00":
        return _cardinal(int(hour)) + _WORDS["point"]
    # 9:05 → 九点零五分, 9:30 → 九点三十分
    spoken = _digits(minute, _DIGIT_WORDS) if minute.startswith("0") else _cardinal(int(minute))
    return _cardinal(int(hour)) + _WORDS["point"] + spoken + _WORDS["minute"]


_TIME = r"(?:[01]?\d|2[0-4]):[0-5]\d"
_NUMBER_PATTERN = re.compile(
    rf"(?P<range>(?P<t1>{_TIME})\s*[-~～–—]\s*(?P<t2>{_TIME}))"
    r"|(?P<date>(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2}))(?!\d)"
    rf"|(?P<time>{_TIME})(?!\d)"
    r"|(?P<pct>(?P<pw>\d+)(?:\.(?P<pf>\d+))?%)"
    r"|(?P<year>\d{4})(?=年)"
    r"|(?P<pair>(?P<a>\d+)\s*[-~～–—]\s*(?P<b>\d+))"
    r"|(?P<groups>\d{2,4}(?: \d{2,4})+)(?![\d.])"
    r"|(?P<dec>(?P<w>\d+)(?:\.(?P<f>\d+))?)"
)


def _spell(match: re.Match[str]) -> str:
    g = match.group
    if g("range"):
        return _spell_time(g("t1")) + _WORDS["to"] + _spell_time(g("t2"))
    if g("date"):
        year, month, day = _digits(g("y"), _DIGIT_WORDS), int(g("mo")), int(g("d"))
        return (
            year
            + _WORDS["year"]
            + _cardinal(month)
            + _WORDS["month"]
            + _cardinal(day)
            + _WORDS["day"]
        )
    if g("time"):
        return _spell_time(g("time"))
    if g("pct"):
        return _WORDS["percent"] + _decimal(g("pw"), g("pf"))
    if g("year"):
        return _digits(g("year"), _DIGIT_WORDS)  # 2024年 → 二零二四年
    if g("pair"):
        a, b = g("a"), g("b")
        if _number(a) == _cardinal(int(a)) and _number(b) == _cardinal(int(b)):
            return (
                _cardinal(int(a)) + _WORDS["to"] + _cardinal(int(b))
            )  # 1-3个工作日 → 一到三个工作日
        return _number(a) + "，" + _number(b)  # 021-12345678: two digit groups, with a pause
    if g("groups"):
        # "135 2185 9992", "233 446": a phone or ticket number written in groups for the
        # ear: digit by digit, with a pause between the groups.
        parts = g("groups").split(" ")
        if sum(len(p) for p in parts) >= 5:
            return "，".join(_digits(p) for p in parts)
        return " ".join(_number(p) for p in parts)
    return _decimal(g("w"), g("f"))


def _spell_time(text: str) -> str:
    hour, minute = text.split(":")
    return _clock(hour, minute)


def read_numbers(text: str) -> str:
    """Write ASCII (and full-width) digits out in Chinese so espeak reads them in Mandarin
    (it reads 12345 as "十二千…" and 50% half in English). Runs of 5+ digits, such as phone
    and ticket numbers, are read digit by digit with 幺 for 1; shorter runs as numbers;
    also times (9:30 → 九点三十分), ranges (9:00-17:00, 1-3 → 一到三), phone numbers with an
    area code, dates, years, percentages and decimals."""
    return _NUMBER_PATTERN.sub(_spell, text.translate(_FULLWIDTH))


def is_speakable(text: str) -> bool:
    """Whether ``text`` has anything to say: a digit, a Latin letter or a Chinese character
    (punctuation and spaces alone are silence)."""
    return _SPEAKABLE.search(text) is not None


_SENTENCE_END = re.compile(r"(?<=[。！？；，!?;\n])|(?<=,)(?!\d)")  # not inside 1,000
MIN_SENTENCE_CHARS = 4


def split_sentences(text: str) -> list[str]:
    """Split at 。！？；， (and ASCII equivalents), keeping the punctuation so espeak pauses
    naturally. Pieces with fewer than ``MIN_SENTENCE_CHARS`` speakable characters ("好，")
    are joined to the next piece rather than spoken as a choppy fragment of their own."""
    pieces: list[str] = []
    carry = ""
    for raw in _SENTENCE_END.split(text):
        piece = carry + raw.strip()
        if len(_SPEAKABLE.findall(piece)) < MIN_SENTENCE_CHARS:
            carry = piece
            continue
        pieces.append(piece)
        carry = ""
    if pieces:
        pieces[-1] += carry  # a short tail ("嗯。") goes with the sentence before it
    elif is_speakable(carry):
        pieces.append(carry)
    return pieces
