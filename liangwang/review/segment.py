"""Chinese text cut into words for full-text search: the same cut when a turn is written
and when staff search, so 路灯 and 敬老卡 match however the sentence around them runs.
The catalog's dictionary (the one Rasa's tokenizer uses) keeps service names whole."""

from __future__ import annotations

import logging
import threading

import jieba

from liangwang.settings import PROJECT_ROOT

CATALOG_WORDS = PROJECT_ROOT / "nlu_data" / "jieba"
_ready = threading.Lock()
_loaded = False
jieba.setLogLevel(logging.WARNING)  # its start-up chatter at INFO


def _load() -> None:
    global _loaded
    with _ready:
        if not _loaded:
            for words in sorted(CATALOG_WORDS.glob("*.txt")):
                jieba.load_userdict(str(words))
            _loaded = True


def words(text: str) -> list[str]:
    """The words of ``text``, long words also as their parts (jieba's search mode)."""
    _load()
    return [w for w in (p.strip() for p in jieba.cut_for_search(text)) if _has_words(w)]


def _has_words(piece: str) -> bool:
    return any(ch.isalnum() for ch in piece)  # punctuation is never searched for


def indexed(text: str) -> str:
    return " ".join(words(text))
