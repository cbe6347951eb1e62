"""Kamailio in front of several phone-line processes (ops/sip_proxy.py), for real: two SIP
lines of ours behind it, a softphone and SIPp calling through it from loopback addresses."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from ipaddress import ip_network
from pathlib import Path

import pytest

from liangwang.settings import Settings
from ops.sip_proxy import (
    FLOOD_REQUESTS,
    LINE_OUT_MARK,
    LINE_UP_MARK,
    ProxyPlan,
    kamailio_argv,
    line_processes,
    plan,
    write_config,
)
from ops.stack import phone_specs
from tests.sip_peers import LOCALHOST, Baresip, Scenario, Sipp, free_port, options_ping
from tests.unit.test_sip_line import (
    WAIT,
    Bot,
    Serve,
    assert_same_sound,
    rtp_range,
    serve,
    tone,
    until,
)
from voice.telephony.sip import SipServer

__all__ = ["serve"]  # the fixture, shared with the SIP line's tests

CALLER, STRANGER, FLOODER = "127.0.0.1", "127.0.0.2", "127.0.0.3"


def test_each_phone_process_listens_on_the_ports_after_the_proxy_with_its_rtp_share() -> None:
    settings = Settings(phone_replicas=2, sip_port=5060, rtp_port_min=10000, rtp_port_max=10199)
    assert plan(settings).port == 5060
    assert plan(settings).lines == (("127.0.0.1", 5061), ("127.0.0.1", 5062))
    first, second = line_processes(settings)
    assert (first.rtp_port_min, first.rtp_port_max) == (10000, 10099)
    assert (second.rtp_port_min, second.rtp_port_max) == (10100, 10199)
    assert first.audiosocket_port != second.audiosocket_port
    assert Settings().phone_processes == 1
    with pytest.raises(ValueError, match="RTP range"):
        Settings(phone_replicas=4, rtp_port_min=10000, rtp_port_max=10010)


def test_the_stack_runs_each_phone_process_on_its_ports_and_kamailio_in_front() -> None:
    settings = Settings(phone_replicas=2, sip_port=5060, audiosocket_port=9092)
    specs = {spec.name: spec for spec in phone_specs(settings)}
    assert list(specs) == ["phone-1", "phone-2", "sip-proxy"]
    assert specs["phone-2"].env["LIANGWANG_SIP_PORT"] == "5062"
    assert specs["phone-2"].env["LIANGWANG_AUDIOSOCKET_PORT"] == "9093"
    # They share the data folder's speech cache: the first prepares it for both.
    assert "LIANGWANG_TTS_PREPARE_IN_BACKGROUND" not in specs["phone-1"].env
    assert specs["phone-2"].env["LIANGWANG_TTS_PREPARE_IN_BACKGROUND"] == "false"
    assert specs["sip-proxy"].argv[-1] == "ops.sip_proxy"
    assert specs["sip-proxy"].ready_line == LINE_UP_MARK  # not before a call gets through
    assert [spec.name for spec in phone_specs(Settings())] == ["phone"]


def test_the_generated_configuration_is_one_kamailio_accepts(tmp_path: Path) -> None:
    settings = Settings(phone_replicas=3, data_dir=tmp_path)
    config = write_config(plan(settings), tmp_path / "kamailio")
    checked = subprocess.run(["kamailio", "-c", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert (tmp_path / "kamailio" / "dispatcher.list").read_text().count("sip:") == 3


def _replies(source: str, port: int, count: int, wait_s: float) -> list[bytes]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((source, 0))
        for _ in range(count):
            probe.sendto(options_ping(port, source), (LOCALHOST, port))
        probe.settimeout(wait_s)
        replies = []
        try:
            while True:
                replies.append(probe.recv(4096))
        except OSError:
            return replies


async def answered(source: str, port: int, count: int = 1, wait_s: float = 1.0) -> int:
    """How many of ``count`` OPTIONS pings sent from ``source`` at once were answered (in a
    thread: the lines behind the proxy answer in this event loop)."""
    return len(await asyncio.to_thread(_replies, source, port, count, wait_s))


async def status(source: str, port: int) -> str:
    """The status line an OPTIONS ping from ``source`` gets through the proxy: a line's
    200 when it reaches one, the proxy's 503 when no line is in its turns."""
    (reply,) = await asyncio.to_thread(_replies, source, port, 1, 2.0)
    return reply.split(b"\r\n", 1)[0].decode()


@asynccontextmanager
async def kamailio(proxy: ProxyPlan, folder: Path) -> AsyncIterator[Callable[[str], int]]:
    """Kamailio for ``proxy``, running; yields how many times it has said a ``text``."""
    argv = kamailio_argv(write_config(proxy, folder / "kamailio"))
    log = folder / "kamailio.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield lambda text: log.read_text().count(text)
        assert process.poll() is None, log.read_text()
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
async def proxied(
    serve: Serve, tmp_path: Path
) -> AsyncIterator[tuple[int, list[Bot], list[SipServer]]]:
    """Two SIP lines of ours behind Kamailio, which admits callers from CALLER and
    FLOODER only; the proxy's port, the lines' bots and servers."""
    bots = [Bot(lambda caller: tone(1000, 1.0)), Bot(lambda caller: tone(1000, 1.0))]
    servers = [await serve(bot) for bot in bots]
    port = free_port()
    proxy = ProxyPlan(
        host=LOCALHOST,
        port=port,
        lines=tuple((LOCALHOST, server.port) for server in servers),
        callers=(ip_network(f"{CALLER}/32"), ip_network(f"{FLOODER}/32")),
    )
    async with kamailio(proxy, tmp_path) as said:
        # Ready as the stack sees it: the proxy has said both lines answered.
        await until(lambda: said(LINE_UP_MARK) == 2)
        yield port, bots, servers


async def test_the_proxy_says_a_line_is_up_once_it_answers_and_it_stays_up(
    tmp_path: Path,
) -> None:
    # A line that starts after the proxy (one already listening: the fixture above): a call
    # placed once the proxy has said it is up reaches it (the stack's ready at that word).
    line_port, port = free_port(), free_port()
    proxy = ProxyPlan(LOCALHOST, port, ((LOCALHOST, line_port),), (ip_network(f"{CALLER}/32"),))
    async with kamailio(proxy, tmp_path) as said:
        await asyncio.sleep(2.5)  # probed every second: not there
        assert said(LINE_UP_MARK) == 0
        assert await status(CALLER, port) == "SIP/2.0 503 Service Unavailable"
        bot = Bot(lambda caller: tone(1000, 1.0))
        line = SipServer(bot, host=LOCALHOST, port=line_port, rtp_ports=rtp_range())
        await line.start()
        try:
            await until(lambda: said(LINE_UP_MARK) == 1)
            # The probes sent before it listened time out after it answered: not taken
            # for a line gone (a call placed then was once refused).
            await asyncio.sleep(2.5)
            assert said(LINE_OUT_MARK) == 0
            assert await status(CALLER, port) == "SIP/2.0 200 OK"
        finally:
            await line.stop()


def call(pause_ms: int = 300) -> Scenario:
    return Scenario(through_proxy=True).invite().pause(pause_ms).bye()


async def test_calls_are_dealt_across_the_lines_with_media_direct(
    proxied: tuple[int, list[Bot], list[SipServer]], tmp_path: Path
) -> None:
    port, bots, _servers = proxied
    sipp = Sipp(tmp_path / "sipp", port=port)
    for _ in range(4):
        result = await sipp.run(call())
        assert result.ok, result.output
    assert [len(bot.calls) for bot in bots] == [2, 2]  # in turn

    # A real softphone: its audio reaches the line that answered and the line's reaches it,
    # straight between them (the proxy only passes the SDP on).
    clip = tone(440, 1.0, amplitude=8000)
    async with Baresip(tmp_path / "phone", clip, call_seconds=3.0) as phone:
        await phone.dial(f"sip:bot@{LOCALHOST}:{port}")
        await phone.wait_closed()
    answering = next(bot for bot in bots if len(bot.calls) == 3)
    answered_call = answering.calls[-1]
    await asyncio.wait_for(answered_call.done.wait(), WAIT)
    assert_same_sound(phone.recording(), tone(1000, 1.0))
    assert_same_sound(answered_call.heard(), clip)


async def test_a_line_that_stops_answering_is_passed_over(
    proxied: tuple[int, list[Bot], list[SipServer]], tmp_path: Path
) -> None:
    port, bots, servers = proxied
    await servers[0].stop()
    await asyncio.sleep(4)  # the proxy's probe (every second, 1.5 s to answer) finds it gone
    sipp = Sipp(tmp_path / "sipp", port=port)
    for _ in range(3):
        result = await sipp.run(call())
        assert result.ok, result.output
    assert [len(bot.calls) for bot in bots] == [0, 3]


async def test_strangers_and_floods_are_dropped_before_the_lines(
    proxied: tuple[int, list[Bot], list[SipServer]],
) -> None:
    port, _bots, _servers = proxied
    assert await answered(STRANGER, port) == 0  # not a trusted peer: no answer at all
    flood = 5 * FLOOD_REQUESTS
    got = await answered(FLOODER, port, count=flood)
    assert 0 < got < flood  # the first ones pass, then the source is cut off
    assert await answered(FLOODER, port) == 0  # …and stays cut off while it keeps at it
    assert await answered(CALLER, port) == 1  # everyone else is still served
