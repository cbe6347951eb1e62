"""The guide state machine, with the test catalog and the real wording fragments."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from liangwang.catalog.answers import guide_replies
from liangwang.catalog.guide import Guide, Turn
from liangwang.catalog.guide_state import GuideState
from liangwang.catalog.loader import load
from liangwang.catalog.schema import Office, Service
from liangwang.catalog.search import Candidate, CatalogIndex
from liangwang.spoken import parse_age
from liangwang.wording import Say, fragments_from_responses

ROOT = Path(__file__).resolve().parents[2]
CATALOG = load((ROOT / "tests" / "fixtures" / "catalog_mini.yml").read_text(), "yaml")
RESPONSES = yaml.safe_load((ROOT / "bot" / "domain.yml").read_text())["responses"]


class MiniCatalog:
    def __init__(self) -> None:
        self._index = CatalogIndex(CATALOG.services)

    @property
    def services(self) -> Mapping[str, Service]:
        return self._index.services

    def search(self, query: str, limit: int = 5) -> list[Candidate]:
        return self._index.search(query, limit)

    def offices(self, kind: str, district: str) -> list[Office]:
        return [o for o in CATALOG.offices if o.kind == kind and o.district == district]


@pytest.fixture
def guide() -> Guide:
    return Guide(MiniCatalog(), fragments_from_responses(RESPONSES))


def names(says: list[Say]) -> list[str]:
    return [s.response for s in says]


def test_every_response_the_guide_can_use_exists_in_the_domain() -> None:
    import liangwang.catalog.guide as module

    source = Path(module.__file__).read_text()
    used = set(re.findall(r'"(utter_[a-z_]+[a-z])"', source))
    assert used <= set(RESPONSES), used - set(RESPONSES)


def test_service_is_presented_a_step_at_a_time(guide: Guide) -> None:
    says, state = guide.respond(GuideState(), Turn("ask_service", "我想补办社保卡"))
    assert says == [
        Say(
            "utter_service_intro",
            {"name": "社会保障卡申领与补换", "summary": "申领、补领或换领社会保障卡。"},
        ),
        Say("utter_guide_first_step", {"total": "2", "step": "带身份证到社区事务受理服务中心。"}),
        Say("utter_ask_continue"),
    ]
    assert (state.service_id, state.awaiting, state.step) == (
        "social-security-card",
        "more_steps",
        1,
    )
    says, state = guide.respond(state, Turn("affirm", "好的"))
    assert says == [
        Say("utter_guide_step", {"number": "2", "step": "当场拍照，填表。"}),
        Say("utter_guide_done"),
    ]
    assert state.awaiting is None


def test_saying_no_stops_reading(guide: Guide) -> None:
    _, state = guide.respond(GuideState(), Turn("ask_service", "社保卡"))
    says, state = guide.respond(state, Turn("deny", "不用了"))
    assert names(says) == ["utter_guide_stopped"] and state.awaiting is None


def test_homophone_from_speech_recognition_finds_the_service(guide: Guide) -> None:
    _, state = guide.respond(GuideState(), Turn("ask_service", "居住正怎么办"))
    assert state.service_id == "residence-permit-apply"


def test_close_candidates_become_a_question_and_a_choice(guide: Guide) -> None:
    says, state = guide.respond(GuideState(), Turn("ask_service", "社保卡和居住证"))
    [question] = says
    assert question.response == "utter_which_service"
    assert question.vars["options"].count("第") == 2
    assert [b["payload"] for b in question.buttons] == ["第1个", "第2个"]
    assert state.awaiting == "choice"
    second = state.candidates[1]
    says, state = guide.respond(state, Turn("choose_option", "第二个"))
    assert state.service_id == second and names(says)[0] == "utter_service_intro"
    assert state.candidates == []


def test_materials_checklist_is_one_message(guide: Guide) -> None:
    _, state = guide.respond(GuideState(), Turn("ask_service", "居住证"))
    says, state = guide.respond(state, Turn("ask_materials", "要带什么材料"))
    assert says == [
        Say(
            "utter_materials_checklist",
            {
                "name": "上海市居住证申领",
                "items": "1. 居民身份证，原件1份\n"
                "2. 居住证明，原件和复印件各1份（租房合同或房产证。）",
            },
        ),
        Say("utter_offer_repeat"),
    ]


def test_district_is_asked_only_when_the_answer_depends_on_it(guide: Guide) -> None:
    _, state = guide.respond(GuideState(), Turn("ask_service", "社保卡"))
    says, state = guide.respond(state, Turn("ask_fee", "要钱吗"))
    assert says == [Say("utter_fee", {"fee": "首次免费。"})]
    says, state = guide.respond(state, Turn("ask_location", "在哪里办"))
    assert names(says) == ["utter_ask_district"] and state.awaiting == "district"
    says, state = guide.respond(state, Turn("inform_district", "我住浦东", district="浦东"))
    assert names(says) == [
        "utter_district_noted",
        "utter_office",
        "utter_office_unverified",
        "utter_district_variation",
    ]
    assert says[1].vars["address"] == "上海市浦东新区测试路2号"
    # Known now: not asked again.
    says, _ = guide.respond(state, Turn("ask_location", "几点上班"))
    assert names(says)[0] == "utter_office"


def test_district_said_in_passing_is_remembered(guide: Guide) -> None:
    _, state = guide.respond(GuideState(), Turn("ask_service", "我是黄浦的，想办社保卡"))
    says, _ = guide.respond(state, Turn("ask_location", "在哪办"))
    assert says[0].vars["office"] == "黄浦区社区事务受理服务中心（测试）"


def test_online_only_service_needs_no_district(guide: Guide) -> None:
    _, state = guide.respond(GuideState(), Turn("ask_service", "取公积金"))
    says, _ = guide.respond(state, Turn("ask_location", "去哪里办"))
    assert says == [Say("utter_online_only", {"name": "住房公积金提取", "channel": "随申办App"})]


def test_duration_online_and_proxy(guide: Guide) -> None:
    _, state = guide.respond(GuideState(), Turn("ask_service", "居住证"))
    assert guide.respond(state, Turn("ask_duration", "多久"))[0] == [
        Say("utter_duration_both", {"promised": "7", "legal": "15"})
    ]
    assert guide.respond(state, Turn("ask_online", "网上能办吗"))[0] == [
        Say("utter_online_yes", {"channel": "随申办App"})
    ]
    assert guide.respond(state, Turn("ask_proxy", "儿子能帮我办吗"))[0] == [
        Say("utter_proxy_yes", {"rules": "可以委托他人代办。", "documents": "委托书"})
    ]
    _, fund = guide.respond(GuideState(), Turn("ask_service", "公积金提取"))
    assert names(guide.respond(fund, Turn("ask_proxy", "能代办吗"))[0]) == ["utter_proxy_no"]


def test_eligibility_one_question_at_a_time(guide: Guide) -> None:
    _, state = guide.respond(GuideState(), Turn("ask_service", "居住证"))
    says, state = guide.respond(state, Turn("ask_eligibility", "我符合条件吗"))
    assert says == [Say("utter_eligibility_question", {"question": "您在上海住满半年了吗？"})]
    says, state = guide.respond(state, Turn("affirm", "住了三年了"))
    assert says == [Say("utter_eligibility_question", {"question": "您今年多大年纪？"})]
    says, state = guide.respond(state, Turn("inform_age", "我七十二了"))
    assert says == [Say("utter_eligible_yes")] and state.awaiting is None


def test_eligibility_no_and_uncertain(guide: Guide) -> None:
    _, state = guide.respond(GuideState(), Turn("ask_service", "居住证"))
    _, state = guide.respond(state, Turn("ask_eligibility", "我能办吗"))
    says, state = guide.respond(state, Turn("deny", "还没有"))
    # Unclear age: one hint, then it counts as unknown.
    says, state = guide.respond(state, Turn("inform_age", "记不清了"))
    assert names(says) == ["utter_eligibility_hint_age", "utter_eligibility_question"]
    says, state = guide.respond(state, Turn("inform_age", "真记不清"))
    assert says == [Say("utter_eligible_no", {"reasons": "要住满半年。"})]

    _, state = guide.respond(state, Turn("ask_eligibility", "我能办吗"))
    _, state = guide.respond(state, Turn("affirm", "是的"))
    _, state = guide.respond(state, Turn("inform_age", "不告诉你"))
    says, state = guide.respond(state, Turn("inform_age", "不说"))
    assert names(says) == ["utter_eligible_uncertain"]


def test_switching_service_and_coming_back(guide: Guide) -> None:
    _, state = guide.respond(GuideState(), Turn("ask_service", "社保卡"))
    _, state = guide.respond(state, Turn("ask_service", "那居住证呢"))
    assert state.service_id == "residence-permit-apply"
    says, state = guide.respond(state, Turn("go_back", "回到刚才那个"))
    assert says == [Say("utter_back_to_service", {"name": "社会保障卡申领与补换"})]
    assert state.service_id == "social-security-card"
    # A follow-up that names another service switches to it.
    says, state = guide.respond(state, Turn("ask_fee", "居住证要钱吗"))
    assert state.service_id == "residence-permit-apply" and says == [
        Say("utter_fee", {"fee": "免费。"})
    ]


def test_question_before_the_service_is_answered_once_it_is_known(guide: Guide) -> None:
    says, state = guide.respond(GuideState(), Turn("ask_materials", "要带什么材料"))
    assert names(says) == ["utter_ask_which_service"]
    says, state = guide.respond(state, Turn("ask_service", "居住证"))
    assert names(says) == ["utter_service_intro", "utter_materials_checklist", "utter_offer_repeat"]


@pytest.mark.parametrize(
    "turn",
    [
        Turn("ask_location", "晚饭烧点啥好呢"),
        Turn("ask_duration", "桃子什么时候最甜"),
        Turn("ask_service_guide", "阿拉外孙今朝钢琴考级过了"),
    ],
)
def test_chatter_taken_for_a_request_is_not_understood_never_asked_which_service(
    guide: Guide, turn: Turn
) -> None:
    says, state = guide.respond(GuideState(), turn)
    assert says == [] and state == GuideState()  # no question left pending either


def test_unknown_service(guide: Guide) -> None:
    says, _ = guide.respond(GuideState(), Turn("ask_service", "明天下雨吗"))
    assert names(says) == ["utter_service_not_found"]


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("72岁", 72),
        ("我七十二了", 72),
        ("六十八", 68),
        ("八十", 80),
        ("十五岁", 15),
        ("九岁", 9),
        ("不知道", None),
    ],
)
def test_parse_age(text: str, age: int | None) -> None:
    assert parse_age(text) == age


def test_state_survives_the_slot_round_trip(guide: Guide) -> None:
    _, state = guide.respond(GuideState(), Turn("ask_service", "社保卡"))
    assert GuideState.from_slot(state.to_slot()) == state
    assert GuideState.from_slot(None) == GuideState()


def test_a_weak_guess_is_confirmed_before_reading(guide: Guide) -> None:
    weak = Candidate("residence-permit-apply", "上海市居住证申领", 0.3, ["有2个字读音相同"], 0.2)
    guide.catalog.search = lambda query, limit=5: [weak]  # type: ignore[method-assign]
    says, state = guide.respond(GuideState(), Turn("ask_service", "那个住的证"))
    assert names(says) == ["utter_confirm_service"] and state.awaiting == "choice"
    assert says in list(guide_replies(guide.catalog, guide.fragments))  # prepared ahead
    says, state = guide.respond(state, Turn("affirm", "对"))
    assert names(says)[0] == "utter_service_intro"
    assert state.service_id == "residence-permit-apply"


def test_coming_back_after_a_detour_that_was_not_a_service(guide: Guide) -> None:
    _, state = guide.respond(GuideState(), Turn("ask_service", "社保卡"))
    # (a complaint or another question was handled elsewhere in between)
    says, state = guide.respond(state, Turn("go_back", "刚才那个事接着说"))
    assert says == [Say("utter_back_to_service", {"name": "社会保障卡申领与补换"})]
    assert guide.respond(GuideState(), Turn("go_back", "回到刚才"))[0] == [
        Say("utter_nothing_to_go_back_to")
    ]


def test_no_response_variable_shadows_a_message_field() -> None:
    # Rasa treats these keys of a custom action's message as the message itself.
    import liangwang.catalog.guide as module

    source = Path(module.__file__).read_text()
    for reserved in ("text", "image", "buttons", "custom", "attachment", "elements"):
        assert f'"{reserved}": ' not in source, reserved


def test_every_reply_of_a_walk_through_the_guide_is_known_ahead(guide: Guide) -> None:
    # The phone line prepares these replies in its voice before any call
    # (liangwang/catalog/answers.py): what a caller hears must be among them.
    known = list(guide_replies(guide.catalog, guide.fragments))
    walk = [
        Turn("ask_service", "我想补办社保卡"),
        Turn("affirm", "好的"),
        Turn("ask_fee", "要钱吗"),
        Turn("ask_location", "在哪里办"),
        Turn("inform_district", "我住浦东", district="浦东"),
        Turn("ask_materials", "要带什么"),
        Turn("ask_service", "居住证"),
        Turn("ask_duration", "多久能好"),
        Turn("ask_eligibility", "我能办吗"),
        Turn("affirm", "住了三年了"),
        Turn("ask_location", "黄浦区在哪办"),
        Turn("ask_proxy", "儿子能帮我办吗"),
    ]
    state = GuideState()
    for turn in walk:
        says, state = guide.respond(state, turn)
        assert says in known, (turn, says)
    # Each service's opening, and every district's office for a service with offices.
    assert len(known) == len({repr(reply) for reply in known})  # each once
    offices = {
        say.vars["office"] for reply in known for say in reply if say.response == "utter_office"
    }
    assert offices == {o.name for o in CATALOG.offices if o.kind == "community_center"}


@pytest.mark.parametrize(
    "turn",
    [
        Turn("affirm", "嗯"),  # a lone "嗯" with no question pending
        Turn("affirm", "hjkl"),
        Turn("inform_age", "我今年七十多了"),  # an age with no eligibility asked
        Turn("deny", "啊啊"),
        Turn("continue", "然后"),  # "然后" with nothing begun
        Turn("inform_district", "我们我们"),  # no district in it, none asked for
    ],
)
def test_a_turn_the_guide_cannot_use_is_not_understood_never_acknowledged(
    guide: Guide, turn: Turn
) -> None:
    says, state = guide.respond(GuideState(), turn)
    assert says == [] and state == GuideState()


def test_a_filler_answering_a_question_stays_an_answer(guide: Guide) -> None:
    _, state = guide.respond(GuideState(), Turn("ask_service", "社保卡"))
    says, _ = guide.respond(state, Turn("affirm", "嗯"))  # "要继续听吗？" — "嗯"
    assert names(says)[0] == "utter_guide_step"


def test_a_district_that_was_asked_for_but_not_heard_is_asked_again(guide: Guide) -> None:
    _, state = guide.respond(GuideState(), Turn("ask_location", "社保卡去哪里办"))
    assert state.awaiting == "district"
    says, state = guide.respond(state, Turn("inform_district", "我们那个区"))
    assert names(says) == ["utter_district_unknown"] and state.awaiting == "district"
    # A homophone of a district, said where a district was asked for, is that district.
    says, state = guide.respond(state, Turn("inform_district", "黄埔"))
    assert names(says)[0] == "utter_district_noted" and state.district == "黄浦区"


@pytest.mark.parametrize(
    "turn",
    [
        Turn("inform_age", "我今年七十多了，设保卡丢了怎么弄"),  # context first, misheard
        Turn("inform_district", "我住浦东的，社保卡要补办", district="浦东"),
        Turn("affirm", "对对，我就是想问那个社保卡补办"),
    ],
)
def test_the_request_after_the_context_is_found(guide: Guide, turn: Turn) -> None:
    says, state = guide.respond(GuideState(), turn)
    assert names(says)[0] == "utter_service_intro"
    assert state.service_id == "social-security-card"


def test_the_whole_phrase_wins_over_a_partial_entity(guide: Guide) -> None:
    # NLU tagged 公积金 (another service's short name) inside 居住证: the words win.
    turn = Turn("ask_fee", "办居住证要不要钱", service="公积金")
    says, state = guide.respond(GuideState(), turn)
    assert state.service_id == "residence-permit-apply"
    assert says[-1] == Say("utter_fee", {"fee": "免费。"})


def test_a_question_about_a_service_at_the_start_is_answered_for_it(guide: Guide) -> None:
    # The first turn names a (misheard) service and asks about it at once.
    says, state = guide.respond(GuideState(), Turn("ask_fee", "居住正办下来要钱吗"))
    assert state.service_id == "residence-permit-apply"
    assert names(says) == ["utter_service_intro", "utter_fee"]


def test_clauses_naming_different_services_are_asked_about(guide: Guide) -> None:
    # Wrong guidance is worse than a question: neither service is read out.
    says, state = guide.respond(GuideState(), Turn("ask_service", "社保卡已经补好了，居住证怎么办"))
    assert names(says) == ["utter_which_service"]
    assert set(state.candidates) == {"social-security-card", "residence-permit-apply"}


def test_an_unsure_facet_question_at_the_start_is_read_again_as_a_request(
    guide: Guide,
) -> None:
    # A misheard name can pull NLU towards a facet ("我想办章近老卡" as ask_location): unsure,
    # the steps are read rather than a district asked for.
    unsure = Turn("ask_location", "我想办居住正", confidence=0.6)
    says, state = guide.respond(GuideState(), unsure)
    assert state.service_id == "residence-permit-apply"
    assert names(says)[:2] == ["utter_service_intro", "utter_guide_first_step"]
    # Sure of it, the question is answered: where depends on the district, so it is asked.
    sure = Turn("ask_location", "我想办居住正", confidence=0.9)
    says, state = guide.respond(GuideState(), sure)
    assert names(says) == ["utter_service_intro", "utter_ask_district"]
    # Unsure, and no service named ("上证指数今天收了多少点" as ask_fee): not understood,
    # where a sure question without a service asks which one.
    says, _ = guide.respond(GuideState(), Turn("ask_fee", "今天收了多少点", confidence=0.6))
    assert says == []
    says, _ = guide.respond(GuideState(), Turn("ask_fee", "要多少钱", confidence=0.9))
    assert names(says) == ["utter_ask_which_service"]
