"""Find services from what people actually say.

Signals, strongest first, each with a reason the caller can show or log:

1. a name of the service (official, alias, colloquial) appears in the text;
2. the same *sound*: the pinyin of a name appears in the pinyin of the text, so speech
   recognition homophones still match (设保卡 → 社保卡, 公基金 → 公积金);
3. the same sound with the usual accent confusions (z/zh, c/ch, s/sh, n/l, -n/-ng);
4. part of a name (longest common run of characters, or of syllables);
5. shared words with the service's names and summary (Jieba, catalog dictionary).

Ambiguity is reported, not guessed: when the runner-up is close, callers ask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

from pypinyin import Style, lazy_pinyin

from liangwang.catalog.schema import Service

KIND_WEIGHT = {"official": 1.0, "alias": 0.97, "colloquial": 0.95}
FOUND_AT = 0.45  # below this nothing is considered found
AMBIGUITY_MARGIN = 0.06  # runner-up within this of the best: ask which one

_NOT_WORD = re.compile(r"[\s\W_]+", re.UNICODE)
_FUZZY_RULES = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("ing", "in"), ("eng", "en"), ("ang", "an"))


def normalize(text: str) -> str:
    return _NOT_WORD.sub("", text).lower()


@cache
def syllables(text: str) -> tuple[str, ...]:
    return tuple(lazy_pinyin(text, style=Style.NORMAL))


def _fuzzy(syllable: str) -> str:
    for a, b in _FUZZY_RULES:
        syllable = syllable.replace(a, b)
    return "n" + syllable[1:] if syllable.startswith("l") else syllable


def _joined(seq: tuple[str, ...]) -> str:
    return " " + " ".join(seq) + " "


def _longest_common_run(a: tuple[str, ...] | str, b: tuple[str, ...] | str) -> int:
    best = 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            if x == y:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


@dataclass(frozen=True)
class _Name:
    service_id: str
    text: str
    kind: str
    syl: tuple[str, ...]
    syl_joined: str
    fuzzy_joined: str


@dataclass(frozen=True)
class Candidate:
    service_id: str
    name: str
    score: float
    why: list[str] = field(default_factory=list)


def _partial(run: int, name_len: int, query_len: int) -> float:
    return max(run / name_len, 0.85 * run / max(query_len, 1))


def _cover(name_len: int, query_len: int) -> float:
    # A name that covers more of what was said is a more specific match.
    return 0.75 + 0.25 * min(1.0, name_len / max(query_len, 1))


class CatalogIndex:
    def __init__(self, services: list[Service]) -> None:
        self.services = {s.id: s for s in services}
        self._names: list[_Name] = []
        for service in services:
            kinds = [("official", service.name)]
            kinds += [("alias", n) for n in service.aliases]
            kinds += [("colloquial", n) for n in service.colloquial]
            for kind, text in kinds:
                norm = normalize(text)
                syl = syllables(norm)
                self._names.append(
                    _Name(
                        service.id, norm, kind, syl, _joined(syl), _joined(tuple(map(_fuzzy, syl)))
                    )
                )

    def _score_name(
        self, entry: _Name, q: str, q_syl_joined: str, q_fuzzy_joined: str, q_syl: tuple[str, ...]
    ) -> tuple[float, str]:
        weight = KIND_WEIGHT[entry.kind]
        cover = _cover(len(entry.text), len(q))
        if entry.text and entry.text in q:
            return weight * cover, f"说到了「{entry.text}」"
        if len(entry.syl) >= 2 and entry.syl_joined in q_syl_joined:
            return 0.93 * weight * cover, f"读音和「{entry.text}」一样"
        if len(entry.syl) >= 2 and entry.fuzzy_joined in q_fuzzy_joined:
            return 0.85 * weight * cover, f"读音和「{entry.text}」相近"
        # Part of a name: judged against the name and against what was said, so that a
        # short partial answer ("社会保障") counts as much as a long sentence quoting it.
        run = _longest_common_run(entry.text, q)
        chars = 0.62 * weight * _partial(run, len(entry.text), len(q)) if run >= 2 else 0.0
        syl_run = _longest_common_run(entry.syl, q_syl)
        sounds = (
            0.58 * weight * _partial(syl_run, len(entry.syl), len(q_syl)) if syl_run >= 2 else 0.0
        )
        if chars >= sounds and chars > 0:
            return chars, f"和「{entry.text}」有{run}个字相同"
        if sounds > 0:
            return sounds, f"和「{entry.text}」有{syl_run}个字读音相同"
        return 0.0, ""

    def search(self, query: str, limit: int = 5) -> list[Candidate]:
        q = normalize(query)
        if not q:
            return []
        q_syl = syllables(q)
        q_syl_joined = _joined(q_syl)
        q_fuzzy_joined = _joined(tuple(map(_fuzzy, q_syl)))
        best: dict[str, Candidate] = {}
        for entry in self._names:
            score, why = self._score_name(entry, q, q_syl_joined, q_fuzzy_joined, q_syl)
            if score <= 0:
                continue
            current = best.get(entry.service_id)
            if current is None or score > current.score:
                name = self.services[entry.service_id].name
                best[entry.service_id] = Candidate(entry.service_id, name, round(score, 4), [why])
        ranked = sorted(best.values(), key=lambda c: (-c.score, c.service_id))
        return [c for c in ranked if c.score >= FOUND_AT * 0.5][:limit]


def is_found(candidates: list[Candidate]) -> bool:
    return bool(candidates) and candidates[0].score >= FOUND_AT


def close_candidates(candidates: list[Candidate], limit: int = 3) -> list[Candidate]:
    """The candidates close enough to the best that the citizen should choose."""
    if not is_found(candidates):
        return []
    top = candidates[0].score
    return [c for c in candidates[:limit] if c.score >= top - AMBIGUITY_MARGIN]


def exact_match(services: list[Service], query: str) -> str | None:
    """Baseline for benchmarks: a name (official or alias) appears in the text, longest wins."""
    q = normalize(query)
    hits = [(len(normalize(n)), s.id) for s in services for n in s.all_names() if normalize(n) in q]
    return max(hits)[1] if hits else None
