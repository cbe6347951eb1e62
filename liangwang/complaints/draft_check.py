"""Whether a phone caller knows what an unfinished complaint (a draft) was about.

A draft is kept under the caller ID it was said from, and a caller ID can be forged
upstream. Before its words are read out, a caller whose number is not proven in this call
says what it was about; the answer counts when it shares a pair of syllables that carry
meaning with the draft's description (路灯 in "上次说路都不亮" against "小区门口路灯不亮"),
compared by sound because the recogniser writes homophones. Words every complaint has
("我要投诉", "上次", "问题") prove nothing and are left out, so a forger must name the matter
itself, which only the person who said it knows.
"""

from __future__ import annotations

import itertools

from liangwang.sounds import FUNCTION_CHARACTERS, normalize, syllables

# Said by anyone asked what their complaint was about, or by anyone about any problem
# near home; no evidence of which complaint it was.
_SAID_BY_ANYONE = (
    "我要投诉", "我要找茬", "我要反映", "投诉", "找茬", "反映", "举报", "问题", "事情",
    "上次", "上回", "那个", "就是", "我说", "说的", "一下", "情况", "我要",
    "我家", "家门口", "门口", "楼下", "小区", "坏了", "好几天", "一直", "没有", "不行",
)  # fmt: skip


def _meaningful_pairs(text: str) -> set[tuple[str, str]]:
    text = normalize(text)
    for words in _SAID_BY_ANYONE:
        text = text.replace(words, " ")
    pairs: set[tuple[str, str]] = set()
    for run in text.split():
        kept = "".join(" " if ch in FUNCTION_CHARACTERS else ch for ch in run)
        for part in kept.split():
            pairs.update(itertools.pairwise(syllables(part)))
    return pairs


def knows_the_matter(description: str, answer: str) -> bool:
    """The answer names something the draft's description says."""
    return bool(_meaningful_pairs(description) & _meaningful_pairs(answer))
