"""Find services from what people actually say.

Ranking works on *sounds*, so speech-recognition homophones match (设保卡 → 社保卡,
公基金 → 公积金): every service is a bag of the toneless pinyin syllables and syllable
pairs of all its names (official, aliases, colloquial) and plain-words descriptions, and
of their characters, weighted by TF-IDF, and a query is ranked by cosine similarity. The
characters make the right words count for more than words that merely sound alike (需要
is not 续签, though both say "xu"); a homophone still matches on every sound. Words that
tell services apart (签注, 积分, 备案, 离婚) weigh more than words many share (证, 办).

For the best few, the names are then compared directly, which gives a reason a person can
read ("读音和「社保卡」一样") and breaks ties:

1. a name appears in the text;
2. a name's pinyin appears in the text's pinyin;
3. the same with the usual accent confusions (z/zh, c/ch, s/sh, n/l, -n/-ng);
4. part of a name (longest common run of characters, or of syllables).

Ambiguity is reported, not guessed: when the runner-up is close, callers ask.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from liangwang.catalog.schema import Service
from liangwang.sounds import NO_MATCH, content_only, normalize, sound_grams, syllables

# Why a service matched, shown to staff and in the search API ("why each matched").
WHY = {
    "named": "说到了「{name}」",
    "sounds_same": "读音和「{name}」一样",
    "sounds_close": "读音和「{name}」相近",
    "shares_characters": "和「{name}」有{count}个字相同",
    "shares_sounds": "和「{name}」有{count}个字读音相同",
    "similar_words": "用词相近",
}
# Marks a character gram, so that a character never meets a syllable.
CHARACTER_MARK = "字"
KIND_WEIGHT = {"official": 1.0, "alias": 0.97, "colloquial": 0.95, "described": 0.9}
DESCRIBED_WEIGHT = 0.9  # likeness by a description counts a little less than by a name
# Found: some direct evidence from a name, or words strongly alike. A single shared
# syllable (今天 ~ 公积金) is neither.
FOUND_AT = 0.2
FOUND_WITH_NAME_EVIDENCE = 0.3
FOUND_WITHOUT_NAME_EVIDENCE = 0.45
GUESS_EVIDENCE = 0.01  # a weak guess must share some of a name (two characters or sounds)
# A whole name heard (or its sounds) is worth a guess even in a long turn whose other
# words are unlike anything in the catalog ("我想问一下底保要什么条件").
NAME_HEARD_EVIDENCE = 0.6
AMBIGUITY_RATIO = 0.9  # runner-up at least this share of the best: ask which one
# When the best is not clearly named (its name evidence below NAMED_EVIDENCE: only part of
# a name, or a name that is also a thing mentioned in passing, such as 户口本 or 身份证),
# a runner-up this close is asked about too: wrong guidance is worse than a question.
NAMED_EVIDENCE = 0.5
UNNAMED_AMBIGUITY_RATIO = 0.75
NAME_TIEBREAK = 0.01  # direct name evidence only breaks near-ties in the cosine ranking

_FUZZY_RULES = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("ing", "in"), ("eng", "en"), ("ang", "an"))


def _fuzzy(syllable: str) -> str:
    for a, b in _FUZZY_RULES:
        syllable = syllable.replace(a, b)
    return "n" + syllable[1:] if syllable.startswith("l") else syllable


def grams(text: str) -> Counter[str]:
    """What search compares: the sounds of a text, and its characters (marked, so that a
    character never meets a syllable)."""
    found = sound_grams(text)
    found.update(f"{CHARACTER_MARK}{ch}" for ch in normalize(text))
    return found


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


class _Space:
    """Services as TF-IDF vectors of the grams of some of their texts; cosine to a query."""

    def __init__(self, texts: dict[str, list[str]]) -> None:
        bags: dict[str, Counter[str]] = {}
        for sid, own in texts.items():
            bag: Counter[str] = Counter()
            for text in own:
                bag.update(grams(text))
            bags[sid] = bag
        df = Counter(g for bag in bags.values() for g in bag)
        n = len(bags)
        self._idf = {g: math.log((n + 1) / (count + 0.5)) for g, count in df.items()}
        self._vectors = {
            sid: {g: (1 + math.log(c)) * self._idf[g] for g, c in bag.items()}
            for sid, bag in bags.items()
            if bag
        }
        self._norms = {
            sid: math.sqrt(sum(w * w for w in vec.values())) or 1.0
            for sid, vec in self._vectors.items()
        }

    def cosines(self, query: str) -> dict[str, float]:
        qvec = {
            g: (1 + math.log(c)) * self._idf[g] for g, c in grams(query).items() if g in self._idf
        }
        qnorm = math.sqrt(sum(w * w for w in qvec.values()))
        if not qnorm:
            return {}
        out = {}
        for sid, vec in self._vectors.items():
            dot = sum(w * vec.get(g, 0.0) for g, w in qvec.items())
            if dot:
                out[sid] = dot / (qnorm * self._norms[sid])
        return out


@dataclass(frozen=True)
class _Name:
    service_id: str
    text: str
    kind: str
    syl: tuple[str, ...]
    syl_joined: str
    fuzzy_joined: str
    fuzzy: tuple[str, ...]  # the syllables with the usual accent confusions folded


@dataclass(frozen=True)
class _Query:
    """A normalised query as the name scoring reads it; the content forms have their
    function characters masked, so that runs of shared characters or sounds are made of
    content."""

    text: str
    content: str
    syl_joined: str
    fuzzy: tuple[str, ...]
    fuzzy_joined: str
    content_fuzzy: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> _Query:
        syl = syllables(text)
        fuzzy = tuple(map(_fuzzy, syl))
        content = content_only(text)
        # One syllable per character, unless Latin runs (one "syllable" a run) are in it.
        content_fuzzy = (
            tuple(NO_MATCH if ch == NO_MATCH else f for ch, f in zip(content, fuzzy, strict=True))
            if len(syl) == len(text)
            else fuzzy
        )
        return cls(text, content, _joined(syl), fuzzy, _joined(fuzzy), content_fuzzy)


@dataclass(frozen=True)
class Candidate:
    service_id: str
    name: str
    score: float
    why: list[str] = field(default_factory=list)
    name_evidence: float = 0.0


def _partial(run: int, name_len: int, query_len: int) -> float:
    return max(run / name_len, 0.85 * run / max(query_len, 1))


def _cover(name_len: int, query_len: int) -> float:
    # A name that covers more of what was said is a more specific match.
    return 0.75 + 0.25 * min(1.0, name_len / max(query_len, 1))


class CatalogIndex:
    def __init__(self, services: list[Service]) -> None:
        self.services = {s.id: s for s in services}
        self._names_space = _Space({s.id: s.all_names() for s in services})
        self._described_space = _Space({s.id: s.described_as for s in services})
        self._names: list[_Name] = []
        for service in services:
            kinds = [("official", service.name)]
            kinds += [("alias", n) for n in service.aliases]
            kinds += [("colloquial", n) for n in service.colloquial]
            kinds += [("described", n) for n in service.described_as]
            for kind, text in kinds:
                norm = normalize(text)
                syl = syllables(norm)
                fuzzy = tuple(map(_fuzzy, syl))
                self._names.append(
                    _Name(service.id, norm, kind, syl, _joined(syl), _joined(fuzzy), fuzzy)
                )

    def _cosines(self, query: str) -> dict[str, float]:
        """Each service's likeness to the query: by its names, or — a little lower — by
        how citizens describe it. Two spaces, so that many descriptions do not dilute a
        service's names (a short "底保" still finds 低保 as clearly as before)."""
        by_name = self._names_space.cosines(query)
        for sid, value in self._described_space.cosines(query).items():
            by_name[sid] = max(by_name.get(sid, 0.0), DESCRIBED_WEIGHT * value)
        return by_name

    def _score_name(self, entry: _Name, q: _Query) -> tuple[float, str]:
        weight = KIND_WEIGHT[entry.kind]
        cover = _cover(len(entry.text), len(q.text))
        if entry.text and entry.text in q.text:
            return weight * cover, WHY["named"].format(name=entry.text)
        if len(entry.syl) >= 2 and entry.syl_joined in q.syl_joined:
            return 0.93 * weight * cover, WHY["sounds_same"].format(name=entry.text)
        if len(entry.syl) >= 2 and entry.fuzzy_joined in q.fuzzy_joined:
            return 0.85 * weight * cover, WHY["sounds_close"].format(name=entry.text)
        # Part of a name: judged against the name and against what was said, so that a
        # short partial answer ("社会保障") counts as much as a long sentence quoting it.
        run = _longest_common_run(entry.text, q.content)
        chars = 0.62 * weight * _partial(run, len(entry.text), len(q.text)) if run >= 2 else 0.0
        # Sounds alike through the accent confusions too (章近老卡 ~ 敬老卡办理).
        syl_run = _longest_common_run(entry.fuzzy, q.content_fuzzy)
        sounds = (
            0.58 * weight * _partial(syl_run, len(entry.syl), len(q.fuzzy)) if syl_run >= 2 else 0.0
        )
        if chars >= sounds and chars > 0:
            return chars, WHY["shares_characters"].format(name=entry.text, count=run)
        if sounds > 0:
            return sounds, WHY["shares_sounds"].format(name=entry.text, count=syl_run)
        return 0.0, ""

    def search(self, query: str, limit: int = 5) -> list[Candidate]:
        q = normalize(query)
        if not q:
            return []
        cosines = self._cosines(q)
        shortlist = sorted(cosines, key=lambda sid: -cosines[sid])[: limit + 2]
        said = _Query.of(q)
        evidence: dict[str, tuple[float, str]] = {}
        for entry in self._names:
            if entry.service_id not in shortlist:
                continue
            score, why = self._score_name(entry, said)
            if score > evidence.get(entry.service_id, (0.0, ""))[0]:
                evidence[entry.service_id] = (score, why)
        candidates = []
        for sid in shortlist:
            name_score, why = evidence.get(sid, (0.0, WHY["similar_words"]))
            score = cosines[sid] + NAME_TIEBREAK * name_score
            candidates.append(
                Candidate(sid, self.services[sid].name, round(score, 4), [why], name_score)
            )
        candidates.sort(key=lambda c: (-c.score, c.service_id))
        return candidates[:limit]


def is_found(candidates: list[Candidate]) -> bool:
    if not candidates:
        return False
    best = candidates[0]
    if best.name_evidence >= FOUND_WITH_NAME_EVIDENCE:
        return best.score >= FOUND_AT
    return best.score >= FOUND_WITHOUT_NAME_EVIDENCE


def close_candidates(candidates: list[Candidate], limit: int = 3) -> list[Candidate]:
    """The candidates close enough to the best that the citizen should choose."""
    if not is_found(candidates):
        return []
    best = candidates[0]
    named = best.name_evidence >= NAMED_EVIDENCE
    ratio = AMBIGUITY_RATIO if named else UNNAMED_AMBIGUITY_RATIO
    return [c for c in candidates[:limit] if c.score >= best.score * ratio]


def choices(candidates: list[Candidate], limit: int = 3) -> list[Candidate]:
    """What to put to the citizen: the one clear answer, the close ones, or — when nothing
    is clearly found but something is near — the best few to confirm. Empty: nothing."""
    if is_found(candidates):
        return close_candidates(candidates, limit)
    # A guess needs some of a name in what was said: words merely alike ("就" ~ 就业,
    # "吗" ~ 码) are noise, not a service to put to the citizen.
    return [
        c
        for c in candidates[:limit]
        if (c.score >= FOUND_AT and c.name_evidence >= GUESS_EVIDENCE)
        or c.name_evidence >= NAME_HEARD_EVIDENCE
    ]


def exact_match(services: list[Service], query: str) -> str | None:
    """Baseline for benchmarks: a name (official or alias) appears in the text, longest wins."""
    q = normalize(query)
    hits = [(len(normalize(n)), s.id) for s in services for n in s.all_names() if normalize(n) in q]
    return max(hits)[1] if hits else None
