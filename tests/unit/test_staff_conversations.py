"""The back office's conversation review pages (backoffice/staff_conversations.py): every
channel's conversations, filtered and searched in Chinese, read turn by turn with what NLU
made of each, masked, marked reviewed and tagged; what citizens wrote stays text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from backoffice.app import create_staff_app
from liangwang.dialogue import RecordingEngine
from liangwang.review import listing
from liangwang.review.ingest import conversation
from liangwang.settings import Settings
from liangwang.staff.models import Role
from ops.staff_client import StaffBrowser
from tests.staff_desk import signed_in
from tests.unit.test_review import CARD, LAMP, MISHEARD, T0, _store, said

HOSTILE = said("web-x9", "<script>alert(1)</script><img src=x onerror=alert(2)>", T0 + 40)


@pytest.fixture
def reviewer(db_url: str, sessions: sessionmaker[Session]) -> Iterator[StaffBrowser]:
    _store(sessions, [*LAMP, *CARD, *MISHEARD, HOSTILE])
    app = create_staff_app(Settings(database_url=db_url), RecordingEngine())
    with signed_in(app, db_url, Role.reviewer) as member:
        yield member


def page_of(sessions: sessionmaker[Session], conversation_id: str) -> str:
    with sessions() as s:
        found = conversation(s, conversation_id)
        assert found is not None
        return f"/staff/conversations/{found.id}"


def _listed(page: str) -> list[str]:
    return [cid for cid in ("web-a1", "telegram-7", "phone:", "web-x9") if cid in page]


def test_every_channel_is_listed_and_found_by_chinese_words_masked(
    reviewer: StaffBrowser,
) -> None:
    everything = reviewer.get("/staff/conversations").text
    assert _listed(everything) == ["web-a1", "telegram-7", "phone:", "web-x9"]
    assert _listed(reviewer.get("/staff/conversations?q=路灯").text) == ["web-a1"]
    as_the_form_sends = "/staff/conversations?q=路灯&channel=&since=&until=&tag="
    assert _listed(reviewer.get(as_the_form_sends).text) == ["web-a1"]
    broken = reviewer.get("/staff/conversations?q=路灯坏").text  # every word, in any order
    assert _listed(broken) == ["web-a1"]
    assert "139****5678" in broken and "13912345678" not in broken  # found, and masked
    assert _listed(reviewer.get("/staff/conversations?q=敬老卡").text) == ["telegram-7"]
    assert _listed(reviewer.get("/staff/conversations?channel=phone").text) == ["phone:"]
    handed = reviewer.get("/staff/conversations?handed_over=true&fell_back=true").text
    assert _listed(handed) == ["phone:"]
    unsure = reviewer.get("/staff/conversations?low_confidence=true").text
    assert _listed(unsure) == ["phone:"]  # NLU 0.31, the recogniser 0.42
    assert _listed(reviewer.get("/staff/conversations?has_ticket=true").text) == []


def test_a_conversation_turn_by_turn_with_intents_confidence_and_actions(
    reviewer: StaffBrowser, sessions: sessionmaker[Session]
) -> None:
    page = reviewer.get(page_of(sessions, "phone:13800138000")).text
    assert "nlu_fallback (0.31)" in page and "语音识别把握 0.42" in page
    assert "action_fallback_chain" in page and "action_handoff" in page
    assert "13800138000" not in page  # the caller's number, masked in the heading too
    lamp = reviewer.get(page_of(sessions, "web-a1")).text
    assert "report_problem (0.93)" in lamp and "是路灯的问题，对吗？" in lamp
    assert reviewer.get("/staff/conversations/999").status_code == 404


def test_what_a_citizen_wrote_is_shown_as_text_everywhere(
    reviewer: StaffBrowser, sessions: sessionmaker[Session]
) -> None:
    shown = (page_of(sessions, "web-x9"), "/staff/conversations?q=script")
    for path in ("/staff/conversations", *shown):
        page = reviewer.get(path).text
        assert "<script>alert(1)" not in page and "<img src=x" not in page, path
        assert path not in shown or "&lt;script&gt;" in page, path


def test_reviewed_and_tagged_conversations_are_filtered_so(
    reviewer: StaffBrowser, sessions: sessionmaker[Session]
) -> None:
    lamp = page_of(sessions, "web-a1")
    assert reviewer.post(f"{lamp}/reviewed").status_code == 303
    assert reviewer.post(f"{lamp}/tags", tag="路灯").status_code == 303
    assert reviewer.post(f"{lamp}/tags", tag="a,b").status_code == 422
    unreviewed = reviewer.get("/staff/conversations?not_reviewed=true").text
    assert "web-a1" not in unreviewed and "telegram-7" in unreviewed
    assert _listed(reviewer.get("/staff/conversations?tag=路灯").text) == ["web-a1"]
    assert "已审阅" in reviewer.get(lamp).text


def _first_citizen_turn(sessions: sessionmaker[Session], conversation_id: str) -> int:
    with sessions() as s:
        [turn, *_] = [t for t in listing.turns_of(s, conversation_id) if t.kind == "user"]
        return turn.id


def test_a_corrected_turn_is_kept_beside_it_and_exported_as_training_data(
    reviewer: StaffBrowser, sessions: sessionmaker[Session], db_url: str, tmp_path: Path
) -> None:
    phone = page_of(sessions, "phone:13800138000")
    turn = _first_citizen_turn(sessions, "phone:13800138000")  # 嗯那个 → nlu_fallback
    fixed = reviewer.post(
        f"{phone}/turns/{turn}/correct", intent="handoff", entities="", note="想找人工"
    )
    assert fixed.status_code == 303
    lamp = page_of(sessions, "web-a1")
    lamp_turn = _first_citizen_turn(sessions, "web-a1")
    reviewer.post(f"{lamp}/turns/{lamp_turn}/correct", intent="report_problem",
                  entities="service=路灯\nnot an entity line")  # fmt: skip
    assert reviewer.post(f"{lamp}/turns/{lamp_turn}/correct", intent="no_such").status_code == 422
    page = reviewer.get(phone).text
    assert "nlu_fallback (0.31)" in page and "更正为 handoff" in page  # the turn as it was
    with sessions() as s:
        [said] = [t for t in listing.turns_of(s, "phone:13800138000") if t.id == turn]
        assert said.intent == "nlu_fallback"  # never edited

    export = reviewer.get("/staff/review/export").text
    assert "- intent: handoff" in export and "嗯那个" in export
    assert "小区门口的[路灯](service)坏了，我电话139****5678" in export  # masked, annotated
    story = reviewer.get(f"{phone}/story.yml")
    assert story.headers["content-type"].startswith("text/yaml")
    assert "intent: handoff" in story.text and "action: action_handoff" in story.text
    assert "13800138000" not in story.text


def test_only_an_administrator_writes_the_export_file(
    db_url: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _store(sessions, LAMP)
    target = tmp_path / "reviewed.yml"
    settings = Settings(database_url=db_url, review_export_file=target)
    app = create_staff_app(settings, RecordingEngine())
    turn = _first_citizen_turn(sessions, "web-a1")
    with signed_in(app, db_url, Role.reviewer) as reviewer:
        reviewer.post(f"{page_of(sessions, 'web-a1')}/turns/{turn}/correct", intent="out_of_scope")
        assert reviewer.post("/staff/review/export").status_code == 403
    assert not target.exists()
    with signed_in(app, db_url, Role.admin) as admin:
        assert admin.post("/staff/review/export").status_code == 303
    assert "- intent: out_of_scope" in target.read_text(encoding="utf-8")


def test_the_most_frequent_misunderstandings_are_grouped_by_how_they_were_said(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    unsure = {"intent": "nlu_fallback", "conf": 0.3}
    _store(
        sessions,
        [
            said("web-m1", "我那个卡丢了咋整", T0, **unsure),
            said("web-m2", "我的卡丢了咋整啊", T0 + 1, **unsure),
            said("web-m3", "卡丢了咋整", T0 + 2, **unsure),
            said("web-m4", "今天天气怎么样", T0 + 3, **unsure),
            said("web-m5", "我的卡丢了咋整", T0 + 4, intent="ask_service", conf=0.95),  # understood
            said("web-m6", "/affirm", T0 + 5, intent="affirm", conf=0.2),  # a tap
        ],
    )
    app = create_staff_app(Settings(database_url=db_url), RecordingEngine())
    with signed_in(app, db_url, Role.reviewer) as reviewer:
        page = reviewer.get("/staff/review/misunderstood").text
    rows = re.findall(r"<tr><td>(\d+)</td>", page)
    assert rows == ["3", "1"]  # the lost card three ways, then the weather
    assert "今天天气怎么样" in page and "/affirm" not in page
    assert page.index("咋整") < page.index("今天天气怎么样")
