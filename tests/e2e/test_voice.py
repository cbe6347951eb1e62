"""End to end: the voice pipeline with its real engines (Whisper base, espeak-ng through
pyttsx3, webrtcvad) talking to the real Rasa server, action server and database.

The caller is natural recorded Mandarin (tests/fixtures/voice), sent through an 8 kHz
μ-law round trip as on a telephone line. The line itself is a recording fake here; the
SIP tests (test_phone_line.py) put a real SIP user agent in front of the same pipeline.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from liangwang.dialogue import RasaRestEngine
from liangwang.personal_data import mask_phone
from liangwang.settings import Settings, SttEngine
from ops.harness import LIANGWANG, RunningStack
from tests.e2e.talk import sounds_like
from voice import events as ev
from voice.app import build_engines
from voice.audio import Audio
from voice.fakes import FakeLine
from voice.line import AudioFrame, Dtmf, Hangup
from voice.session import CallConfig, CallSession, VoiceEngines

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "voice"
CONFIG = CallConfig(end_silence_ms=800, digit_timeout_s=1.5)


def telephone(fixture: str) -> Audio:
    return Audio.from_wav(FIXTURES / f"{fixture}.wav").over_telephone()


@pytest.fixture(scope="module")
def shared(stack: RunningStack, whisper_model: Path) -> VoiceEngines:
    settings = Settings(
        data_dir=stack.data_dir,
        stt_engine=SttEngine.whisper,
        whisper_model=whisper_model,
        rasa_port=int(stack.rasa_url.rsplit(":", 1)[1]),
    )
    return build_engines(settings)


@pytest.fixture
async def engines(shared: VoiceEngines, stack: RunningStack) -> AsyncIterator[VoiceEngines]:
    # An HTTP client belongs to one event loop, and each test has its own loop.
    dialogue = RasaRestEngine(stack.rasa_url, timeout_s=30, max_chars=4000)
    yield dataclasses.replace(shared, dialogue=dialogue)
    await dialogue.aclose()


class VoiceCall:
    def __init__(self, engines: VoiceEngines, caller: str) -> None:
        self.line = FakeLine(caller=caller, call_id=f"e2e-{uuid.uuid4().hex[:8]}")
        self.engines = engines
        self.events: list[ev.CallEvent] = []

    def say(self, fixture: str) -> VoiceCall:
        audio = telephone(fixture) + Audio.silence(1.2)
        self.line.feed([AudioFrame(f) for f in audio.frames()])
        return self

    def keys(self, keys: str) -> VoiceCall:
        """Press keys, then pause as a caller does (a pause also ends keys without #)."""
        self.line.feed(*[Dtmf(k) for k in keys])
        self.line.feed([AudioFrame(f) for f in Audio.silence(2.0).frames()])
        return self

    async def run(self, *, hang_up: bool = True) -> str:
        if hang_up:
            self.line.feed(Hangup())
        return await CallSession(self.line, self.engines, CONFIG, self.events.append).run()

    def heard(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, ev.Recognized)]

    def said(self) -> str:
        return " ".join(t for e in self.events if isinstance(e, ev.Spoke) for t in e.texts)

    def replies(self) -> list[str]:
        return [" ".join(e.texts) for e in self.events if isinstance(e, ev.Spoke)]


def new_caller() -> str:
    return "139" + str(uuid.uuid4().int)[:8]


async def test_a_spoken_question_gets_the_guide_read_out(engines: VoiceEngines) -> None:
    call = VoiceCall(engines, new_caller()).say("jinglaoka").say("cailiao")
    assert await call.run() == "caller-hangup"
    heard = call.heard()
    assert "老卡" in heard[0]  # 敬老卡, or a homophone the catalog search still finds
    guide, materials = call.replies()[1], call.replies()[2]
    assert "敬老卡" in guide and "一共3步" in guide
    assert "居民身份证" in materials
    # Every reply was spoken: real audio went down the line.
    assert sum(a.duration_s for a in call.line.played) > 10


async def test_a_complaint_by_voice_and_keypad_is_filed(
    engines: VoiceEngines, stack: RunningStack
) -> None:
    caller = new_caller()
    call = VoiceCall(engines, caller)
    call.keys("2")  # the spoken menu: 2 我要找茬
    # The long description: Whisper base hears the short one ("我家门口的路灯坏了") as
    # "…的路都坏了" on some CPUs, which is a complaint of another kind; this one's
    # context (晚上黑呼呼的) tells the kind whichever it hears.
    call.say("long_ludeng")  # …我家楼下那条路上的路灯坏了好几天了，晚上黑乎乎的…
    call.keys("1#")  # 听起来是“路灯”方面的问题，对吗？ — 1 is yes
    call.say("jingan")  # 我住在静安区
    call.say("address")  # 南京西路一百号
    call.say("zuotian")  # 大概是什么时候？ — 昨天晚上
    call.keys("1#")  # 回复就打您现在这个号码…可以吗？
    call.keys("2#")  # may the department see the phone? no
    call.keys("1#")  # read-back: 对吗？ yes → filed
    call.keys("1#")  # if someone nearby reported it already: yes, merge (并单)
    await call.run()
    said = call.said()
    assert "路灯" in said and "静安区" in said and sounds_like("南京西路", said), call.heard()
    match = re.search(r"(?:编号是|合并到编号) (\d{3} \d{3})", said)
    assert match, call.replies()
    number = match.group(1).replace(" ", "")
    found = httpx.get(f"{stack.web_url}/open311/v2/requests/{number}.json").json()
    assert found[0]["service_request_id"] == number
    assert sounds_like("南京西路", found[0]["address"])


async def test_a_dropped_call_resumes_the_complaint_on_the_next_call(
    engines: VoiceEngines,
) -> None:
    caller = new_caller()
    first = VoiceCall(engines, caller).keys("2").say("long_ludeng").keys("1#")
    first.line.feed(Hangup())  # the line drops while we ask for the district
    await first.run(hang_up=False)
    assert first.replies()[-1] == "在哪个区？"

    # The greeting mentions the unfinished complaint; 2 (我要找茬) asks what it was about
    # (a caller ID alone is no proof), and naming it offers the draft back.
    second = VoiceCall(engines, caller).keys("2").say("long_ludeng").keys("1#").say("jingan")
    await second.run()
    assert "还没提交" in second.replies()[0]
    assert "上次反映的是什么事" in second.replies()[1] and "路灯" not in second.replies()[1]
    assert "路灯" in second.replies()[2]  # 您上次反映的问题还没提交：…要接着说吗？
    assert second.replies()[-1].startswith("具体在哪里？")


async def test_key_0_hands_over_and_staff_see_the_request(
    engines: VoiceEngines, stack: RunningStack
) -> None:
    caller = new_caller()
    call = VoiceCall(engines, caller).say("jinglaoka").keys("0")
    assert await call.run(hang_up=False) == "handoff"
    assert ev.HandedOver(transferred=False) in call.events
    staff = stack.staff().get("/staff/").text
    assert f"phone:{mask_phone(caller)}" in staff


def test_liangwang_call_plays_a_recording_as_the_caller(
    stack: RunningStack, tmp_path: Path
) -> None:
    reply_file = tmp_path / "reply.wav"
    done = subprocess.run(
        [LIANGWANG, "call", str(FIXTURES / "jinglaoka.wav"), "--out", str(reply_file)],
        env=stack.env,  # the stack's settings: its Rasa, database and Whisper model
        cwd=stack.data_dir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    heard = next(line for line in lines if line.startswith("来电："))
    assert "老卡" in heard
    assert any(line.startswith("助手：") and "敬老卡" in line for line in lines)
    assert Audio.from_wav(reply_file).duration_s > 10
