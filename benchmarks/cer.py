"""Character error rate: how much of what was said a recogniser got wrong.

Texts are compared as Chinese characters: punctuation and spaces are dropped, and figures
are written as the characters a speaker says (Whisper writes "138" for 一三八).
"""

from __future__ import annotations

import re

_NOT_SPOKEN = re.compile(r"[\s\W_]+")
_FIGURES = str.maketrans("0123456789", "零一二三四五六七八九")


def normalise(text: str) -> str:
    return _NOT_SPOKEN.sub("", text).translate(_FIGURES).lower()


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions), one row at a time."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            cost = 0 if char_a == char_b else 1
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost))
        previous = current
    return previous[-1]


def character_error_rate(pairs: list[tuple[str, str]]) -> float:
    """Errors over all (expected, heard) pairs divided by the expected characters."""
    errors = sum(edit_distance(normalise(said), normalise(heard)) for said, heard in pairs)
    total = sum(len(normalise(said)) for said, _ in pairs)
    return errors / total if total else 0.0
