"""Complaint intake (我要找茬 / 一网统管) by conversation, as a pure state machine.

One question at a time: what happened → the category, inferred and confirmed (never a
long menu) → district → address → when (optional) → phone (optional) → may the handling
department see the name/phone → photo (Telegram) → read-back with corrections of single
fields → nothing is filed without an explicit yes → possible duplicates offered for 并单 →
filed, with a short number to say on the phone.

Validation re-asks with a hint at most twice, then moves on (or, for the description,
offers a person): it never loops. The state is a plain dict stored in a slot and as a
draft in the database after every turn, so a dropped call loses nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Protocol

from liangwang import wording
from liangwang.complaints import validation
from liangwang.complaints.categories import Categories
from liangwang.complaints.draft_check import knows_the_matter
from liangwang.complaints.intake_state import ORDER, IntakeState, Message, Step
from liangwang.complaints.tickets import Filed, NewTicket
from liangwang.complaints.validation import InvalidInput
from liangwang.districts import DISTRICTS, parse_district, short_name
from liangwang.spoken import grouped, spoken_digits
from liangwang.wording import Say

MAX_REASKS = 2
RESUME_CHECK_RETRIES = 1  # two tries to say what an unproven draft was about
# Words that only say "I want to complain", with nothing about what happened.
TRIGGER_ONLY = ("我要投诉", "我要找茬", "我要反映", "反映问题", "我想投诉", "我要举报", "投诉",
                "找茬", "提意见", "我要提意见", "反映个情况", "有个问题要反映")  # fmt: skip
SKIP_WORDS = ("跳过", "不知道", "不记得", "不留", "不用", "没有", "算了", "不清楚")
# What people call a field of the read-back when they correct it.
FIELD_WORDS = {
    Step.description: ("问题", "内容", "情况", "说的"),
    Step.category: ("类别", "类型", "种类"),
    Step.district: ("区",),
    Step.address: ("地址", "地点", "位置", "路", "小区", "地方"),
    Step.when: ("时间", "什么时候", "日子"),
    Step.phone: ("电话", "号码", "手机"),
    Step.contact_public: ("公开", "给部门看", "姓名"),
}


class TicketDesk(Protocol):
    """What intake needs from the ticket system (real: liangwang.complaints.tickets)."""

    def duplicates(self, new: NewTicket) -> list[tuple[str, str]]: ...  # (number, address)

    def file(self, new: NewTicket, merge_into: str | None) -> Filed: ...

    def keep_for_call_back(self, draft: IntakeState) -> None: ...  # staff call its owner


Reply = tuple[list[Say], IntakeState]


def _is_skip(text: str) -> bool:
    return any(word in text for word in SKIP_WORDS) and len(text) <= 8


# Words around a district that say nothing about the place: "我住在静安区", "是在浦东".
_DISTRICT_FILLER = re.compile(r"我家|我住|住在|我在|就在|是在|在|是|的|吧|啊|呀|呢|嗯|新区|区")


def _more_than_district(text: str) -> bool:
    rest = text
    for name in DISTRICTS:
        rest = rest.replace(name, "").replace(short_name(name), "")
    rest = _DISTRICT_FILLER.sub("", rest)
    return len([c for c in rest if c.isalnum()]) >= 2


def _yes(message: Message) -> bool | None:
    if message.intent == "affirm":
        return True
    if message.intent == "deny":
        return False
    return None


class Intake:
    def __init__(
        self,
        categories: Categories,
        channel: str,
        identity: str,
        fragments: Mapping[str, str] | None = None,
    ) -> None:
        self.categories = categories
        self.channel = channel
        self.identity = identity
        # Small pieces of the domain's wording for the read-back and the filed text.
        self.fragments = fragments if fragments is not None else wording.fragments()

    # -- start ------------------------------------------------------------------------

    def start(self, first: Message, caller_phone: str | None = None) -> Reply:
        state = IntakeState()
        if caller_phone:
            state.phone = caller_phone
        text = first.text.strip()
        # A button or key press arrives as its payload ("/report_problem"): no description.
        if text and not text.startswith("/") and not self._trigger_only(text):
            return self._take_description(state, text)
        return [], state

    def _trigger_only(self, text: str) -> bool:
        stripped = text
        for word in sorted(TRIGGER_ONLY, key=len, reverse=True):
            stripped = stripped.replace(word, "")
        return len(spoken_digits(stripped)) == 0 and len([c for c in stripped if c.isalnum()]) <= 2

    def resume(self, draft: IntakeState, *, proven: bool = True) -> IntakeState:
        """Offer to continue a saved draft before anything else. A caller whose number is
        not proven (a caller ID alone, on the phone) first says what it was about."""
        draft.resume_step = draft.step
        draft.step = Step.resume_offer if proven else Step.resume_check
        draft.reasks = 0
        return draft

    def _on_resume_check(self, state: IntakeState, message: Message, desk: TicketDesk) -> Reply:
        declined = _yes(message) is False
        if not declined and knows_the_matter(state.description, message.text):
            state.step, state.reasks = Step.resume_offer, 0
            return [], state
        if not declined and state.reasks < RESUME_CHECK_RETRIES:
            state.reasks += 1
            return [Say("utter_complaint_resume_check_failed")], state
        # Not proven (or not wanted): its words stay unread, and staff call the number
        # back, which reaches its real owner. A new complaint starts here.
        desk.keep_for_call_back(state)
        return [Say("utter_complaint_draft_to_staff")], IntakeState()

    def _on_resume_offer(self, state: IntakeState, message: Message) -> Reply:
        answer = _yes(message)
        if answer is None:
            again = self._reask(state, "utter_complaint_hint_yes_no")
            if again is not None:
                return again
        if answer:
            state.step = state.resume_step or Step.description
            state.resume_step = None
            state.reasks = 0
            return [], state
        return [], IntakeState(phone=None)

    # -- one turn ---------------------------------------------------------------------

    def handle(self, state: IntakeState, message: Message, desk: TicketDesk) -> Reply:
        """Take the citizen's answer to the current question."""
        handlers: dict[Step, Callable[[IntakeState, Message], Reply]] = {
            Step.resume_check: lambda s, m: self._on_resume_check(s, m, desk),
            Step.resume_offer: self._on_resume_offer,
            Step.description: self._on_description,
            Step.category: self._on_category,
            Step.category_name: self._on_category_name,
            Step.district: self._on_district,
            Step.address: self._on_address,
            Step.when: self._on_when,
            Step.phone: self._on_phone,
            Step.contact_public: self._on_contact_public,
            Step.photo: self._on_photo,
            Step.readback: lambda s, m: self._on_readback(s, m, desk),
            Step.correct_which: self._on_correct_which,
            Step.duplicate: lambda s, m: self._on_duplicate(s, m, desk),
        }
        return handlers[state.step](state, message)

    def prompt(self, state: IntakeState) -> list[Say]:
        """The question for the current step."""
        if state.step == Step.category:
            name = self.categories.by_code[state.category or "other"].name
            return [Say("utter_complaint_confirm_category", {"category": name})]
        if state.step == Step.readback:
            return [Say("utter_complaint_readback", self._summary(state))]
        if state.step == Step.resume_check:
            again = "utter_complaint_resume_check_again"
            return [Say(again if state.reasks else "utter_complaint_resume_check")]
        if state.step == Step.resume_offer:
            return [Say("utter_complaint_resume_offer", {"description": state.description})]
        if state.step == Step.duplicate:
            number, address = state.duplicates[0]
            address = address or self.fragments["place_nearby"]
            return [
                Say(
                    "utter_complaint_duplicate_offer",
                    {
                        "number": grouped(number),
                        Step.address: address or self.fragments["place_nearby"],
                    },
                )
            ]
        if state.step == Step.phone and state.phone:
            return [Say("utter_complaint_confirm_caller_phone", {"phone": grouped(state.phone)})]
        return [Say(f"utter_ask_complaint_{state.step}")]

    # -- the fields ---------------------------------------------------------------------

    def _next(self, state: IntakeState, after: Step) -> Reply:
        state.reasks = 0
        if state.correcting:
            state.correcting = False
            state.step = Step.readback
            return [], state
        following = ORDER[ORDER.index(after) + 1 :]
        for step in following:
            if step == Step.category and state.category is not None and after != Step.description:
                continue
            if step == Step.district and state.district:
                continue
            if step == Step.address and (state.address or state.lat is not None):
                continue
            if step == Step.contact_public and not state.phone:
                continue
            if step == Step.photo and (self.channel != "telegram" or state.media_url):
                continue
            state.step = step
            return [], state
        state.step = Step.readback
        return [], state

    def _reask(self, state: IntakeState, hint: str) -> Reply | None:
        """Re-ask with a hint at most twice; None when it is time to move on."""
        if state.reasks >= MAX_REASKS:
            return None
        state.reasks += 1
        return [Say(hint)], state

    def _take_description(self, state: IntakeState, text: str) -> Reply:
        state.description = validation.description(text)
        district = parse_district(text)
        if district and not state.district:
            state.district = district
        if not state.correcting or state.category is None:
            state.category = self.categories.classify(text).code
        return self._next(state, Step.description)

    def _on_description(self, state: IntakeState, message: Message) -> Reply:
        try:
            return self._take_description(state, message.text)
        except InvalidInput as exc:
            hint = (
                "utter_complaint_hint_too_long"
                if exc.code == "description_too_long"
                else "utter_complaint_hint_description"
            )
            again = self._reask(state, hint)
            if again is not None:
                return again
            # A complaint without words cannot be filed: offer a person instead of looping.
            state.step = Step.gave_up
            return [Say("utter_complaint_offer_human")], state

    def _on_category(self, state: IntakeState, message: Message) -> Reply:
        answer = _yes(message)
        if answer is True:
            return self._next(state, Step.category)
        inferred = self.categories.infer(message.text)
        if inferred is not None:  # "不对，是噪声" corrects in one go
            state.category = inferred.code
            return self._next(state, Step.category)
        if answer is False:
            state.step = Step.category_name
            state.reasks = 0
            return [], state
        again = self._reask(state, "utter_complaint_hint_yes_no")
        return again if again is not None else self._next(state, Step.category)

    def _on_category_name(self, state: IntakeState, message: Message) -> Reply:
        inferred = self.categories.infer(message.text)
        if inferred is None:
            again = self._reask(state, "utter_complaint_hint_category")
            if again is not None:
                return again
            state.category = "other"  # 12345 sorts it out; never a loop
        else:
            state.category = inferred.code
        return self._next(state, Step.category)

    def _on_district(self, state: IntakeState, message: Message) -> Reply:
        if message.lat is not None:
            state.lat, state.long = message.lat, message.long
            return self._next(state, Step.district)
        written = parse_district(message.text)
        district = written or parse_district(message.text, by_sound=True)
        if district is None and not _is_skip(message.text):
            again = self._reask(state, "utter_complaint_hint_district")
            if again is not None:
                return again
        state.district = district
        # Only around a name written as such can the rest be told apart as the address.
        if written and not state.address and _more_than_district(message.text):
            state.address = message.text.strip()  # "杨浦区国和路100号" gives both
        return self._next(state, Step.district)

    def _on_address(self, state: IntakeState, message: Message) -> Reply:
        if message.lat is not None:
            state.lat, state.long = message.lat, message.long
            return self._next(state, Step.address)
        text = message.text.strip()
        if len([c for c in text if c.isalnum()]) < 2 or len(text) > 300:
            again = self._reask(state, "utter_complaint_hint_address")
            if again is not None:
                return again
            text = ""
        state.address = text
        if not state.district:
            state.district = parse_district(text)
        return self._next(state, Step.address)

    def _on_when(self, state: IntakeState, message: Message) -> Reply:
        text = message.text.strip()
        state.when = None if _is_skip(text) else text[:100]
        return self._next(state, Step.when)

    def _on_phone(self, state: IntakeState, message: Message) -> Reply:
        answer = _yes(message)
        if state.phone and answer is True:  # "就用这个号码吗？" — yes
            return self._next(state, Step.phone)
        if _is_skip(message.text) or (answer is False and not spoken_digits(message.text)):
            state.phone = None
            return self._next(state, Step.phone)
        try:
            state.phone = validation.phone_number(message.text)
        except InvalidInput:
            again = self._reask(state, "utter_complaint_hint_phone")
            if again is not None:
                return again
            state.phone = None
        return self._next(state, Step.phone)

    def _on_contact_public(self, state: IntakeState, message: Message) -> Reply:
        answer = _yes(message)
        if answer is None:
            again = self._reask(state, "utter_complaint_hint_yes_no")
            if again is not None:
                return again
        state.contact_public = bool(answer)  # unclear twice: kept private
        return self._next(state, Step.contact_public)

    def _on_photo(self, state: IntakeState, message: Message) -> Reply:
        if message.media_url:
            state.media_url = message.media_url
        return self._next(state, Step.photo)

    # -- read-back, corrections, duplicates, filing ---------------------------------------

    def _summary(self, state: IntakeState) -> dict[str, str]:
        place = " ".join(p for p in (state.district or "", state.address) if p)
        words = self.fragments
        if not place and state.lat is not None:
            place = words["place_shared_location"]
        return {
            Step.category: self.categories.by_code[state.category or "other"].name,
            Step.description: state.description,
            "place": place or words["not_said"],
            Step.when: state.when or words["not_said"],
            Step.phone: grouped(state.phone) if state.phone else words["no_phone"],
            "public": words["contact_public" if state.contact_public else "contact_private"],
        }

    def _field_named(self, text: str) -> Step | None:
        for name, words in FIELD_WORDS.items():
            if any(word in text for word in words):
                return name
        return None

    def _on_readback(self, state: IntakeState, message: Message, desk: TicketDesk) -> Reply:
        answer = _yes(message)
        named = self._field_named(message.text)
        if answer is True and named is None:
            return self._check_duplicates(state, desk)
        if named is not None:
            return self._correct(state, named)
        if answer is False:
            state.step = Step.correct_which
            return [], state
        again = self._reask(state, "utter_complaint_hint_readback")
        if again is not None:
            return again
        state.step = Step.gave_up  # no explicit yes: nothing is filed; the draft is kept
        return [Say("utter_complaint_not_filed")], state

    def _on_correct_which(self, state: IntakeState, message: Message) -> Reply:
        named = self._field_named(message.text)
        if named is None:
            again = self._reask(state, "utter_complaint_hint_which_field")
            if again is not None:
                return again
            state.step = Step.readback
            return [], state
        return self._correct(state, named)

    def _correct(self, state: IntakeState, name: Step) -> Reply:
        state.correcting = True
        state.reasks = 0
        state.step = Step.category_name if name == Step.category else name
        if name == Step.address:
            state.address, state.lat, state.long = "", None, None
        return [], state

    def new_ticket(self, state: IntakeState) -> NewTicket:
        details = (
            self.fragments["description_with_time"].format(
                description=state.description, when=state.when
            )
            if state.when
            else state.description
        )
        return NewTicket(
            category=state.category or "other",
            description=details[: validation.MAX_DESCRIPTION],
            channel=self.channel,
            district=state.district,
            address=state.address,
            lat=state.lat,
            long=state.long,
            media_url=state.media_url,
            contact_phone=state.phone,
            contact_public=bool(state.contact_public),
            identity=self.identity,
            idempotency_key=state.idempotency_key,
        )

    def _check_duplicates(self, state: IntakeState, desk: TicketDesk) -> Reply:
        found = desk.duplicates(self.new_ticket(state))
        if found:
            state.duplicates = [[number, address] for number, address in found[:1]]
            state.step = Step.duplicate
            state.reasks = 0
            return [], state
        return self._file(state, desk, None)

    def _on_duplicate(self, state: IntakeState, message: Message, desk: TicketDesk) -> Reply:
        answer = _yes(message)
        if answer is None:
            again = self._reask(state, "utter_complaint_hint_yes_no")
            if again is not None:
                return again
        into = state.duplicates[0][0] if answer else None
        return self._file(state, desk, into)

    def _file(self, state: IntakeState, desk: TicketDesk, merge_into: str | None) -> Reply:
        filed = desk.file(self.new_ticket(state), merge_into)
        state.filed_number = filed.number
        state.merged_into = filed.merged_into
        state.sla_hours = filed.sla_hours
        state.step = Step.done
        return [], state

    def done_messages(self, state: IntakeState) -> list[Say]:
        assert state.filed_number is not None
        days = max(1, round((state.sla_hours or 24) / 24))
        says = [
            Say("utter_complaint_filed", {"number": grouped(state.filed_number), "days": str(days)})
        ]
        if state.merged_into:
            says.append(Say("utter_complaint_merged", {"number": grouped(state.merged_into)}))
        return says
