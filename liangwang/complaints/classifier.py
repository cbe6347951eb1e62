"""Which kind of problem a citizen describes, from everyday words.

People rarely use a category's own words: "窗口让我跑了三趟还没办成" is 办事难 without
saying so, and the recogniser turns 路灯 into 路都. So the category is chosen by a small
multinomial naive Bayes model over the description's character n-grams (1–3) and its
toneless syllables and syllable pairs (liangwang/sounds.py: a misheard word still shares
its sounds), trained on how citizens describe each kind of problem
(data/complaints/examples.yml) together with each category's own name, description and
keywords, which stay as features. It trains in milliseconds when the categories load.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping

from liangwang.sounds import normalize, sound_grams

SMOOTHING = 0.3  # additive smoothing of each gram's count per category
# Sure enough: the likeliest category at least e³ ≈ 20 times likelier than the next. Below
# it ("那个事情太气人了" says nothing of the kind of problem) the citizen is asked.
MIN_LOG_MARGIN = 3.0
SOUND_MARK = "音"  # a syllable gram never meets a character gram


def features(text: str) -> Counter[str]:
    chars = normalize(text)
    found: Counter[str] = Counter()
    for size in (1, 2, 3):
        found.update(chars[i : i + size] for i in range(len(chars) - size + 1))
    found.update(f"{SOUND_MARK}{gram}" for gram in sound_grams(chars).elements())
    return found


class CategoryModel:
    def __init__(self, examples: Mapping[str, Iterable[str]]) -> None:
        """``examples``: for each category code, texts of that category."""
        self._counts: dict[str, Counter[str]] = {}
        documents: Counter[str] = Counter()
        for code, texts in examples.items():
            counts = self._counts.setdefault(code, Counter())
            for text in texts:
                counts.update(features(text))
                documents[code] += 1
        total = sum(documents.values())
        self._prior = {code: math.log(documents[code] / total) for code in self._counts}
        self._vocabulary = {gram for counts in self._counts.values() for gram in counts}
        self._totals = {
            code: sum(counts.values()) + SMOOTHING * len(self._vocabulary)
            for code, counts in self._counts.items()
        }

    def classify(self, text: str) -> str | None:
        """The likeliest category, or None when the words do not tell it apart."""
        (best, first), (_, second) = sorted(self._logs(text).items(), key=lambda p: -p[1])[:2]
        return best if first - second >= MIN_LOG_MARGIN else None

    def log_odds(self, text: str, label: str, against: str) -> float:
        """How much likelier ``label`` is than ``against`` for ``text``, as a natural log."""
        logs = self._logs(text)
        return logs[label] - logs[against]

    def scores(self, text: str) -> list[tuple[str, float]]:
        """Every category with its probability for ``text``, the likeliest first."""
        logs = self._logs(text)
        top = max(logs.values())
        weights = {code: math.exp(value - top) for code, value in logs.items()}
        total = sum(weights.values())
        return sorted(
            ((code, weight / total) for code, weight in weights.items()), key=lambda p: -p[1]
        )

    def _logs(self, text: str) -> dict[str, float]:
        """Each category's log probability for ``text``, up to a constant. Grams never
        seen in training say nothing either way."""
        grams = {g: n for g, n in features(text).items() if g in self._vocabulary}
        return {
            code: self._prior[code]
            + sum(
                n * math.log((counts[g] + SMOOTHING) / self._totals[code]) for g, n in grams.items()
            )
            for code, counts in self._counts.items()
        }
