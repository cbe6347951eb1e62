"""The web chat by voice, through HTTP and a real WebSocket (Starlette's test client):
press-to-talk heard by the speech adapter with scripted engines, replies spoken only with
their signature. In a real browser with a fake microphone: tests/e2e/test_browser_voice.py."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from backoffice.app import create_citizen_app
from liangwang.conversation import BotMessage
from liangwang.dialogue import RecordingEngine
from liangwang.settings import Settings
from liangwang.wording import Say, render
from voice.audio import Audio
from voice.channel_speech import ChannelSpeech, SpeechEngines
from voice.fakes import RecordingSynthesizer, ScriptedRecognizer, tone
from voice.hints import YES_NO, RecognitionHints
from voice.speech_text import split_sentences

CONVERSATION = "voice0123456789"
VOICE_PATH = f"/api/chat/voice?conversation_id={CONVERSATION}&rate=16000"


@pytest.fixture
def recognizer() -> ScriptedRecognizer:
    return ScriptedRecognizer(["小区门口的路灯坏了", "对"])


@pytest.fixture
def engine() -> RecordingEngine:
    return RecordingEngine(
        lambda turn: [BotMessage("是路灯的问题，对吗？", custom={"expect": "yes_no"})]
    )


@pytest.fixture
def client(
    db_url: str, engine: RecordingEngine, recognizer: ScriptedRecognizer
) -> Iterator[TestClient]:
    engines = SpeechEngines(recognizer, RecordingSynthesizer(), RecognitionHints())
    speech = ChannelSpeech(lambda: engines, lambda: True, max_seconds=5)
    settings = Settings(database_url=db_url)
    with TestClient(create_citizen_app(settings, engine, speech)) as c:
        yield c


def talk(
    client: TestClient, pieces: list[bytes], path: str = VOICE_PATH
) -> list[dict[str, object]]:
    with client.websocket_connect(path) as socket:
        for piece in pieces:
            socket.send_bytes(piece)
        socket.send_text("end")
        said = [socket.receive_json()]
        while "heard" in said[-1]:
            said.append(socket.receive_json())
    return said


SPEECH = [tone(100, rate=16000).pcm] * 10  # a second, a tenth at a time


def test_press_to_talk_shows_what_was_heard_then_the_answer_with_its_speech(
    client: TestClient, engine: RecordingEngine, recognizer: ScriptedRecognizer
) -> None:
    heard, answered = talk(client, SPEECH)
    assert heard == {"heard": "小区门口的路灯坏了"}
    reply = answered["reply"]
    assert isinstance(reply, dict)
    [message] = reply["messages"]
    [piece] = message["speech"]  # one sentence: one piece to speak
    assert message["text"] == piece["text"] == "是路灯的问题，对吗？"
    [turn] = engine.turns
    assert turn.conversation_id == f"web-{CONVERSATION}" and turn.text == "小区门口的路灯坏了"
    assert turn.metadata == {"input": "voice", "confidence": 0.9}
    assert recognizer.heard_bytes == [len(b"".join(SPEECH))]  # everything streamed was heard
    # The question asked for yes or no: the next answer is heard with those hints.
    talk(client, SPEECH)
    assert recognizer.hints_seen[1] == YES_NO

    spoken = client.post("/api/chat/speech", json=piece)
    assert spoken.status_code == 200 and spoken.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(spoken.content)) as read:
        assert read.getnframes() > 0


def test_the_voice_of_the_service_says_only_what_the_assistant_said(client: TestClient) -> None:
    [_heard, answered] = talk(client, SPEECH)
    [piece] = answered["reply"]["messages"][0]["speech"]  # type: ignore[index]
    forged = {"text": "市政府通知：请把验证码告诉来电人", "signature": piece["signature"]}
    assert client.post("/api/chat/speech", json=forged).status_code == 403
    unsigned = {"text": piece["text"], "signature": "0" * 64}
    assert client.post("/api/chat/speech", json=unsigned).status_code == 403


def test_a_long_answer_is_spoken_in_pieces_the_first_ready_soonest(
    db_url: str, recognizer: ScriptedRecognizer
) -> None:
    answer = "好的，您反映的路灯问题已经记下了。请问这是在上海的哪一个区呢？"
    engine = RecordingEngine(lambda turn: [BotMessage(answer)])
    engines = SpeechEngines(recognizer, RecordingSynthesizer(), RecognitionHints())
    speech = ChannelSpeech(lambda: engines, lambda: True)
    app = create_citizen_app(Settings(database_url=db_url), engine, speech)
    with TestClient(app) as c:
        typed = c.post("/api/chat", json={"conversation_id": CONVERSATION, "text": "路灯坏了"})
        pieces = typed.json()["messages"][0]["speech"]
        assert [p["text"] for p in pieces] == split_sentences(answer) and len(pieces) == 2
        assert all(c.post("/api/chat/speech", json=p).status_code == 200 for p in pieces)


def test_nothing_heard_and_half_samples_are_said_plainly_and_never_reach_the_dialogue(
    client: TestClient, engine: RecordingEngine, recognizer: ScriptedRecognizer
) -> None:
    recognizer.script[:] = [""]
    [said] = talk(client, SPEECH)
    assert said == {"error": render(Say("utter_channel_not_heard"))}
    [said] = talk(client, [b"\x00\x01\x02"])
    assert said == {"error": render(Say("utter_channel_voice_unreadable"))}
    assert engine.turns == []


def test_a_turn_past_the_longest_is_cut_there(
    client: TestClient, recognizer: ScriptedRecognizer
) -> None:
    second = Audio.silence(1, rate=16000).pcm
    with client.websocket_connect(VOICE_PATH) as socket:
        for _ in range(7):  # 7 s sent to a 5 s limit: heard without waiting for "end"
            socket.send_bytes(second)
        assert socket.receive_json() == {"heard": "小区门口的路灯坏了"}
    assert recognizer.heard_bytes == [5 * 16000 * 2]


def test_a_page_from_another_site_cannot_open_the_microphone_socket(client: TestClient) -> None:
    evil = {"origin": "https://evil.example"}
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(VOICE_PATH, headers=evil),
    ):
        pass
    assert refused.value.code == 1008
    with client.websocket_connect(VOICE_PATH, headers={"origin": "http://testserver"}) as ok:
        ok.send_text("end")
        assert "heard" in ok.receive_json()


def test_without_a_speech_model_the_page_offers_no_microphone(db_url: str) -> None:
    settings = Settings(database_url=db_url)
    with TestClient(create_citizen_app(settings, RecordingEngine())) as c:
        page = c.get("/").text
        assert 'id="talk"' not in page and "chat-voice.js" not in page
        with c.websocket_connect(VOICE_PATH) as socket:
            socket.send_text("end")
            assert socket.receive_json() == {
                "error": render(Say("utter_channel_voice_unavailable"))
            }
        typed = c.post("/api/chat", json={"conversation_id": CONVERSATION, "text": "你好"})
        assert typed.json()["messages"][0]["speech"] == []


def test_the_page_offers_the_microphone_and_reading_aloud_when_it_can(client: TestClient) -> None:
    page = client.get("/").text
    assert 'id="talk"' in page and 'id="read-aloud"' in page and "chat-voice.js" in page
