"""Whether a caller is who their caller ID says, before their tickets are read out or
withdrawn on the phone line.

A SIP ``From`` number can be forged, so on the phone it only says whose tickets to ask
about. The caller proves they own them by saying something a forger would not know: the
six-digit number of one of the tickets (told when it was filed), or the last four digits
of the contact number given in a complaint — but only a contact number other than the
caller ID itself, whose digits the forger already has. A caller who remembers neither is
offered a person, who calls the number back: a call we place reaches the real owner.
"""

from __future__ import annotations

from collections.abc import Sequence

from liangwang.complaints.models import Ticket
from liangwang.spoken import spoken_digits, ticket_number

LAST_DIGITS = 4


def proven_ticket(said: str, caller: str | None, tickets: Sequence[Ticket]) -> Ticket | None:
    """The ticket among ``tickets`` (the caller ID's, newest first) that what the caller
    ``said`` proves theirs, or None."""
    number = ticket_number(said)
    if number is not None:
        return next((t for t in tickets if t.number == number), None)
    digits = spoken_digits(said)
    if len(digits) != LAST_DIGITS:
        return None
    return next(
        (
            t
            for t in tickets
            if t.contact_phone
            and not _same_number(t.contact_phone, caller or "")
            and spoken_digits(t.contact_phone).endswith(digits)
        ),
        None,
    )


def _same_number(a: str, b: str) -> bool:
    """The same line, with or without a country or trunk prefix (+86, 0086)."""
    a, b = spoken_digits(a), spoken_digits(b)
    shorter, longer = sorted((a, b), key=len)
    return len(shorter) >= 7 and longer.endswith(shorter)
