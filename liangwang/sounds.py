"""How Chinese text sounds, for matching what a recogniser wrote (which may be a homophone
of what was said: 设保卡 for 社保卡, 路都 for 路灯) against what we know."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from functools import lru_cache

from pypinyin import Style, lazy_pinyin, pinyin

_NOT_WORD = re.compile(r"[\s\W_]+", re.UNICODE)


# Particles and pointing words: every sentence has them, so two of them in a row shared
# with a service's name ("这个嘛" ~ "打开那个码") are no evidence of that service.
FUNCTION_CHARACTERS = frozenset("的了吗呢吧啊呀嘛哦么个这那")
NO_MATCH = "\0"  # stands in for a function character where runs of matches are counted


def normalize(text: str) -> str:
    """Only the words: punctuation and spaces dropped, Latin letters lower-cased."""
    return _NOT_WORD.sub("", text).lower()


# Catalog names and phrases repeat, citizens' turns rarely do: a bounded cache keeps the
# former and cannot be grown without limit by the latter (any text can be sent).
SYLLABLE_CACHE_SIZE = 4096


@lru_cache(maxsize=SYLLABLE_CACHE_SIZE)
def syllables(text: str) -> tuple[str, ...]:
    """Toneless pinyin, one syllable per character (other runs kept as they are)."""
    return tuple(lazy_pinyin(text, style=Style.NORMAL))


MAX_READINGS = 16  # a name of a few characters has few readings; never let one explode


def readings(text: str) -> set[tuple[str, ...]]:
    """Every toneless reading of a short name, its characters' other readings included:
    闵行 is min-hang (lazy_pinyin says min-xing), 长宁 chang-ning (it says zhang-ning)."""
    found: set[tuple[str, ...]] = {()}
    for options in pinyin(text, style=Style.NORMAL, heteronym=True):
        found = {(*r, o) for r in found for o in dict.fromkeys(options)}
        if len(found) > MAX_READINGS:
            found = set(sorted(found)[:MAX_READINGS])
    return found


def content_only(text: str) -> str:
    """The text with each function character replaced by a mark that matches nothing."""
    return "".join(NO_MATCH if ch in FUNCTION_CHARACTERS else ch for ch in text)


def sound_grams(text: str) -> Counter[str]:
    """Toneless syllables and adjacent syllable pairs of a text."""
    syl = syllables(normalize(text))
    grams = Counter(syl)
    grams.update(f"{a}_{b}" for a, b in itertools.pairwise(syl))
    return grams
