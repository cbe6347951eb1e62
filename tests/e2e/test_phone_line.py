"""End to end: a real SIP softphone (baresip) calls the phone line of the running stack.

The phone plays recorded Mandarin into the call and presses keys (RFC 4733) at set times,
like a caller would, and records what it hears. What happened is then read where staff
read it: the call transcripts, the handoff list and the tickets.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path

import httpx
import pytest

from liangwang.personal_data import mask_phone
from ops.harness import RunningStack
from tests.e2e.talk import sounds_like
from tests.sip_peers import Baresip
from voice.audio import Audio

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "voice"


def caller_clip(script: list[tuple[float, str]]) -> Audio:
    """Recorded phrases placed at the given seconds from the start of the call."""
    clip = Audio(b"", 8000)
    for at, fixture in script:
        clip = clip + Audio.silence(max(at - clip.duration_s, 0.0))
        clip = clip + Audio.from_wav(FIXTURES / f"{fixture}.wav").resample(8000)
    return clip


async def press(phone: Baresip, schedule: list[tuple[float, str]], started: float) -> None:
    loop = asyncio.get_running_loop()
    for at, keys in schedule:
        await asyncio.sleep(max(started + at - loop.time(), 0.0))
        await phone.send_dtmf(keys)


def last_call(stack: RunningStack, caller: str) -> tuple[str, list[str]]:
    """The latest transcript of ``caller``, once the line has finished with the call (on a
    busy machine it may still be saying its last answer after the phone hung up): its staff
    page and the reply column per turn."""
    shown = re.escape(mask_phone(caller))  # masked, as every staff page shows a number
    row = rf'href="/staff/calls/(\d+)">[^<]*</a></td>\s*<td>{shown}</td>(.*?)</tr>'
    desk = stack.staff()
    deadline = time.monotonic() + 60
    while True:
        listing = desk.get("/staff/calls").text
        match = re.search(row, listing, flags=re.S)
        if (match and "通话中" not in match.group(2)) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert match, listing
    page = desk.post(f"/staff/calls/{match.group(1)}/reveal").text
    return page, re.findall(r'<tr class="turn">(.*?)</tr>', page, flags=re.S)


# A question's call lasts long enough for the answer to be heard on a busy machine (a real
# caller waits for it): on a slow CI day the spoken answer began 15 s after the question.
ANSWERED_CALL_S = 40


def speech_after(recording: Audio, seconds: float) -> float:
    """Seconds of clearly audible audio the phone heard after ``seconds``."""
    tail = Audio(recording.pcm[int(seconds * recording.rate) * 2 :], recording.rate)
    return sum(1 for f in tail.frames() if Audio(f, recording.rate).rms() > 300) * 0.02


async def call(
    stack: RunningStack,
    workdir: Path,
    script: list[tuple[float, str]],
    keys: list[tuple[float, str]],
    seconds: float,
) -> tuple[str, Audio]:
    caller = "135" + str(uuid.uuid4().int)[:8]
    async with Baresip(workdir, caller_clip(script), user=caller, call_seconds=seconds) as phone:
        try:
            await phone.dial(f"sip:bot@127.0.0.1:{stack.sip_port}")
        except AssertionError as failed:  # with what the phone line (and its proxy) said
            raise AssertionError("\n".join([str(failed), *stack.log[-40:]])) from None
        await press(phone, keys, asyncio.get_running_loop().time())
        await phone.wait_closed(timeout=seconds + 30)
    return caller, phone.recording()


async def test_a_spoken_question_is_answered_with_the_spoken_guide(
    stack: RunningStack, tmp_path: Path
) -> None:
    caller, heard = await call(stack, tmp_path, [(2.0, "jinglaoka")], [], seconds=ANSWERED_CALL_S)
    _page, turns = last_call(stack, caller)
    assert "老卡" in turns[1]  # what Whisper heard over G.711
    assert "敬老卡" in turns[1] and "一共3步" in turns[1]  # what we answered
    assert "/staff/recordings/" in turns[1]  # both sides' audio kept for staff
    # The phone heard the answer: several seconds of speech after the question ended.
    assert speech_after(heard, 2.0 + 2.4 + 1.0) > 3.0


async def test_a_complaint_by_voice_and_keypad_becomes_a_ticket(
    stack: RunningStack, tmp_path: Path
) -> None:
    # Generous gaps: each answer comes well after the assistant has had time to hear
    # the last one, even on a busy machine (a real caller waits for the question).
    script = [(5.0, "ludeng"), (17.0, "jingan"), (26.0, "address"), (35.0, "zuotian")]
    # Keys: menu 2 我要找茬; 1 yes to the category; 1 yes to "this number?"; 2 the number
    # stays private; 1 yes to the read-back (filed); 1 yes to merging, if someone nearby
    # reported the same already.
    keys = [(2.0, "2"), (13.0, "1#"), (43.0, "1#"), (50.0, "2#"), (57.0, "1#"), (65.0, "1#")]
    caller, _ = await call(stack, tmp_path, script, keys, seconds=75)
    page, turns = last_call(stack, caller)
    match = re.search(r"(?:编号是|合并到编号) (\d{3} \d{3})", page)
    assert match, "\n".join(turns)
    number = match.group(1).replace(" ", "")
    ticket = httpx.get(f"{stack.web_url}/open311/v2/requests/{number}.json").json()[0]
    assert ticket["service_request_id"] == number
    assert sounds_like("南京西路", ticket["address"])


async def test_key_0_hands_the_caller_to_a_person(stack: RunningStack, tmp_path: Path) -> None:
    caller, _ = await call(stack, tmp_path, [], [(3.0, "0")], seconds=40)
    # We hung up well before the phone's 40 s clip ran out: the handoff ended the call.
    page, _turns = last_call(stack, caller)
    assert "handoff" in page
    assert f"phone:{mask_phone(caller)}" in stack.staff().get("/staff/").text
