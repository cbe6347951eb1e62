"""The Rasa adapter keeps the port's promise: a citizen's message gets replies or a
DialogueError, never silence."""

from __future__ import annotations

import json

import httpx
import pytest

from liangwang.dialogue import NEW_SESSION, NothingSaid, RasaRestEngine, UserTurn


def rasa_answering(body: object) -> RasaRestEngine:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=body))
    return RasaRestEngine("http://rasa", timeout_s=5, max_chars=100, transport=transport)


async def test_an_empty_answer_to_a_citizen_is_an_error_the_channels_apologise_for() -> None:
    # Rasa answers HTTP 200 and [] when a custom action fails.
    with pytest.raises(NothingSaid):
        await rasa_answering([]).send(UserTurn("web-1", "我要投诉", "web"))


async def test_a_new_session_may_be_answered_with_nothing() -> None:
    assert await rasa_answering([]).send(UserTurn("phone-1", NEW_SESSION, "phone")) == []


async def test_replies_are_typed_messages() -> None:
    engine = rasa_answering([{"text": "您好", "buttons": [{"title": "是", "payload": "/affirm"}]}])
    [message] = await engine.send(UserTurn("web-1", "你好", "web"))
    assert message.text == "您好" and message.buttons[0]["payload"] == "/affirm"


async def test_control_characters_never_reach_the_engine() -> None:
    sent: list[bytes] = []

    def rasa(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        return httpx.Response(200, json=[{"text": "好的"}])

    engine = RasaRestEngine(
        "http://rasa", timeout_s=5, max_chars=100, transport=httpx.MockTransport(rasa)
    )
    await engine.send(UserTurn("web-1", "\x00路灯\x1b[31m坏了\n第二行\x7f", "web"))
    assert json.loads(sent[0])["message"] == "路灯[31m坏了\n第二行"
