"""Requests an attacker can send the SIP line (found by the "abuse" benchmark): each is
refused or dropped, logs no traceback, and leaves the line answering everyone else."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import AsyncIterator

import pytest

from voice.line import CallLine, Hangup
from voice.telephony.message import SipMessage, SipParseError
from voice.telephony.sdp import SdpError, parse_offer
from voice.telephony.sip import SipServer
from voice.telephony.transactions import RESPONSE_CACHE_S, RESPONSE_CACHE_SIZE, ResponseCache

LOCALHOST = "127.0.0.1"


def options(server_port: int, via: str) -> bytes:
    return (
        f"OPTIONS sip:bot@{LOCALHOST}:{server_port} SIP/2.0\r\n"
        f"Via: {via}\r\n"
        f"From: <sip:scanner@{LOCALHOST}>;tag=1\r\nTo: <sip:bot@{LOCALHOST}>\r\n"
        f"Call-ID: abuse-{uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def udp() -> socket.socket:
    """A non-blocking UDP socket on a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOCALHOST, 0))
    sock.setblocking(False)
    return sock


async def _handler(_line: object) -> None:
    return None


def invite(server_port: int, reply_port: int, media_port: int) -> bytes:
    sdp = (
        f"v=0\r\no=- 1 1 IN IP4 {LOCALHOST}\r\ns=-\r\nc=IN IP4 {LOCALHOST}\r\nt=0 0\r\n"
        f"m=audio {media_port} RTP/AVP 0\r\n"
    )
    return (
        f"INVITE sip:bot@{LOCALHOST}:{server_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {LOCALHOST}:{reply_port};branch=z9hG4bK-forged;rport\r\n"
        f"From: <sip:10086@{LOCALHOST}>;tag=forged\r\nTo: <sip:bot@{LOCALHOST}>\r\n"
        f"Call-ID: forged@test\r\nCSeq: 1 INVITE\r\n"
        f"Contact: <sip:10086@{LOCALHOST}:{reply_port}>\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
    ).encode()


@pytest.fixture
async def server() -> AsyncIterator[SipServer]:
    server = SipServer(_handler, host=LOCALHOST, port=0, rtp_ports=range(40100, 40102))
    await server.start()
    yield server
    await server.stop()


def test_an_empty_via_is_a_parse_error_not_an_index_error() -> None:
    with pytest.raises(SipParseError):
        SipMessage.parse(options(5060, ""))
    with pytest.raises(SipParseError):
        SipMessage.parse(options(5060, " , "))


async def test_an_empty_via_is_dropped_without_a_traceback(
    server: SipServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        server._datagram(options(server.port, ""), (LOCALHOST, 5070))
        await asyncio.sleep(0.05)
    assert not [r for r in caplog.records if r.exc_info], caplog.text


async def test_a_via_port_no_datagram_can_reach_leaves_the_line_answering(
    server: SipServer,
) -> None:
    """Without rport the response goes to the Via's port. Port 70000 made the socket's
    sendto raise OverflowError, on which asyncio closes the transport: one datagram ended
    the SIP line for every caller."""
    loop = asyncio.get_running_loop()
    with udp() as peer:
        port = peer.getsockname()[1]
        for bad in ("70000", "99999999999"):
            via = f"SIP/2.0/UDP {LOCALHOST}:{bad};branch=z9hG4bK-far-{bad}"
            peer.sendto(options(server.port, via), (LOCALHOST, server.port))
        await asyncio.sleep(0.2)
        good = f"SIP/2.0/UDP {LOCALHOST}:{port};branch=z9hG4bK-near;rport"
        peer.sendto(options(server.port, good), (LOCALHOST, server.port))
        answer = await asyncio.wait_for(loop.sock_recv(peer, 4096), 5)
    assert answer.startswith(b"SIP/2.0 200")


@pytest.mark.parametrize("port", ["65536", "70000"])
def test_an_sdp_media_port_no_datagram_can_reach_is_refused(port: str) -> None:
    """Our RTP would go there, and asyncio closes the call's socket at the first packet."""
    sdp = f"v=0\r\nc=IN IP4 {LOCALHOST}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n"
    with pytest.raises(SdpError):
        parse_offer(sdp)


class _Sent:
    """A sent response that counts how often its time is read."""

    reads = 0

    def __init__(self, at: float) -> None:
        self._at = at

    @property
    def at(self) -> float:
        _Sent.reads += 1
        return self._at


def test_the_response_cache_forgets_by_age_without_reading_every_entry() -> None:
    """A flood of OPTIONS is a flood of responses kept for Timer J: reading every entry for
    each new one cost 0.8 ms a response at 5,000 entries, quadratic in the flood."""
    cache = ResponseCache()
    flood = 5000
    _Sent.reads = 0
    for n in range(flood):
        cache.remember((f"options-{n}", 1, "OPTIONS", "z9hG4bK"), _Sent(n / 1000))  # type: ignore[arg-type]
    assert _Sent.reads < 10 * flood
    later = RESPONSE_CACHE_S + flood / 1000 + 1
    cache.remember(("probe", 1, "OPTIONS", "z9hG4bK"), _Sent(later))  # type: ignore[arg-type]
    assert cache.get(("options-0", 1, "OPTIONS", "z9hG4bK")) is None
    assert len(cache._sent) <= RESPONSE_CACHE_SIZE


async def test_a_call_starts_when_the_caller_acks_not_before() -> None:
    """An INVITE with a trusted peer's forged source address is answered, and never ACKed:
    until the ACK nothing may run for it. Every one started a call session (the dialogue,
    speech, a transcript) and 50 RTP packets a second until Timer H, 32 s later."""
    started: list[str] = []

    async def handler(line: CallLine) -> None:
        started.append(line.call_id)
        while not isinstance(await line.inbound.get(), Hangup):
            pass

    server = SipServer(handler, host=LOCALHOST, port=0, rtp_ports=range(40110, 40112))
    await server.start()
    loop = asyncio.get_running_loop()
    try:
        with udp() as peer, udp() as media:
            request = invite(server.port, peer.getsockname()[1], media.getsockname()[1])
            peer.sendto(request, (LOCALHOST, server.port))
            while not (answer := await loop.sock_recv(peer, 4096)).startswith(b"SIP/2.0 200"):
                pass
            await asyncio.sleep(0.3)
            assert started == []
            with pytest.raises(BlockingIOError):
                media.recv(2048)  # no RTP either
            to = SipMessage.parse(answer).header("To")
            ack = request.split(b"\r\nContent-Type")[0].replace(b"INVITE", b"ACK")
            ack = ack.replace(b"To: <sip:bot@127.0.0.1>", f"To: {to}".encode())
            peer.sendto(
                ack.replace(b"z9hG4bK-forged", b"z9hG4bK-ack") + b"\r\n\r\n",
                (LOCALHOST, server.port),
            )
            for _ in range(100):
                if started:
                    break
                await asyncio.sleep(0.02)
            assert started == ["forged@test"]
            assert await asyncio.wait_for(loop.sock_recv(media, 2048), 2)  # and its RTP
    finally:
        await server.stop()
