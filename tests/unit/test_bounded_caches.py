"""Caches keyed by what strangers send stay bounded: no one can grow our memory by sending
distinct texts."""

from __future__ import annotations

from liangwang.sounds import SYLLABLE_CACHE_SIZE, syllables


def test_the_syllable_cache_keeps_at_most_its_size() -> None:
    for n in range(SYLLABLE_CACHE_SIZE + 500):
        syllables(f"第{n}个问题")
    assert syllables.cache_info().currsize <= SYLLABLE_CACHE_SIZE
