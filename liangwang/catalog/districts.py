"""Shanghai's districts, and how people name them (黄浦, 浦东, 老闸北 …)."""

from __future__ import annotations

from liangwang.catalog.schema import DISTRICTS

# Names people still use for districts that were merged or renamed.
FORMER_NAMES = {"闸北": "静安区", "卢湾": "黄浦区", "南汇": "浦东新区", "浦东": "浦东新区"}


def parse_district(text: str) -> str | None:
    """The official district named in ``text``, or None."""
    for district in DISTRICTS:
        short = district.removesuffix("新区").removesuffix("区")
        if district in text or short in text:
            return district
    for former, district in FORMER_NAMES.items():
        if former in text:
            return district
    return None
