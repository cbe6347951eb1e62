"""Complaint intake state machine with a recording ticket desk (the real desk is tested
in test_tickets and end to end)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from liangwang.complaints.categories import load_categories
from liangwang.complaints.intake import Intake
from liangwang.complaints.intake_state import IntakeState, Message
from liangwang.complaints.tickets import Filed, NewTicket
from liangwang.wording import Say

ROOT = Path(__file__).resolve().parents[2]


class RecordingDesk:
    def __init__(self, duplicates: list[tuple[str, str]] | None = None) -> None:
        self.filed: list[tuple[NewTicket, str | None]] = []
        self.kept_for_call_back: list[IntakeState] = []
        self._duplicates = duplicates or []

    def duplicates(self, new: NewTicket) -> list[tuple[str, str]]:
        return self._duplicates

    def file(self, new: NewTicket, merge_into: str | None) -> Filed:
        self.filed.append((new, merge_into))
        return Filed("382915", 48, merge_into)

    def keep_for_call_back(self, draft: IntakeState) -> None:
        self.kept_for_call_back.append(draft)


def intake(channel: str = "web") -> Intake:
    return Intake(load_categories(), channel, f"{channel}-abc")


def run(
    it: Intake, state: IntakeState, desk: RecordingDesk, *turns: tuple[str, str]
) -> tuple[list[list[Say]], IntakeState]:
    out = []
    for text, intent in turns:
        says, state = it.handle(state, Message(text, intent), desk)
        out.append(says + (it.prompt(state) if state.step not in ("done", "gave_up") else []))
    return out, state


def names(says: list[Say]) -> list[str]:
    return [s.response for s in says]


def test_every_response_intake_uses_exists_in_the_domain() -> None:
    import liangwang.complaints.intake as module

    responses = yaml.safe_load((ROOT / "bot" / "domain.yml").read_text())["responses"]
    used = set(re.findall(r'"(utter_[a-z_]+[a-z])"', Path(module.__file__).read_text()))
    steps = {
        "description",
        "district",
        "address",
        "when",
        "phone",
        "contact_public",
        "photo",
        "category_name",
        "correct_which",
    }
    used |= {f"utter_ask_complaint_{s}" for s in steps}
    assert used <= set(responses), used - set(responses)


def test_full_intake_with_read_back_and_an_explicit_yes() -> None:
    it, desk = intake(), RecordingDesk()
    _, state = it.start(Message("我要投诉，小区门口路灯坏了三天了"))
    assert state.category == "streetlight" and state.step == "category"
    assert it.prompt(state) == [Say("utter_complaint_confirm_category", {"category": "路灯"})]
    prompts, state = run(
        it,
        state,
        desk,
        ("对", "affirm"),
        ("杨浦区", "inform_district"),
        ("国和路100号门口", "x"),
        ("前天晚上", "x"),
        ("幺三八 零零幺三 八零零零", "x"),
        ("可以", "affirm"),
    )
    assert [names(p) for p in prompts] == [
        ["utter_ask_complaint_district"],
        ["utter_ask_complaint_address"],
        ["utter_ask_complaint_when"],
        ["utter_ask_complaint_phone"],
        ["utter_ask_complaint_contact_public"],
        ["utter_complaint_readback"],
    ]
    assert prompts[-1][0].vars == {
        "category": "路灯",
        "description": "我要投诉，小区门口路灯坏了三天了",
        "place": "杨浦区 国和路100号门口",
        "when": "前天晚上",
        "phone": "138 0013 8000",
        "public": "可以",
    }
    assert desk.filed == []  # nothing before the yes
    _, state = run(it, state, desk, ("对的，提交吧", "affirm"))
    [(ticket, merge)] = desk.filed
    assert (ticket.category, ticket.district, ticket.contact_phone, merge) == (
        "streetlight",
        "杨浦区",
        "13800138000",
        None,
    )
    assert ticket.idempotency_key == state.idempotency_key and ticket.identity == "web-abc"
    assert it.done_messages(state) == [
        Say("utter_complaint_filed", {"number": "382 915", "days": "2"})
    ]


def test_correcting_one_field_returns_to_the_read_back() -> None:
    it, desk = intake(), RecordingDesk()
    _, state = it.start(Message("楼下饭店油烟太大，噪音也吵，半夜施工"))
    _, state = run(
        it,
        state,
        desk,
        ("对", "affirm"),
        ("静安", "inform_district"),
        ("南京西路", "x"),
        ("跳过", "x"),
        ("不留", "deny"),
    )
    assert state.step == "readback"
    prompts, state = run(it, state, desk, ("地址不对", "deny"), ("是北京西路1号", "x"))
    assert names(prompts[0]) == ["utter_ask_complaint_address"]
    assert names(prompts[1]) == ["utter_complaint_readback"]
    assert state.address == "是北京西路1号" and desk.filed == []


def test_invalid_answers_are_reasked_twice_then_the_intake_moves_on() -> None:
    it, desk = intake(), RecordingDesk()
    _, state = it.start(Message("垃圾三天没人收了"))
    prompts, state = run(
        it, state, desk, ("是的", "affirm"), ("火星", "x"), ("月亮上", "x"), ("不知道啊", "x")
    )
    assert names(prompts[1]) == ["utter_complaint_hint_district", "utter_ask_complaint_district"]
    assert names(prompts[2])[0] == "utter_complaint_hint_district"
    assert state.step == "address" and state.district is None
    prompts, state = run(
        it, state, desk, ("菜场后门", "x"), ("昨天", "x"), ("123", "x"), ("456", "x"), ("789", "x")
    )
    assert names(prompts[2])[0] == "utter_complaint_hint_phone"
    assert state.phone is None and state.step == "readback"


def test_trigger_only_asks_what_happened_and_empty_words_offer_a_person() -> None:
    it, desk = intake(), RecordingDesk()
    _, state = it.start(Message("我要投诉"))
    assert state.step == "description" and names(it.prompt(state)) == [
        "utter_ask_complaint_description"
    ]
    prompts, state = run(it, state, desk, ("。。。", "x"), ("？？", "x"), ("！！", "x"))
    assert names(prompts[0])[0] == "utter_complaint_hint_description"
    assert names(prompts[2]) == ["utter_complaint_offer_human"] and state.step == "gave_up"


def test_a_district_said_in_a_sentence_is_not_taken_for_the_address() -> None:
    it, desk = intake(), RecordingDesk()
    _, state = it.start(Message("路灯坏了"))
    _, state = run(it, state, desk, ("对", "affirm"), ("我住在静安区", "x"))
    assert state.district == "静安区" and state.address == "" and state.step == "address"
    _, other = it.start(Message("路灯坏了"))
    _, other = run(it, other, desk, ("对", "affirm"), ("杨浦区国和路100号", "x"))
    assert other.address == "杨浦区国和路100号" and other.step == "when"


def test_the_district_answer_is_heard_by_its_sounds_too() -> None:
    # The recogniser writes homophones: 黄埔 for 黄浦, 闵航 for 闵行 (min-hang, not min-xing).
    for heard, district in (("黄埔", "黄浦区"), ("住在闵航", "闵行区"), ("静按区", "静安区")):
        it, desk = intake(), RecordingDesk()
        _, state = it.start(Message("路灯坏了"))
        _, state = run(it, state, desk, ("对", "affirm"), (heard, "x"))
        assert state.district == district and state.step == "address"


def test_a_sound_alike_elsewhere_is_not_a_district() -> None:
    # "有风险" sounds like 奉贤: only the answer to "哪个区？" is heard by sound.
    _, state = intake().start(Message("路灯坏了，晚上走路有风险"))
    assert state.district is None


def test_a_button_or_key_payload_is_not_taken_as_the_description() -> None:
    _, state = intake().start(Message("/report_problem", intent="report_problem"))
    assert state.step == "description" and state.description == ""


def test_category_is_corrected_in_words_never_a_menu() -> None:
    it, desk = intake(), RecordingDesk()
    _, state = it.start(Message("窗口那个人对我很凶"))
    assert state.category == "gov-attitude"
    _, state = run(it, state, desk, ("不对，是材料反复要", "deny"))
    assert state.category == "gov-materials" and state.step == "district"
    _, state2 = it.start(Message("那个事情太气人了"))
    assert state2.category == "other"
    _, state2 = run(
        it, state2, desk, ("不对", "deny"), ("说不清", "x"), ("反正就是不好", "x"), ("唉", "x")
    )
    assert state2.category == "other" and state2.step == "district"


def test_nothing_filed_without_an_explicit_yes() -> None:
    it, desk = intake(), RecordingDesk()
    _, state = it.start(Message("井盖没了很危险"))
    _, state = run(
        it,
        state,
        desk,
        ("对", "affirm"),
        ("宝山", "x"),
        ("友谊路", "x"),
        ("跳过", "x"),
        ("不留", "deny"),
        ("嗯嗯", "x"),
        ("啊", "x"),
        ("哦", "x"),
    )
    assert state.step == "gave_up" and desk.filed == []


def test_duplicate_nearby_is_offered_and_merged_when_accepted() -> None:
    it, desk = intake(), RecordingDesk(duplicates=[("123456", "国和路100号")])
    _, state = it.start(Message("路灯不亮"))
    _, state = run(
        it,
        state,
        desk,
        ("对", "affirm"),
        ("杨浦", "x"),
        ("国和路100号", "x"),
        ("跳过", "x"),
        ("不留", "deny"),
        ("对", "affirm"),
    )
    assert it.prompt(state) == [
        Say("utter_complaint_duplicate_offer", {"number": "123 456", "address": "国和路100号"})
    ]
    _, state = run(it, state, desk, ("好的合并吧", "affirm"))
    assert desk.filed[0][1] == "123456"
    assert names(it.done_messages(state)) == ["utter_complaint_filed", "utter_complaint_merged"]


def test_phone_caller_id_is_offered_and_telegram_asks_for_a_photo() -> None:
    it, desk = intake("phone"), RecordingDesk()
    _, state = it.start(Message("路边违章搭建"), caller_phone="13912345678")
    _, state = run(it, state, desk, ("对", "affirm"), ("闵行", "x"), ("莘庄", "x"), ("跳过", "x"))
    assert it.prompt(state) == [
        Say("utter_complaint_confirm_caller_phone", {"phone": "139 1234 5678"})
    ]
    _, state = run(it, state, desk, ("是的", "affirm"))
    assert state.phone == "13912345678" and state.step == "contact_public"

    tg = intake("telegram")
    _, state = tg.start(Message("垃圾堆在路边"))
    _, state = run(
        tg,
        state,
        desk,
        ("对", "affirm"),
        ("普陀", "x"),
        ("曹杨路", "x"),
        ("跳过", "x"),
        ("不留", "deny"),
    )
    assert state.step == "photo"
    _, state = tg.handle(state, Message("", media_url="https://t.me/file/abc.jpg"), desk)
    assert state.media_url == "https://t.me/file/abc.jpg" and state.step == "readback"


def test_shared_location_counts_as_the_place() -> None:
    it, desk = intake("telegram"), RecordingDesk()
    _, state = it.start(Message("占道摆摊"))
    _, state = run(it, state, desk, ("对", "affirm"))
    _, state = it.handle(state, Message("", lat=31.23, long=121.47), desk)
    assert (state.lat, state.long) == (31.23, 121.47) and state.step == "when"


def test_state_round_trip() -> None:
    _, state = intake().start(Message("路灯坏了"))
    assert IntakeState.from_dict(state.to_dict()) == state
    assert IntakeState.from_dict(None) is None


def test_a_saved_draft_is_offered_and_continued_where_it_stopped() -> None:
    it, desk = intake(), RecordingDesk()
    _, state = it.start(Message("路灯坏了"))
    _, state = run(it, state, desk, ("对", "affirm"), ("杨浦", "x"))
    assert state.step == "address"
    draft = IntakeState.from_dict(state.to_dict())  # as saved in the database
    assert draft is not None
    offered = it.resume(draft)
    assert it.prompt(offered) == [Say("utter_complaint_resume_offer", {"description": "路灯坏了"})]
    _, resumed = run(it, offered, desk, ("好的", "affirm"))
    assert resumed.step == "address" and resumed.district == "杨浦区"
    fresh_offer = it.resume(IntakeState.from_dict(state.to_dict()))  # type: ignore[arg-type]
    _, fresh = run(it, fresh_offer, desk, ("不用了", "deny"))
    assert fresh.step == "description" and fresh.description == ""


def _phone_draft(it: Intake, desk: RecordingDesk) -> IntakeState:
    _, state = it.start(Message("小区门口路灯不亮"))
    _, state = run(it, state, desk, ("对", "affirm"), ("杨浦", "x"))
    return IntakeState.from_dict(state.to_dict())  # type: ignore[return-value]


def test_an_unproven_caller_names_the_matter_before_hearing_the_draft() -> None:
    it, desk = intake("phone"), RecordingDesk()
    asked = it.resume(_phone_draft(it, desk), proven=False)
    # Nothing of the draft is said until the caller names what it was about.
    assert it.prompt(asked) == [Say("utter_complaint_resume_check")]
    says, asked = run(it, asked, desk, ("上次说的是路都不亮", "report_problem"))  # misheard 路灯
    offer = Say("utter_complaint_resume_offer", {"description": "小区门口路灯不亮"})
    assert asked.step == "resume_offer" and says == [[offer]]
    _, resumed = run(it, asked, desk, ("对", "affirm"))
    assert resumed.step == "address" and resumed.district == "杨浦区"
    assert desk.kept_for_call_back == []


def test_a_caller_who_cannot_name_the_matter_never_hears_it_and_staff_call_back() -> None:
    it, desk = intake("phone"), RecordingDesk()
    draft = _phone_draft(it, desk)
    asked = it.resume(IntakeState.from_dict(draft.to_dict()), proven=False)  # type: ignore[arg-type]
    says, after = run(
        it, asked, desk, ("我要投诉上次的问题", "report_problem"), ("噪音扰民", "report_problem")
    )
    assert says == [
        [Say("utter_complaint_resume_check_failed"), Say("utter_complaint_resume_check_again")],
        [Say("utter_complaint_draft_to_staff"), Say("utter_ask_complaint_description")],
    ]
    assert after.step == "description" and after.description == ""  # a new complaint
    assert [kept.description for kept in desk.kept_for_call_back] == ["小区门口路灯不亮"]
    assert "路灯" not in str(says)


def test_an_unproven_caller_who_declines_leaves_the_draft_to_staff_not_deleted() -> None:
    it, desk = intake("phone"), RecordingDesk()
    asked = it.resume(_phone_draft(it, desk), proven=False)
    _, after = run(it, asked, desk, ("不用了", "deny"))
    assert after.step == "description"
    assert [kept.district for kept in desk.kept_for_call_back] == ["杨浦区"]
