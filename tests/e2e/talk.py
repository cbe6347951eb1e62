"""Small helpers shared by the end-to-end tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx
from sqlalchemy.orm import Session

from liangwang.complaints import tickets
from liangwang.complaints.models import Ticket
from liangwang.complaints.tickets import NewTicket


def texts(replies: list[dict[str, object]]) -> list[str]:
    """The text of each reply from Rasa's REST webhook. Replies that carry only a
    channel instruction (``custom``, e.g. for the phone line) are skipped, as every text
    channel skips them."""
    return [str(r["text"]) for r in replies if r.get("text") is not None]


# A street-light complaint as a citizen tells it, answer after answer, up to the read-back
# that asks to confirm before it is filed.
COMPLAINT_TO_READ_BACK = (
    "我要投诉，我们小区门口的路灯坏了好几天了",
    "对",
    "杨浦区",
    "国和路一百号",
    "前天晚上",
    "幺三八 零零幺三 八零零零",
    "可以",
)


def web_chat(web_url: str) -> Callable[[str], httpx.Response]:
    """A new conversation on the citizen page's chat API: sends one message, as the page
    does, paced under the chat's per-conversation limit."""
    page = uuid.uuid4().hex[:16]
    client = httpx.Client(base_url=web_url, timeout=30)

    def send(text: str) -> httpx.Response:
        time.sleep(1.2)
        return client.post("/api/chat", json={"conversation_id": page, "text": text})

    return send


def complain_to_read_back(send: Callable[[str], httpx.Response]) -> None:
    """Tell the street-light complaint on the citizen page up to its read-back."""
    for said in COMPLAINT_TO_READ_BACK:
        assert send(said).status_code == 200


def assert_asked_to_send_again(reply: httpx.Response) -> None:
    """Refused as a part is away: said plainly, what was written kept to send again."""
    assert reply.status_code == 503, reply.text
    assert "请稍后再发一次" in reply.json()["detail"]


def new_id(prefix: str = "e2e") -> str:
    """A fresh conversation id (the prefix names the channel, e.g. "web-")."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def sounds_like(expected: str, text: str) -> bool:
    """``expected`` appears in ``text`` as heard: toneless pinyin, so a recogniser's
    homophone (男精西路 for 南京西路) still counts, as it would for a person listening."""
    from pypinyin import lazy_pinyin

    return " ".join(lazy_pinyin(expected)) in " ".join(lazy_pinyin(text))


def filed_on_the_phone(session: Session, phone: str, **fields: str) -> Ticket:
    """A street-light complaint in 静安 filed on the phone by the caller ``phone``;
    ``fields`` add to it (an address, a contact number)."""
    return tickets.file_ticket(
        session,
        NewTicket(
            category="streetlight",
            description="小区门口的路灯坏了",
            channel="phone",
            district="静安",
            identity=f"phone:{phone}",
            **fields,
        ),
        actor=f"phone:{phone}",
    )
