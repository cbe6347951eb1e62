"""Calls we place (SipServer.dial) with real peers on loopback: SIPp as a busy phone and as
a phone nobody answers, baresip as a phone that picks up, keys and all."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from tests.sip_peers import LOCALHOST, Baresip, SippPhone, busy_phone, free_port, unanswered_phone
from voice.audio import Audio
from voice.line import AudioFrame, CallLine, Dtmf, Hangup
from voice.telephony.sip import SipServer

RATE = 8000


def tone(freq: float, seconds: float) -> Audio:
    t = np.arange(int(seconds * RATE)) / RATE
    return Audio((6000 * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes(), RATE)


async def idle(line: CallLine) -> None:
    raise AssertionError("nobody answered, so no handler may run")


@pytest.fixture
async def server() -> AsyncIterator[SipServer]:
    rtp = free_port() // 2 * 2
    sip = SipServer(idle, host=LOCALHOST, port=0, rtp_ports=range(rtp, rtp + 20), t1=0.1)
    await sip.start()
    yield sip
    await sip.stop()


async def test_a_busy_phone_is_reported_busy_and_its_refusal_acked(
    server: SipServer, tmp_path: Path
) -> None:
    phone = SippPhone(tmp_path, busy_phone())
    await phone.start()
    result = await server.dial(
        f"sip:13800138000@{LOCALHOST}:{phone.port}", idle, caller_id="12345", ring_timeout=10
    )
    assert (result.status, result.answered, result.detail) == (486, False, "486 Busy Here")
    done = await phone.finish()
    assert done.ok, done.output + done.messages  # SIPp got its ACK
    assert "INVITE sip:13800138000@" in done.messages
    assert server.rtp_ports.in_use == 0


async def test_a_phone_that_rings_on_is_cancelled_after_the_ring_timeout(
    server: SipServer, tmp_path: Path
) -> None:
    phone = SippPhone(tmp_path, unanswered_phone())
    await phone.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await server.dial(
        f"sip:13800138000@{LOCALHOST}:{phone.port}", idle, caller_id="12345", ring_timeout=1.5
    )
    assert loop.time() - started == pytest.approx(1.5, abs=1.0)
    assert result.status == 487
    done = await phone.finish()
    assert done.ok, done.output + done.messages
    assert "CANCEL sip:13800138000@" in done.messages


async def test_no_response_at_all_gives_up_after_timer_b(server: SipServer) -> None:
    nobody = free_port()
    result = await server.dial(
        f"sip:13800138000@{LOCALHOST}:{nobody}", idle, caller_id="12345", ring_timeout=60
    )
    assert (result.status, result.detail) == (0, "no response")  # 64·T1 = 6.4 s here


async def test_an_answered_call_carries_audio_and_keys_both_ways(
    server: SipServer, tmp_path: Path
) -> None:
    heard = bytearray()
    keys: list[str] = []
    ended: list[Hangup] = []

    async def talk(line: CallLine) -> None:
        assert line.caller == "13800138000"
        await line.play(tone(440, 1.0))
        while True:
            event = await line.inbound.get()
            if isinstance(event, AudioFrame):
                heard.extend(event.pcm)
            elif isinstance(event, Dtmf):
                keys.append(event.digit)
                await line.wait_played()
                return  # we hang up
            elif isinstance(event, Hangup):
                ended.append(event)
                return

    clip = Audio.silence(0.5) + tone(700, 1.0)
    async with Baresip(tmp_path, clip, call_seconds=15, answer=True) as phone:
        dialing = asyncio.create_task(
            server.dial(
                f"sip:{phone.user}@{LOCALHOST}:{phone.sip_port}",
                talk,
                caller_id="12345",
                ring_timeout=10,
            )
        )
        await phone.wait_event("CALL_ESTABLISHED", timeout=20)
        await asyncio.sleep(2.0)
        await phone.send_dtmf("4")
        result = await asyncio.wait_for(dialing, 20)
        await phone.wait_closed(timeout=20)
    assert result.answered and result.status == 200
    assert keys == ["4"] and not ended  # we hung up (BYE), after the key
    loud = [f for f in Audio(bytes(heard), RATE).frames() if Audio(f, RATE).rms() > 400]
    assert len(loud) * 0.02 == pytest.approx(1.0, abs=0.3)  # the phone's tone reached us
    received = phone.recording()
    assert sum(1 for f in received.frames() if Audio(f, received.rate).rms() > 400) > 30
    assert server.calls == [] and server.rtp_ports.in_use == 0
