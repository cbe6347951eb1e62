"""Guided applications (一网通办 by conversation), as a pure state machine.

``respond(state, turn)`` decides what the assistant says next and how the guide state
changes. It returns response *names* with variables; all wording lives in bot/domain.yml
(``fragments`` are small pieces of it, such as "原件"). An empty reply: the turn was not
understood, and the action hands it to the fallback chain. The state is one slot.

Conversation shape, a little at a time:
  identify the service (ask which one when candidates are close) → one-sentence summary
  → "一共N步。第一步……要继续听吗？" → step by step → follow-up questions about the current
  service (materials, where/hours, duration, fee, online, proxy, eligibility one question
  at a time). The district is asked only when the answer depends on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from liangwang.catalog.checklist import materials_checklist
from liangwang.catalog.guide_state import Answer, Awaiting, GuideState
from liangwang.catalog.schema import Office, Service
from liangwang.catalog.search import (
    FOUND_WITH_NAME_EVIDENCE,
    Candidate,
    choices,
    close_candidates,
    is_found,
)
from liangwang.districts import parse_district
from liangwang.spoken import ordinal, parse_age
from liangwang.understanding.chatter import chatter_not_request
from liangwang.understanding.request import find_service
from liangwang.wording import Say

FOLLOW_UPS = ("ask_materials", "ask_location", "ask_duration", "ask_fee", "ask_online",
              "ask_proxy", "ask_eligibility")  # fmt: skip
MAX_REASKS = 1
# Below this NLU confidence, a question about one facet (where, how much, how long…) asked
# before any service is under way is read again as a request: the named service's guide,
# or not understood. Misheard names pull NLU towards a facet (on the phone "我想办章近老卡"
# came as ask_location at 0.63, for its 近), and so does chatter ("上证指数今天收了多少点"
# as ask_fee): the steps are the safe answer there, and "您想办什么事" is not one here.
FACET_AT_START_CONFIDENCE = 0.75


class CatalogView(Protocol):
    @property
    def services(self) -> Mapping[str, Service]: ...

    def search(self, query: str, limit: int = 5) -> list[Candidate]: ...

    def offices(self, kind: str, district: str) -> list[Office]: ...


@dataclass(frozen=True)
class Turn:
    intent: str
    text: str
    service: str | None = None  # entity value, if NLU found one
    district: str | None = None  # entity value, if NLU found one
    confidence: float = 1.0  # NLU's confidence in ``intent``


Reply = tuple[list[Say], GuideState]
Fragments = Mapping[str, str]


class Guide:
    def __init__(self, catalog: CatalogView, fragments: Fragments) -> None:
        self.catalog = catalog
        self.fragments = fragments

    # -- entry point -------------------------------------------------------------------

    def respond(self, state: GuideState, turn: Turn) -> Reply:
        district = parse_district(turn.district or "") or parse_district(turn.text)
        if district:
            state.district = district
        handler: Callable[[GuideState, Turn], Reply] | None = {
            "ask_service": self._ask_service,
            "ask_service_guide": self._ask_service,
            "choose_option": self._choose,
            "continue": self._continue,
            "affirm": self._yes_no,
            "deny": self._yes_no,
            "inform_age": self._eligibility_answer,
            "inform_district": self._district_given,
            "go_back": self._go_back,
        }.get(turn.intent)
        if turn.intent in FOLLOW_UPS:
            return self._follow_up(state, turn.intent, turn)
        if handler is None:
            return self._reinterpret(state, turn)
        return handler(state, turn)

    # -- finding the service -------------------------------------------------------------

    def _find(self, turn: Turn) -> list[Candidate]:
        return find_service(self.catalog.search, turn.text, turn.service)

    def _reinterpret(
        self, state: GuideState, turn: Turn, found: list[Candidate] | None = None
    ) -> Reply:
        """A turn the guide cannot use where it comes (a "嗯" with no question pending, an
        age with no eligibility asked, "我七十多了，长乎险怎么弄" read as an age): read
        again as a request for a service. Nothing found: not understood (an empty reply),
        never an acknowledgement."""
        found = self._find(turn) if found is None else found
        if choices(found):
            return self._ask_service(state, turn, found)
        return [], state

    def _ask_which_service(self, state: GuideState, turn: Turn) -> Reply:
        """A request that named no service we know: ask which one — unless it was chatter
        NLU took for a request ("中午吃点啥好呢"), which is not understood (an empty reply),
        never an acknowledgement."""
        if chatter_not_request(turn.text):
            state.pending_question = None
            return [], state
        state.awaiting = Awaiting.service
        return [Say("utter_ask_which_service")], state

    def _ask_service(
        self, state: GuideState, turn: Turn, found: list[Candidate] | None = None
    ) -> Reply:
        candidates = self._find(turn) if found is None else found
        close = choices(candidates)
        if not close:
            if turn.intent == "ask_service_guide":
                return self._ask_which_service(state, turn)
            state.awaiting = Awaiting.service
            return [Say("utter_service_not_found")], state
        if len(close) == 1 and not is_found(candidates):
            # Only a guess: confirm it rather than read out the wrong guide.
            return self.confirm(state, close[0].service_id)
        if len(close) > 1:
            state.awaiting = Awaiting.choice
            state.candidates = [c.service_id for c in close]
            options = self.fragments["option_separator"].join(
                self.fragments["option"].format(number=n, name=c.name)
                for n, c in enumerate(close, 1)
            )
            choice = self.fragments["choice_payload"]
            buttons = [
                {"title": c.name, "payload": choice.format(number=n)}
                for n, c in enumerate(close, 1)
            ]
            return [Say("utter_which_service", {"options": options}, buttons)], state
        return self.start(state, close[0].service_id)

    def confirm(self, state: GuideState, service_id: str) -> Reply:
        """Ask "您问的是…吗？" about a service that was only guessed."""
        state.awaiting = Awaiting.choice
        state.candidates = [service_id]
        buttons = [
            {"title": self.fragments["button_yes"], "payload": self.fragments["payload_yes"]},
            {"title": self.fragments["button_no"], "payload": self.fragments["payload_no"]},
        ]
        name = self.catalog.services[service_id].name
        return [Say("utter_confirm_service", {"name": name}, buttons)], state

    def _choose(self, state: GuideState, turn: Turn) -> Reply:
        if not state.candidates:
            return self._ask_service(state, turn)
        index = ordinal(turn.text, len(state.candidates))
        if index is None:
            named = [c for c in self.catalog.search(turn.text) if c.service_id in state.candidates]
            if not named:
                return [Say("utter_which_service_again")], state
            return self.start(state, named[0].service_id)
        return self.start(state, state.candidates[index])

    def start(self, state: GuideState, service_id: str) -> Reply:
        """Begin the guide to a service: its name and summary, then its first step (or
        the answer to a question asked before the service was named)."""
        pending = state.pending_question
        if state.service_id and state.service_id != service_id:
            state.previous_service_id = state.service_id
        state.service_id = service_id
        state.candidates = []
        state.step = 0
        state.reasks = 0
        state.pending_question = None
        service = self.catalog.services[service_id]
        intro = Say("utter_service_intro", {"name": service.name, "summary": service.summary})
        if pending:
            # They asked "要带什么材料" before saying which service: answer that first.
            says, state = self._follow_up(state, pending, Turn(pending, ""))
        else:
            says, state = self._read_step(state)
        return [intro, *says], state

    # -- reading the steps, a little at a time ---------------------------------------------

    def _read_step(self, state: GuideState) -> Reply:
        service = self._service(state)
        steps = service.steps
        if state.step >= len(steps):
            state.awaiting = None
            return [Say("utter_guide_done")], state
        text = steps[state.step]
        if state.step == 0:
            say = Say("utter_guide_first_step", {"total": str(len(steps)), "step": text})
        else:
            say = Say("utter_guide_step", {"number": str(state.step + 1), "step": text})
        state.step += 1
        if state.step < len(steps):
            state.awaiting = Awaiting.more_steps
            return [say, Say("utter_ask_continue")], state
        state.awaiting = None
        return [say, Say("utter_guide_done")], state

    def _continue(self, state: GuideState, turn: Turn) -> Reply:
        if state.service_id is None:  # "然后" with nothing begun: read it as a request
            return self._reinterpret(state, turn)
        return self._read_step(state)

    def _yes_no(self, state: GuideState, turn: Turn) -> Reply:
        if state.awaiting == Awaiting.more_steps:
            if turn.intent == "affirm":
                return self._read_step(state)
            state.awaiting = None
            return [Say("utter_guide_stopped")], state
        if state.awaiting == Awaiting.eligibility:
            return self._eligibility_answer(state, turn)
        if state.awaiting == Awaiting.choice and state.candidates:
            if turn.intent == "affirm":
                return self.start(state, state.candidates[0])
            state.awaiting = Awaiting.service
            state.candidates = []
            return [Say("utter_ask_which_service")], state
        return self._reinterpret(state, turn)

    def _go_back(self, state: GuideState, turn: Turn) -> Reply:
        # Back to the other service talked about, or — after a detour that was not a
        # service (a complaint, a question about the assistant) — to the current one.
        back = state.previous_service_id or state.service_id
        if back is None:
            return [Say("utter_nothing_to_go_back_to")], state
        if state.previous_service_id:
            state.previous_service_id = state.service_id
        state.service_id = back
        state.awaiting = None
        state.candidates = []
        name = self.catalog.services[back].name
        return [Say("utter_back_to_service", {"name": name})], state

    # -- follow-up questions about the current service -------------------------------------

    def _follow_up(self, state: GuideState, question: str, turn: Turn) -> Reply:
        found = self._find(turn)
        close = close_candidates(found)
        if (
            state.service_id  # at the start, a named service is introduced first (below)
            and len(close) == 1
            and close[0].service_id != state.service_id
            and (close[0].name_evidence >= FOUND_WITH_NAME_EVIDENCE or close[0].score >= 0.6)
        ):
            # "老年卡要带什么" names another service: switch to it quietly.
            state.previous_service_id = state.service_id
            state.service_id = close[0].service_id
            state.step = 0
        if state.service_id is None:
            if turn.confidence < FACET_AT_START_CONFIDENCE:
                return self._reinterpret(state, turn, found)
            state.pending_question = question
            if choices(found):  # "长乎险要等多久": find it (or ask), then answer
                return self._ask_service(state, turn, found)
            return self._ask_which_service(state, turn)
        if self._needs_district(question, self._service(state)) and state.district is None:
            state.awaiting = Awaiting.district
            state.pending_question = question
            return [Say("utter_ask_district")], state
        state.awaiting = None
        state.pending_question = None
        return self._answer(question, state)

    @staticmethod
    def _needs_district(question: str, service: Service) -> bool:
        if question == "ask_location":
            return service.office_kind is not None
        if question == "ask_materials":
            return any(v.extra_materials for v in service.district_variations)
        return False

    def _district_given(self, state: GuideState, turn: Turn) -> Reply:
        if state.district is None:
            if state.awaiting != Awaiting.district:
                return self._reinterpret(state, turn)  # no district, none asked: "我们我们"
            state.district = parse_district(turn.text, by_sound=True)  # "黄埔" for 黄浦
            if state.district is None:
                return [Say("utter_district_unknown")], state
        noted = Say("utter_district_noted", {"district": state.district})
        if not state.pending_question and is_found(found := self._find(turn)):
            return self._ask_service(state, turn, found)  # "我住静安，长护险怎么办"
        if state.pending_question and state.service_id:
            question = state.pending_question
            state.pending_question = None
            state.awaiting = None
            says, state = self._answer(question, state)
            return [noted, *says], state
        return [noted], state

    def _answer(self, question: str, state: GuideState) -> Reply:
        answers: dict[str, Callable[[GuideState], Reply]] = {
            "ask_materials": self._ask_materials,
            "ask_location": self._ask_location,
            "ask_duration": self._ask_duration,
            "ask_fee": self._ask_fee,
            "ask_online": self._ask_online,
            "ask_proxy": self._ask_proxy,
            "ask_eligibility": self._ask_eligibility,
        }
        return answers[question](state)

    def _service(self, state: GuideState) -> Service:
        assert state.service_id is not None
        return self.catalog.services[state.service_id]

    def _district_note(self, service: Service, district: str | None) -> list[Say]:
        for variation in service.district_variations:
            if variation.district == district:
                return [
                    Say(
                        "utter_district_variation",
                        {"district": variation.district, "notes": variation.notes},
                    )
                ]
        return []

    def _ask_materials(self, state: GuideState) -> Reply:
        service = self._service(state)
        if not service.materials and not any(
            v.extra_materials for v in service.district_variations if v.district == state.district
        ):
            return [Say("utter_no_materials", {"name": service.name})], state
        checklist = materials_checklist(service, state.district, self.fragments)
        return [
            Say("utter_materials_checklist", {"name": service.name, "items": checklist}),
            Say("utter_offer_repeat"),
        ], state

    def _ask_location(self, state: GuideState) -> Reply:
        service = self._service(state)
        if service.office_kind is None:
            return [
                Say("utter_online_only", {"name": service.name, "channel": service.online.channel})
            ], state
        assert state.district is not None
        offices = self.catalog.offices(service.office_kind, state.district)
        if not offices:
            return [Say("utter_no_office_in_district", {"district": state.district})], state
        office = offices[0]
        says = [
            Say(
                "utter_office",
                {
                    "office": office.name,
                    "address": office.address,
                    "hours": office.hours,
                    "phone": office.phone,
                },
            )
        ]
        if not office.verified:
            says.append(Say("utter_office_unverified"))
        return says + self._district_note(service, state.district), state

    def _ask_duration(self, state: GuideState) -> Reply:
        limit = self._service(state).time_limit
        if limit.promised_days is not None and limit.legal_days is not None:
            say = Say(
                "utter_duration_both",
                {"promised": str(limit.promised_days), "legal": str(limit.legal_days)},
            )
        elif limit.promised_days is not None or limit.legal_days is not None:
            days = limit.promised_days if limit.promised_days is not None else limit.legal_days
            say = Say("utter_duration_days", {"days": str(days)})
        else:
            say = Say("utter_duration_unknown")
        notes = [Say("utter_note", {"notes": limit.notes})] if limit.notes else []
        return [say, *notes], state

    def _ask_fee(self, state: GuideState) -> Reply:
        return [Say("utter_fee", {"fee": self._service(state).fee})], state

    def _ask_online(self, state: GuideState) -> Reply:
        online = self._service(state).online
        if not online.available:
            return [Say("utter_online_no")], state
        says = [Say("utter_online_yes", {"channel": online.channel})]
        if online.notes:
            says.append(Say("utter_note", {"notes": online.notes}))
        return says, state

    def _ask_proxy(self, state: GuideState) -> Reply:
        proxy = self._service(state).proxy
        if not proxy.allowed:
            return [Say("utter_proxy_no", {"rules": proxy.rules})], state
        documents = self.fragments["list_separator"].join(proxy.documents)
        return [Say("utter_proxy_yes", {"rules": proxy.rules, "documents": documents})], state

    # -- eligibility, one question at a time ------------------------------------------------

    def _ask_eligibility(self, state: GuideState) -> Reply:
        service = self._service(state)
        if not service.eligibility:
            conditions = self.fragments["list_separator"].join(service.conditions)
            return [Say("utter_eligibility_conditions", {"conditions": conditions})], state
        state.eligibility_index = 0
        state.eligibility_results = []
        state.reasks = 0
        return self._next_eligibility_question(state)

    def _next_eligibility_question(self, state: GuideState) -> Reply:
        questions = self._service(state).eligibility
        if state.eligibility_index < len(questions):
            state.awaiting = Awaiting.eligibility
            question = questions[state.eligibility_index].question
            return [Say("utter_eligibility_question", {"question": question})], state
        state.awaiting = None
        fails = [
            q.fail_reason
            for q, r in zip(questions, state.eligibility_results, strict=True)
            if r == Answer.fail
        ]
        if fails:
            reasons = self.fragments["list_separator"].join(fails)
            return [Say("utter_eligible_no", {"reasons": reasons})], state
        if Answer.unknown in state.eligibility_results:
            return [Say("utter_eligible_uncertain")], state
        return [Say("utter_eligible_yes")], state

    def _eligibility_answer(self, state: GuideState, turn: Turn) -> Reply:
        if state.awaiting != Awaiting.eligibility or state.service_id is None:
            return self._reinterpret(state, turn)
        question = self._service(state).eligibility[state.eligibility_index]
        result: Answer | None = None
        if question.kind == "yes_no" and turn.intent in ("affirm", "deny"):
            answer = turn.intent == "affirm"
            result = Answer.pass_ if answer == question.expect else Answer.fail
        elif question.kind == "age_at_least":
            age = parse_age(turn.text)
            if age is not None and question.min_age is not None:
                result = Answer.pass_ if age >= question.min_age else Answer.fail
        if result is None:
            if state.reasks < MAX_REASKS:
                state.reasks += 1
                hint = (
                    "utter_eligibility_hint_age"
                    if question.kind == "age_at_least"
                    else ("utter_eligibility_hint_yes_no")
                )
                return [
                    Say(hint),
                    Say("utter_eligibility_question", {"question": question.question}),
                ], state
            result = Answer.unknown
        state.reasks = 0
        state.eligibility_results.append(result)
        state.eligibility_index += 1
        return self._next_eligibility_question(state)
