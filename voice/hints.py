"""Phrases a caller is likely to say, from the catalog: passed to the recogniser so short
answers (a service name, a district, 对/不对) are recognised reliably."""

from __future__ import annotations

from collections.abc import Iterable

from liangwang.catalog.schema import DISTRICTS, Service

# Short answers to our questions, and the words that must always get through.
ANSWERS = (
    "是", "是的", "对", "对的", "好", "好的", "没错", "可以", "行",
    "不是", "不对", "错了", "不要", "不用了", "不留", "跳过", "没有",
    "转人工", "再说一遍", "说慢一点", "查进度", "我要投诉", "办事指南", "再见",
)  # fmt: skip
ALWAYS = ("转人工", "再说一遍", "说慢一点")


def recognition_hints(services: Iterable[Service]) -> tuple[str, ...]:
    phrases: list[str] = []
    for service in services:
        phrases += [service.name, *service.aliases, *service.colloquial]
    for district in DISTRICTS:
        # People say 静安 as often as 静安区; 浦东 for 浦东新区.
        phrases += [district, district.removesuffix("区").removesuffix("新")]
    phrases += ANSWERS
    return tuple(dict.fromkeys(p for p in phrases if p))
