"""Hostile input, generated: whatever bytes arrive, the SIP, SDP, RTP, RFC 4733 and
AudioSocket parsers answer with their own error (or ignore the packet) and the servers
neither raise nor log a traceback per packet. Bounded: a few hundred examples each."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voice.line import CallHandler
from voice.telephony.audiosocket import ProtocolError, read_frame
from voice.telephony.message import SipMessage, SipParseError
from voice.telephony.rtp import RtpLine, RtpPacket
from voice.telephony.sdp import MediaAnswer, SdpError, parse_offer
from voice.telephony.sip import SipServer

EXAMPLES = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
INVITE = (
    "INVITE sip:bot@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport\r\n"
    "From: <sip:13800000000@127.0.0.1>;tag=a\r\nTo: <sip:bot@127.0.0.1>\r\n"
    "Call-ID: fuzz-1\r\nCSeq: 1 INVITE\r\nContact: <sip:13800000000@127.0.0.1:5070>\r\n"
    "Content-Type: application/sdp\r\nContent-Length: 120\r\n\r\n"
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
)


def mutations(base: str) -> st.SearchStrategy[bytes]:
    """A valid message cut short, with lines dropped or doubled, folded, or with bytes of
    any kind (non-ASCII, control characters) put in anywhere."""
    lines = base.split("\r\n")
    edited = st.lists(st.sampled_from(lines), min_size=1, max_size=len(lines) + 4).map("\r\n".join)
    noise = st.text(min_size=0, max_size=40)

    def spliced(text: str, extra: str, at: float) -> bytes:
        i = int(at * len(text))
        return (text[:i] + extra + text[i:]).encode("utf-8", "surrogatepass")

    return st.one_of(
        st.binary(max_size=2048),
        st.builds(lambda n: base.encode()[:n], st.integers(0, len(base))),
        edited.map(str.encode),
        st.builds(spliced, edited, noise, st.floats(0, 1)),
        st.builds(lambda t: t.replace("\r\n", "\r\n\t").encode(), edited),  # header folding
    )


@given(mutations(INVITE))
@EXAMPLES
def test_the_sip_parser_raises_only_its_own_error(data: bytes) -> None:
    try:
        message = SipMessage.parse(data)
    except SipParseError:
        return
    # What the server reads of every request it accepts.
    message.is_request, message.method, message.call_id, message.cseq, message.values("Via")


@given(data=mutations(INVITE))
@EXAMPLES
def test_the_sip_server_survives_any_datagram_without_a_traceback(
    data: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    async def run() -> None:
        handler: CallHandler = _never_answered
        server = SipServer(handler, host="127.0.0.1", port=0, rtp_ports=range(40000, 40002))
        await server.start()
        try:
            server._datagram(data, ("127.0.0.1", 5070))
            await asyncio.sleep(0)  # let a spawned request handler run its first step
        finally:
            await server.stop()

    caplog.clear()
    with caplog.at_level(logging.ERROR):
        asyncio.run(run())
    assert not [r for r in caplog.records if r.exc_info], caplog.text


async def _never_answered(_line: object) -> None:
    return None


SDP = INVITE.split("\r\n\r\n", 1)[1]


@given(mutations(SDP))
@EXAMPLES
def test_the_sdp_parser_raises_only_its_own_error(data: bytes) -> None:
    with contextlib.suppress(SdpError):
        parse_offer(data.decode("utf-8", "replace"))


class _Media(RtpLine):
    async def hangup(self) -> None:
        return None


@given(st.binary(max_size=400))
@EXAMPLES
def test_rtp_and_rfc4733_packets_of_any_shape_are_taken_or_dropped(data: bytes) -> None:
    RtpPacket.parse(data)  # a packet or None, never an exception
    line = _Media(caller="x", call_id="fuzz", media=MediaAnswer(0, False, 101, "127.0.0.1", 4000))
    line._transport = object()  # type: ignore[assignment]  # receiving needs only "bound"
    line._receive(data, ("127.0.0.1", 4000))
    # As DTMF events (payload type 101) and as audio of the agreed codec:
    for payload_type in (101, 0):
        packet = bytes([0x80, payload_type, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7]) + data
        line._receive(packet, ("127.0.0.1", 4000))


@given(st.binary(max_size=5000))
@EXAMPLES
def test_audiosocket_frames_of_any_shape_end_in_its_own_error(data: bytes) -> None:
    async def run() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        while True:
            try:
                await read_frame(reader)
            except (ProtocolError, asyncio.IncompleteReadError):
                return

    asyncio.run(run())
