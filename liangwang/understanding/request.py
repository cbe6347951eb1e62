"""Which service a turn asks about, read on the whole utterance as people really speak.

Older callers explain before they ask ("我今年七十多了，长乎险怎么弄"), and the recogniser
garbles names. So a turn is split into clauses and each clause is searched in the catalog
(whose ranking works on sounds: liangwang/catalog/search.py) as well as the whole turn; the
clause that finds a service most clearly carries the request; when clauses clearly find
different services, the citizen is asked which.

The service entity NLU tagged is only a part of what was said, and can be the short name
of another service inside a longer one (医保 inside 医保异地备案): when the words and the
entity disagree, the words win; when the words find nothing, the entity is used.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from liangwang.catalog.search import Candidate, is_found
from liangwang.sounds import normalize

Search = Callable[[str], list[Candidate]]

_CLAUSE_END = re.compile(r"[，。！？；、,.!?;:：\s]+")
MIN_CLAUSE_CHARS = 2
MAX_CHOICES = 3


def clauses(text: str) -> list[str]:
    """The turn's clauses, in order; fragments too short to name anything are dropped."""
    return [c for c in _CLAUSE_END.split(text) if len(normalize(c)) >= MIN_CLAUSE_CHARS]


def find_service(search: Search, text: str, entity: str | None = None) -> list[Candidate]:
    """The candidates for the service a turn asks about (best first; empty: none)."""
    readings = [search(text)]
    parts = clauses(text)
    if len(parts) > 1:
        readings += [search(part) for part in parts]
    found = [r for r in readings if is_found(r)]
    if found:
        best = max(found, key=lambda r: (r[0].score, r[0].name_evidence))
        others = {r[0].service_id: r[0] for r in found if r[0].service_id != best[0].service_id}
        if not others:
            return best
        # The clauses name different services ("敬老卡早就有了，她那个综合津贴…"): wrong
        # guidance is worse than a question, so they are put to the citizen as equals.
        tied = [best[0], *sorted(others.values(), key=lambda c: -c.score)][:MAX_CHOICES]
        return [replace(c, score=best[0].score) for c in tied]
    if entity:
        by_entity = search(entity)
        if is_found(by_entity):
            return by_entity
    # Nothing clearly found: the best weak reading, for the guide to confirm or drop.
    return max(readings, key=lambda r: r[0].score if r else 0.0)
