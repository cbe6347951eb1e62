"""How long to wait for more once the caller falls silent: the words so far decide.

A fixed end-of-turn silence must suit the slowest speaker, so every caller waits that long
for every answer. The call loop already decodes during the closing silence (the preview);
what it heard then sets the patience for the rest of that silence:

- words that promise more — a trailing comma, a filler or a connective (嗯, 那个, 然后,
  但是…), or an opener (喂你好, 我想问一下) — get the *hesitant* patience, longer than the
  default: an older caller gathering their thoughts is not cut off;
- a finished request or question (我想办张敬老卡, 要带什么材料) gets the *quick* patience,
  so the answer comes sooner;
- but where ending early would put words in the wrong place, the default is the least:
  the dialogue marks those prompts with what it expects — a yes/no confirmation ("对……但是
  地址不对" must not file the complaint), a description, an address or a time (the rest
  would land in the next question's slot) — or asks for a number read in groups;
- nothing heard: the default.

Pure functions of text, so the rules are tested without audio.
"""

from __future__ import annotations

import enum
import re

from liangwang.conversation import Expect

# Expectations (``custom: {expect: …}`` on the dialogue's prompts) whose answers must not be
# cut short: a confirmation, or free text that fills one slot of a form.
CAREFUL_EXPECTATIONS = frozenset({Expect.yes_no, Expect.complaint, Expect.address, Expect.time})
# Endings that promise more words: fillers, connectives, openers, an unfinished "I want…".
UNFINISHED_ENDINGS = (
    "嗯", "呃", "啊", "哦", "那个", "这个", "就是", "就是说", "然后", "还有", "另外",
    "但是", "可是", "不过", "因为", "所以", "而且", "如果", "的话", "和", "跟", "还是", "或者",
    "我想", "我要", "想", "要", "请问", "问一下", "问问", "喂", "你好", "您好", "是这样",
)  # fmt: skip
_CLOSING = re.compile(r"[。.？?！!\s]+$")
_TRAILING_PAUSE = re.compile(r"[，,、…~～-]\s*$")


class Patience(enum.Enum):
    QUICK = "quick"
    DEFAULT = "default"
    HESITANT = "hesitant"


def judge(words: str, *, careful: bool) -> Patience:
    """The patience for the silence after ``words`` (the turn so far, as recognised)."""
    if _TRAILING_PAUSE.search(words):
        return Patience.HESITANT
    text = _CLOSING.sub("", words.strip())
    if not text:
        return Patience.DEFAULT
    if text.endswith(UNFINISHED_ENDINGS):
        return Patience.HESITANT
    return Patience.DEFAULT if careful else Patience.QUICK
