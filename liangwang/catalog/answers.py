"""Every reply the guide gives about the catalog's services, found by asking the guide
itself: its name and first step, the question confirming a guessed service, each
follow-up question (for every district where the answer depends on it), the rest of its
steps and its eligibility questions.

The phone line prepares these in its voice ahead of need (voice/prompts.py): with a
natural voice a sentence takes about as long to make as to say, and these replies start
with the service's own words, which no fixed prompt covers. They are fixed by the catalog,
so they are made once per catalog and voice, not during a call.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from liangwang.catalog.guide import FOLLOW_UPS, CatalogView, Fragments, Guide, Turn
from liangwang.catalog.guide_state import Awaiting, GuideState
from liangwang.districts import DISTRICTS
from liangwang.wording import Say

# An answer to each kind of eligibility question that moves the guide to the next one.
_ELIGIBLE_ANSWER = {"yes_no": Turn("affirm", ""), "age_at_least": Turn("inform_age", "100岁")}


def guide_replies(
    catalog: CatalogView, fragments: Fragments, districts: Iterable[str] = DISTRICTS
) -> Iterator[list[Say]]:
    """Each reply as the list of responses the guide sends, each once: the first turn
    about every service first (what callers ask most), then the follow-ups, then the
    deeper turns."""
    seen: set[str] = set()
    for reply in _every_reply(Guide(catalog, fragments), districts):
        key = repr(reply)  # Say holds dicts: not hashable, but its repr is exact
        if key not in seen:
            seen.add(key)
            yield reply


def _every_reply(guide: Guide, districts: Iterable[str]) -> Iterator[list[Say]]:
    catalog = guide.catalog
    ids = list(catalog.services)
    for service_id in ids:
        yield guide.start(GuideState(), service_id)[0]
    for service_id in ids:
        yield guide.confirm(GuideState(), service_id)[0]
    every_district = list(districts)
    for service_id in ids:
        for question in FOLLOW_UPS:
            yield from _follow_up(guide, service_id, question, every_district)
    for service_id in ids:
        yield from _later_steps(guide, service_id)
        yield from _eligibility(guide, service_id)


def _follow_up(
    guide: Guide, service_id: str, question: str, districts: list[str]
) -> Iterator[list[Say]]:
    """A question about the service, asked before and after the district is known; where
    the answer needs the district, also the reply to each district when it is given."""
    asked = Turn(question, "")
    says, state = guide.respond(GuideState(service_id=service_id), asked)
    yield says
    asks_district = state.awaiting == Awaiting.district
    for district in districts:
        yield guide.respond(GuideState(service_id=service_id, district=district), asked)[0]
        if asks_district:
            _, state = guide.respond(GuideState(service_id=service_id), asked)
            yield guide.respond(state, Turn("inform_district", district, district=district))[0]


def _later_steps(guide: Guide, service_id: str) -> Iterator[list[Say]]:
    _, state = guide.start(GuideState(), service_id)
    while state.awaiting == Awaiting.more_steps:
        says, state = guide.respond(state, Turn("continue", ""))
        yield says


def _eligibility(guide: Guide, service_id: str) -> Iterator[list[Say]]:
    questions = guide.catalog.services[service_id].eligibility
    _, state = guide.respond(GuideState(service_id=service_id), Turn("ask_eligibility", ""))
    for _ in questions:
        if state.awaiting != Awaiting.eligibility:
            return
        kind = questions[state.eligibility_index].kind
        says, state = guide.respond(state, _ELIGIBLE_ANSWER[kind])
        yield says
