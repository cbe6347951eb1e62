"""Personal data as shown to those who need less than all of it: staff pages by default
(a click, itself audited, reveals it) and Open311's public feed.

Phone numbers keep their first three and last four digits (138****8000: enough to tell
two callers apart and to confirm one on the phone), identity card numbers their first
six (the region) and the last one; an address is cut at its road."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# Up to the first road-like word: 路, 街, 大道, 公路, 巷, 弄 (a 弄 is a lane of houses).
_ROAD = re.compile(r"^.*?(?:大道|公路|路|街|巷|弄)")
# A resident identity card number (18 characters, the last may be X), or a phone number
# of 7 digits or more, optionally with +86 and spaces or dashes between digit groups.
_ID_NUMBER = re.compile(r"(?<!\d)(\d{6})\d{11}([\dXx])(?!\d)")
_PHONE = re.compile(r"(?<!\d)(?:\+?86[ -]?)?\d(?:[ -]?\d){6,13}(?!\d)")
HIDDEN = "****"


def mask_phone(number: str | None) -> str:
    digits = re.sub(r"\D", "", number or "")
    if len(digits) >= 11:
        digits = digits[-11:]
        return f"{digits[:3]}{HIDDEN}{digits[-4:]}"
    return f"{HIDDEN}{digits[-2:]}" if digits else ""


def mask_text(text: str | None) -> str:
    """Free text (a description, a transcript, a conversation id) with identity card and
    phone numbers in it masked; everything else as it was."""
    text = _ID_NUMBER.sub(lambda m: f"{m.group(1)}{'*' * 11}{m.group(2)}", text or "")
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


def without_password(url: str) -> str:
    """A URL as an operator may see it: its password replaced ("postgresql://app:***@db")."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    host = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{HIDDEN}@{host}"))


def coarse_address(address: str | None, district: str | None) -> str | None:
    """The address as far as its road ("杨浦区国和路100号门口" → "杨浦区国和路"): enough to
    see where problems cluster, not which door a citizen lives behind."""
    road = _ROAD.match(address or "")
    return road.group(0) if road else district


def road_only(address: str | None) -> str:
    """An address for a page that shows the district beside it: the road, or a mark that
    there is more."""
    if not address:
        return ""
    road = _ROAD.match(address)
    return f"{road.group(0)}{HIDDEN}" if road else HIDDEN


class Shown:
    """What one staff page shows of personal data: masked, unless the member clicked to
    reveal it (and that click was audited)."""

    def __init__(self, revealed: bool = False) -> None:
        self.revealed = revealed

    def phone(self, number: str | None) -> str:
        return (number or "") if self.revealed else mask_phone(number)

    def text(self, text: str | None, *addresses: str | None) -> str:
        """Free text; where it repeats one of ``addresses`` word for word (a citizen's
        description often holds their own address), that is cut at the road too."""
        if self.revealed:
            return text or ""
        masked = mask_text(text)
        for address in filter(None, addresses):
            masked = masked.replace(mask_text(address), road_only(address))
        return masked

    def address(self, address: str | None) -> str:
        return (address or "") if self.revealed else road_only(address)
