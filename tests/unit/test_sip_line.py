"""The SIP line with real peers: baresip calls with real RTP, SIPp for scripted signalling.

The handler under test (``Bot``) plays a tone when a call starts, records what it hears,
and hangs up on ``#`` — enough to check audio both ways, DTMF, hangups and isolation.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tests.sip_peers import LOCALHOST, Baresip, Scenario, Sipp, free_port, sdp_offer
from voice.audio import Audio, ulaw_encode
from voice.line import AudioFrame, CallLine, Dtmf, Hangup
from voice.telephony import PacedLine
from voice.telephony.message import SipMessage, dtmf_from_info
from voice.telephony.rtp import RtpLine, RtpPacket, RtpPortPool
from voice.telephony.sdp import MediaAnswer, negotiate, parse_offer
from voice.telephony.sip import SipServer

RATE = 8000
Serve = Callable[..., Awaitable[SipServer]]
WAIT = 30.0  # generous: a loaded 2-core machine runs several real peers at once


def tone(freq: float, seconds: float, amplitude: float = 6000.0) -> Audio:
    t = np.arange(int(seconds * RATE)) / RATE
    return Audio((amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes(), RATE)


def active(audio: Audio, threshold: float = 400.0) -> Audio:
    """The 20 ms frames of ``audio`` louder than ``threshold`` RMS, joined."""
    frames = [f for f in audio.frames() if Audio(f, audio.rate).rms() > threshold]
    return Audio(b"".join(frames), audio.rate)


def dominant_hz(audio: Audio) -> float:
    samples = audio.samples().astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / audio.rate)[int(np.argmax(spectrum))])


def assert_same_sound(heard: Audio, clip: Audio) -> None:
    """``heard`` contains ``clip``'s sound: its loud part has the clip's duration, level
    and pitch (G.711 and jitter buffers change the samples, not these)."""
    loud = active(heard)
    assert loud.duration_s == pytest.approx(clip.duration_s, abs=0.3)
    assert loud.rms() == pytest.approx(clip.rms(), rel=0.15)
    assert dominant_hz(loud) == pytest.approx(dominant_hz(clip), abs=15)


@dataclass
class CallRecord:
    line: CallLine
    audio: bytearray = field(default_factory=bytearray)
    digits: list[str] = field(default_factory=list)
    hangup: Hangup | None = None
    transferred: bool | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def heard(self) -> Audio:
        return Audio(bytes(self.audio), RATE)


class Bot:
    """The test call handler. ``greeting(caller)`` is played when a call starts; ``#``
    hangs up; ``fail_for`` callers make the handler raise; ``transfer_to`` transfers."""

    def __init__(
        self,
        greeting: Callable[[str], Audio | None] = lambda caller: None,
        *,
        fail_for: tuple[str, ...] = (),
        hangup_after_greeting: bool = False,
        transfer_to: str | None = None,
    ) -> None:
        self.greeting = greeting
        self.fail_for = fail_for
        self.hangup_after_greeting = hangup_after_greeting
        self.transfer_to = transfer_to
        self.calls: list[CallRecord] = []
        self._new_call = asyncio.Queue[CallRecord]()

    async def __call__(self, line: CallLine) -> None:
        record = CallRecord(line)
        self.calls.append(record)
        self._new_call.put_nowait(record)
        try:
            await self._talk(line, record)
        finally:
            record.done.set()

    async def _talk(self, line: CallLine, record: CallRecord) -> None:
        clip = self.greeting(line.caller)
        if clip is not None:
            await line.play(clip)
        if line.caller in self.fail_for:
            await asyncio.sleep(0.2)
            raise RuntimeError("this handler fails on purpose")
        if self.transfer_to is not None:
            record.transferred = await line.transfer(self.transfer_to)
        if self.hangup_after_greeting:
            await line.wait_played()
            await line.hangup()
        while record.hangup is None:
            event = await line.inbound.get()
            if isinstance(event, AudioFrame):
                assert len(event.pcm) == 320  # 20 ms at 8 kHz, whatever the peer's ptime
                record.audio += event.pcm
            elif isinstance(event, Dtmf):
                record.digits.append(event.digit)
                if event.digit == "#":
                    await line.hangup()
            else:
                record.hangup = event

    async def next_call(self, timeout: float = WAIT) -> CallRecord:
        return await asyncio.wait_for(self._new_call.get(), timeout)


def rtp_range() -> range:
    base = free_port() // 2 * 2
    return range(base, base + 40)


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start a ``SipServer`` on a free loopback port; stopped after the test."""
    servers: list[SipServer] = []

    async def start(handler: Bot, **options: object) -> SipServer:
        server = SipServer(
            handler,
            host=LOCALHOST,
            port=0,
            rtp_ports=rtp_range(),
            **options,  # type: ignore[arg-type]
        )
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


def uri(server: SipServer) -> str:
    return f"sip:bot@{LOCALHOST}:{server.port}"


async def until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.02)


# -- baresip: real calls with real media -----------------------------------------------------


@pytest.mark.parametrize("codecs", [None, "PCMA"])
async def test_baresip_call_carries_audio_both_ways(
    serve: Serve, tmp_path: Path, codecs: str | None
) -> None:
    reply = tone(1000, 1.5)
    bot = Bot(lambda caller: reply)
    server = await serve(bot)
    clip = tone(440, 1.0, amplitude=8000)
    async with Baresip(tmp_path / "phone", clip, call_seconds=3.5, codecs=codecs) as phone:
        await phone.dial(uri(server))
        established = await phone.wait_event("CALL_ESTABLISHED")
        call = await bot.next_call()
        await phone.wait_closed()  # baresip hangs up when its clip (with padding) ends
        await asyncio.wait_for(call.done.wait(), WAIT)
    assert call.line.caller == "13800138000"
    assert call.line.call_id == established["id"]  # baresip reports the SIP Call-ID
    assert call.hangup == Hangup(by="caller")
    assert isinstance(call.line, RtpLine)
    assert call.line.media.alaw == (codecs == "PCMA")
    assert_same_sound(call.heard(), clip)
    assert call.heard().duration_s > 2.5  # the padding arrived too: the whole call
    assert_same_sound(phone.recording(), reply)
    stats = call.line.pacer_stats()
    assert stats.packets == len(call.line.send_times) > 100
    assert call.line.send_times == sorted(call.line.send_times)
    assert server.calls == []


async def test_rfc4733_dtmf_from_baresip_and_hash_hangs_up(serve: Serve, tmp_path: Path) -> None:
    bot = Bot()
    server = await serve(bot)
    async with Baresip(tmp_path / "phone", Audio.silence(0.1)) as phone:
        await phone.dial(uri(server))
        call = await bot.next_call()
        await phone.send_dtmf("19*#")
        await phone.wait_closed()  # our BYE ended it
        await asyncio.wait_for(call.done.wait(), WAIT)
    assert call.digits == ["1", "9", "*", "#"]  # one per key press despite end-bit repeats
    assert call.hangup == Hangup(by="bot")


async def test_caller_hangup_ends_the_call_and_frees_its_port(serve: Serve, tmp_path: Path) -> None:
    bot = Bot(lambda caller: tone(700, 10.0))  # still talking when the caller hangs up
    server = await serve(bot)
    async with Baresip(tmp_path / "phone", tone(300, 0.5)) as phone:
        await phone.dial(uri(server))
        call = await bot.next_call()
        await until(lambda: len(call.audio) > 0)
        await phone.hangup()
        await asyncio.wait_for(call.done.wait(), WAIT)
    assert call.hangup == Hangup(by="caller")
    assert not call.line.playing  # the queue died with the call
    await until(lambda: server.calls == [] and server._rtp.in_use == 0)


async def test_three_simultaneous_calls_are_isolated(serve: Serve, tmp_path: Path) -> None:
    pitch = {"13900000001": 500.0, "13900000002": 800.0, "13900000003": 1200.0}
    failing = "13900000002"
    bot = Bot(lambda caller: tone(pitch[caller] * 1.5, 1.5), fail_for=(failing,))
    server = await serve(bot)
    phones = [
        Baresip(tmp_path / user, tone(hz, 1.0, amplitude=7000), user=user, call_seconds=6.0)
        for user, hz in pitch.items()
    ]
    try:
        for phone in phones:
            await phone.start()
        await asyncio.gather(*(phone.dial(uri(server)) for phone in phones))
        calls = {}
        for _ in phones:
            call = await bot.next_call()
            calls[call.line.caller] = call
        await phones[1].wait_closed()  # the failing handler's call was hung up at once…
        await until(lambda: all(call.line.caller != failing for call in server.calls))
        alive = {call.line.caller for call in server.calls}
        assert alive == set(pitch) - {failing}  # …and the others go on
        for phone in phones:
            await phone.wait_closed()
        await asyncio.gather(*(asyncio.wait_for(c.done.wait(), WAIT) for c in calls.values()))
    finally:
        for phone in phones:
            await phone.stop()
    assert calls[failing].hangup is None  # its handler raised before reading anything
    assert [e["type"] for e in phones[1].events].count("CALL_CLOSED") == 1
    for phone, (user, hz) in zip(phones, pitch.items(), strict=True):
        if user == failing:
            continue
        call = calls[user]
        assert call.hangup == Hangup(by="caller")
        assert_same_sound(call.heard(), tone(hz, 1.0, amplitude=7000))  # its own caller only
        assert_same_sound(phone.recording(), tone(hz * 1.5, 1.5))  # its own reply only
    await until(lambda: server.calls == [])


# -- SIPp: scripted signalling ---------------------------------------------------------------


async def test_sip_info_dtmf_from_sipp(serve: Serve, tmp_path: Path) -> None:
    bot = Bot()
    server = await serve(bot)
    scenario = (
        Scenario(caller="02161234567")
        .invite(sdp_offer("8 0"))
        .info_dtmf("5")
        .info_dtmf("11")  # some phones send the event number: 11 is '#'
        .expect_bye()  # '#' made the bot hang up
    )
    result = await Sipp(tmp_path, port=server.port).run(scenario)
    assert result.ok, result.output
    call = bot.calls[0]
    await asyncio.wait_for(call.done.wait(), WAIT)
    assert call.line.caller == "02161234567"
    assert call.digits == ["5", "#"]
    assert call.hangup == Hangup(by="bot")
    assert "a=rtpmap:8 PCMA/8000" in result.messages  # the caller's first G.711 choice


async def test_sip_info_dtmf_plain_body_and_caller_bye(serve: Serve, tmp_path: Path) -> None:
    bot = Bot()
    server = await serve(bot)
    scenario = Scenario().invite().info_dtmf("7", relay=False).pause(100).bye()
    result = await Sipp(tmp_path, port=server.port).run(scenario)
    assert result.ok, result.output
    call = bot.calls[0]
    await asyncio.wait_for(call.done.wait(), WAIT)
    assert call.digits == ["7"]
    assert call.hangup == Hangup(by="caller")


async def test_our_bye_carries_the_dialog(serve: Serve, tmp_path: Path) -> None:
    bot = Bot(lambda caller: tone(900, 0.3), hangup_after_greeting=True)
    server = await serve(bot)
    result = await Sipp(tmp_path, port=server.port).run(Scenario().invite().expect_bye())
    assert result.ok, result.output
    ok = _message(result.messages, "SIP/2.0 200 OK", "INVITE")
    bye = _message(result.messages, "BYE ", "BYE")
    assert bye.call_id == ok.call_id
    assert _tag(bye.header("From")) == _tag(ok.header("To"))  # our tag
    assert _tag(bye.header("To")) == _tag(ok.header("From"))  # the caller's tag
    assert bye.uri.startswith("sip:sipp@")  # the caller's Contact is the target
    assert (bye.header("Via") or "").count("branch=z9hG4bK") == 1
    assert bye.header("Contact") == ok.header("Contact")
    assert bye.cseq[1] == "BYE"
    assert bot.calls[0].hangup == Hangup(by="bot")


async def test_invite_without_g711_is_rejected_with_488(serve: Serve, tmp_path: Path) -> None:
    bot = Bot()
    server = await serve(bot)
    scenario = Scenario().invite(sdp_offer("9 18 96 101"), expect=488)
    result = await Sipp(tmp_path, port=server.port).run(scenario)
    assert result.ok, result.output
    assert bot.calls == []
    assert server.calls == [] and server._rtp.in_use == 0


async def test_cancel_before_answer(serve: Serve, tmp_path: Path) -> None:
    bot = Bot()
    server = await serve(bot, answer_delay=10.0)
    scenario = Scenario().invite(expect=180).cancel().expect(200).expect(487)
    scenario.ack(cseq=1, same_transaction=True)
    result = await Sipp(tmp_path, port=server.port).run(scenario)
    assert result.ok, result.output
    assert bot.calls == []  # never answered, so no handler ran
    await until(lambda: server.calls == [] and server._rtp.in_use == 0)


async def test_options_reinvite_and_unknown_methods(serve: Serve, tmp_path: Path) -> None:
    bot = Bot()
    server = await serve(bot)
    scenario = (
        Scenario()
        .out_of_dialog("OPTIONS", expect=200)
        .invite()
        .request("OPTIONS")
        .reinvite(sdp_offer("0 8 101", ["a=sendonly"]))  # the caller puts us on hold
        .reinvite(sdp_offer("8 0 101"))  # …and takes us back, now listing PCMA first
        .request("MESSAGE", expect=501)
        .request("SUBSCRIBE", expect=501)
        .bye()
    )
    result = await Sipp(tmp_path, port=server.port).run(scenario)
    assert result.ok, result.output
    answers = re.findall(r"^m=audio (\d+) RTP/AVP ([\d ]+)$", result.messages, re.MULTILINE)
    ours = [a for a in answers if a[1].strip() == "0 101"]
    assert len(ours) >= 3 and len(set(ours)) == 1  # the same media every time
    assert "a=recvonly" in result.messages  # the hold answered as hold
    await asyncio.wait_for(bot.calls[0].done.wait(), WAIT)
    assert len(bot.calls) == 1


@pytest.mark.parametrize(
    ("status", "reason", "accepted"), [(202, "Accepted", True), (603, "Decline", False)]
)
async def test_transfer_sends_refer(
    serve: Serve,
    tmp_path: Path,
    status: int,
    reason: str,
    accepted: bool,
) -> None:
    bot = Bot(transfer_to="12345", hangup_after_greeting=True)
    server = await serve(bot)
    scenario = Scenario().invite().answer("REFER", status, reason).expect_bye()
    result = await Sipp(tmp_path, port=server.port).run(scenario)
    assert result.ok, result.output
    assert bot.calls[0].transferred is accepted
    refer = _message(result.messages, "REFER ", "REFER")
    assert refer.header("Refer-To") == f"<sip:12345@{LOCALHOST}>"


async def test_dead_media_hangs_up(serve: Serve, tmp_path: Path) -> None:
    bot = Bot()
    server = await serve(bot, media_timeout=1.0)
    result = await Sipp(tmp_path, port=server.port).run(Scenario().invite().expect_bye())
    assert result.ok, result.output  # SIPp never sends RTP
    await asyncio.wait_for(bot.calls[0].done.wait(), WAIT)
    assert bot.calls[0].hangup == Hangup(by="timeout")


async def test_stopping_the_server_hangs_up_its_calls(serve: Serve, tmp_path: Path) -> None:
    bot = Bot()
    server = await serve(bot)
    run = asyncio.create_task(
        Sipp(tmp_path, port=server.port).run(Scenario().invite().expect_bye())
    )
    call = await bot.next_call()
    await server.stop()
    result = await run
    assert result.ok, result.output
    assert call.hangup == Hangup(by="shutdown")


async def test_retransmitted_invite_gets_the_same_answer_not_a_second_call(
    serve: Serve,
) -> None:
    bot = Bot()
    server = await serve(bot)
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind((LOCALHOST, 0))
        peer.setblocking(False)
        port = peer.getsockname()[1]
        invite = _raw_invite(
            port, "retransmit-1", body=sdp_offer().replace("[media_ip]", LOCALHOST)
        )
        finals: list[SipMessage] = []
        for _ in range(3):  # the caller did not hear our answer and tries again
            await loop.sock_sendto(peer, invite, (LOCALHOST, server.port))
            while True:
                data = await asyncio.wait_for(loop.sock_recv(peer, 65535), WAIT)
                if data.startswith(b"SIP/2.0 200"):
                    finals.append(SipMessage.parse(data))
                    break
        to = finals[0].header("To") or ""
        for method, cseq in (("ACK", 1), ("BYE", 2)):
            request = _raw_request(method, port, "retransmit-1", to=to, cseq=cseq)
            await loop.sock_sendto(peer, request, (LOCALHOST, server.port))
        await until(lambda: server.calls == [])
    assert len({m.header("To") for m in finals}) == 1  # same To tag: the same answer
    assert len({m.body for m in finals}) == 1
    assert len(bot.calls) == 1
    assert bot.calls[0].hangup == Hangup(by="caller")


# -- RTP without SIP: re-chunking, DTMF de-duplication, symmetric RTP, pacing -------------------


class _BareRtpLine(RtpLine):
    """RTP without signalling: hanging up just stops the media."""

    async def hangup(self) -> None:
        await self.close()


def options_from(port: int) -> bytes:
    return (
        f"OPTIONS sip:bot@{LOCALHOST}:{port} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.2:5099;branch=z9hG4bK-trust-1;rport\r\n"
        "From: <sip:scanner@127.0.0.2>;tag=1\r\nTo: <sip:bot@127.0.0.1>\r\n"
        "Call-ID: trust-test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


async def test_sip_from_an_untrusted_address_is_dropped_unanswered(serve: Serve) -> None:
    from ipaddress import ip_network

    loop = asyncio.get_running_loop()
    trusted = await serve(Bot(), trusted_peers=[ip_network("127.0.0.3/32")])
    default = await serve(Bot())  # loopback networks: 127.0.0.2 is one of them
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        stranger.bind(("127.0.0.2", 0))
        stranger.setblocking(False)
        stranger.sendto(options_from(trusted.port), (LOCALHOST, trusted.port))
        await asyncio.sleep(0.5)
        with pytest.raises(BlockingIOError):
            stranger.recv(4096)  # no answer at all: a scanner learns nothing
        assert trusted.untrusted_dropped == 1
        stranger.sendto(options_from(default.port), (LOCALHOST, default.port))
        answer = await asyncio.wait_for(loop.sock_recv(stranger, 4096), WAIT)
        assert answer.startswith(b"SIP/2.0 200")


async def test_rtp_line_rechunks_dedupes_events_and_follows_the_caller() -> None:
    loop = asyncio.get_running_loop()
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as advertised,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as actual,
    ):
        for s in (advertised, actual):
            s.bind((LOCALHOST, 0))
            s.setblocking(False)
        media = MediaAnswer(0, False, 101, LOCALHOST, advertised.getsockname()[1])
        line = _BareRtpLine(caller="x", call_id="rtp-test", media=media)
        pool = RtpPortPool(rtp_range())
        bound = await pool.bind(LOCALHOST, line.datagram_protocol)
        assert bound is not None
        line.start()
        try:
            # Before the caller sends anything we send (silence) where the SDP said.
            silence = ulaw_encode(bytes(320))
            first = RtpPacket.parse(await asyncio.wait_for(loop.sock_recv(advertised, 2048), WAIT))
            assert first is not None and first.marker and first.payload == silence

            clip = tone(600, 0.9)  # 30 packets of 30 ms from another address (NAT)
            pcm = clip.pcm
            for n in range(30):
                chunk = pcm[n * 480 : (n + 1) * 480]
                packet = RtpPacket(0, 100 + n, 5000 + n * 240, 77, ulaw_encode(chunk))
                await loop.sock_sendto(actual, packet.to_bytes(), (LOCALHOST, bound[1]))
            duplicate = RtpPacket(0, 129, 5000 + 29 * 240, 77, b"\x00" * 240)
            await loop.sock_sendto(actual, duplicate.to_bytes(), (LOCALHOST, bound[1]))
            for n, end in enumerate([False, False, True, True, True]):  # key 4, end bit ×3
                event = struct.pack("!BBH", 4, 0x80 if end else 0, 160 * (n + 1))
                packet = RtpPacket(101, 130 + n, 20000, 77, event)
                await loop.sock_sendto(actual, packet.to_bytes(), (LOCALHOST, bound[1]))
            events = []
            while not any(isinstance(e, Dtmf) for e in events):
                events.append(await asyncio.wait_for(line.inbound.get(), WAIT))
            await asyncio.sleep(0.1)
            while not line.inbound.empty():
                events.append(line.inbound.get_nowait())
            frames = [e for e in events if isinstance(e, AudioFrame)]
            assert all(len(f.pcm) == 320 for f in frames)
            assert len(frames) == 45  # 0.9 s in 20 ms frames; the duplicate was dropped
            heard = Audio(b"".join(f.pcm for f in frames), RATE)
            assert heard.rms() == pytest.approx(clip.rms(), rel=0.05)
            assert [e for e in events if isinstance(e, Dtmf)] == [Dtmf("4")]

            # Now we answer where the caller really is, and playback can be cut short.
            _drain(actual)
            await line.play(tone(1000, 2.0))
            assert line.playing
            sent: list[RtpPacket] = []
            while sum(p.payload != silence for p in sent) < 10:
                packet = RtpPacket.parse(await asyncio.wait_for(loop.sock_recv(actual, 2048), WAIT))
                assert packet is not None
                sent.append(packet)
            line.stop_playback()
            assert not line.playing
            loud = [p for p in sent if p.payload != silence]
            assert loud[0].marker  # a talk spurt starts with the marker bit
            for a, b in itertools.pairwise(sent):
                assert (b.sequence - a.sequence) & 0xFFFF == 1
                assert (b.timestamp - a.timestamp) & 0xFFFFFFFF == 160
                assert b.ssrc == a.ssrc and b.payload_type == 0
            await asyncio.sleep(0.1)
            _drain(actual)  # what was in flight; from now on only silence follows
            after = RtpPacket.parse(await asyncio.wait_for(loop.sock_recv(actual, 2048), WAIT))
            assert after is not None and after.payload == silence
        finally:
            await line.close()
            pool.release(bound[1])
    stats = line.pacer_stats()
    assert stats.packets == len(line.send_times) > 10
    assert stats.mean_interval_ms > 0


async def test_rtp_latches_the_first_source_from_a_signalled_host_and_drops_strangers() -> None:
    loop = asyncio.get_running_loop()
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as same_host,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other_host,
    ):
        caller.bind((LOCALHOST, 0))
        same_host.bind((LOCALHOST, 0))
        other_host.bind(("127.0.0.2", 0))  # another host as far as the line can tell
        for s in (caller, same_host, other_host):
            s.setblocking(False)
        media = MediaAnswer(0, False, 101, LOCALHOST, caller.getsockname()[1])
        line = _BareRtpLine(caller="x", call_id="rtp-latch", media=media)
        pool = RtpPortPool(rtp_range())
        bound = await pool.bind(LOCALHOST, line.datagram_protocol)
        assert bound is not None
        line.start()
        loud = ulaw_encode(tone(600, 0.02, 9000.0).pcm)

        async def send(sock: socket.socket, sequence: int, ssrc: int) -> None:
            packet = RtpPacket(0, sequence, sequence * 160, ssrc, loud)
            await loop.sock_sendto(sock, packet.to_bytes(), (LOCALHOST, bound[1]))

        try:
            await send(other_host, 1, 666)  # before the caller: not a signalled host
            await send(caller, 10, 77)  # the caller: latched
            await send(same_host, 2, 666)  # same host, another port: not the caller
            await send(caller, 11, 77)
            await asyncio.sleep(0.3)
            frames = [line.inbound.get_nowait() for _ in range(line.inbound.qsize())]
            assert len(frames) == 2 and line.packets_dropped == 2
            assert line.remote == caller.getsockname()  # our audio goes to the caller only
            _drain(same_host)
            _drain(other_host)
            await asyncio.sleep(0.1)
            for stranger in (same_host, other_host):
                with pytest.raises(BlockingIOError):
                    stranger.recv(2048)
        finally:
            await line.close()
            pool.release(bound[1])


def test_paced_lines_share_the_pacer() -> None:
    assert issubclass(RtpLine, PacedLine)


# -- SDP, INFO bodies and message parsing ----------------------------------------------------


@pytest.mark.parametrize(
    ("payloads", "codec", "dtmf"),
    [("0 8 101", 0, 101), ("8 0 96", 8, 96), ("18 8", 8, None), ("9 18 96", None, None)],
)
def test_negotiation_prefers_the_callers_first_g711(
    payloads: str, codec: int | None, dtmf: int | None
) -> None:
    sdp = sdp_offer(payloads).replace("[media_ip]", "192.0.2.7").replace("[media_port]", "4000")
    sdp = sdp.replace("opus/48000/2", "telephone-event/8000")  # pt 96: a dynamic event type
    offer = parse_offer(sdp)
    assert offer is not None
    answer = negotiate(offer)
    if codec is None:
        assert answer is None
        return
    assert answer is not None
    assert (answer.codec_pt, answer.dtmf_pt) == (codec, dtmf)
    assert (answer.remote_address, answer.remote_port) == ("192.0.2.7", 4000)


def test_offer_with_video_first_uses_the_audio_streams_address() -> None:
    sdp = (
        "v=0\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
        "m=video 6000 RTP/AVP 96\r\nc=IN IP4 10.0.0.9\r\na=rtpmap:96 VP8/90000\r\n"
        "m=audio 5000 RTP/AVP 8\r\na=ptime:30\r\n"
    )
    offer = parse_offer(sdp)
    assert offer is not None
    assert (offer.address, offer.port, offer.payload_types, offer.ptime_ms) == (
        "10.0.0.1",
        5000,
        (8,),
        30,
    )


def test_negotiation_refuses_srtp() -> None:
    sdp = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 5000 RTP/SAVP 0\r\n"
    offer = parse_offer(sdp)
    assert offer is not None and negotiate(offer) is None


@pytest.mark.parametrize(
    ("content_type", "body", "digit"),
    [
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", "5"),
        ("application/dtmf-relay", b"Signal= *\r\n", "*"),
        ("application/dtmf-relay", b"Signal=10\r\n", "*"),
        ("application/dtmf", b"#", "#"),
        ("application/dtmf", b"x", None),
        ("text/plain", b"5", None),
    ],
)
def test_info_bodies(content_type: str, body: bytes, digit: str | None) -> None:
    assert dtmf_from_info(content_type, body) == digit


def test_message_parsing_compact_and_folded_headers() -> None:
    data = (
        b"INVITE sip:bot@h SIP/2.0\r\n"
        b"v: SIP/2.0/UDP a:1;branch=z9hG4bK1, SIP/2.0/UDP b:2;branch=z9hG4bK2\r\n"
        b'f: "Wang, Li" <sip:%2B8613800138000@h>;tag=1\r\n'
        b"t: <sip:bot@h>\r\n"
        b"i: abc\r\n"
        b"CSeq: 7\r\n INVITE\r\n"
        b"l: 3\r\n\r\nabcdef"
    )
    message = SipMessage.parse(data)
    assert message.method == "INVITE"
    assert message.cseq == (7, "INVITE")
    assert len(message.values("Via")) == 2
    assert message.call_id == "abc"
    assert message.body == b"abc"
    assert message.values("From") == ['"Wang, Li" <sip:%2B8613800138000@h>;tag=1']


# -- helpers ---------------------------------------------------------------------------------


def _message(log: str, start: str, method: str) -> SipMessage:
    """The first message in a SIPp trace starting with ``start`` for ``method``."""
    for block in re.split(r"^-{20,}.*$", log, flags=re.MULTILINE):
        text = block.split(":\n", 1)[-1].lstrip("\n") if "bytes" in block else block
        if text.startswith(start):
            message = SipMessage.parse(text.replace("\n", "\r\n").encode())
            if message.cseq[1] == method:
                return message
    raise AssertionError(f"no {start!r} for {method} in the trace")


def _tag(value: str | None) -> str:
    match = re.search(r";tag=([^;>\s]+)", value or "")
    assert match, value
    return match.group(1)


def _drain(sock: socket.socket) -> None:
    while True:
        try:
            sock.recv(2048)
        except BlockingIOError:
            return


def _raw_request(method: str, port: int, branch: str, *, to: str, cseq: int) -> bytes:
    return (
        f"{method} sip:bot@{LOCALHOST} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {LOCALHOST}:{port};branch=z9hG4bK{branch}-{method};rport\r\n"
        f"From: <sip:10086@{LOCALHOST}>;tag=caller1\r\n"
        f"To: {to}\r\n"
        f"Call-ID: {branch}@test\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def _raw_invite(port: int, branch: str, *, body: str) -> bytes:
    sdp = body.replace("[media_port]", str(free_port())).replace("\n", "\r\n") + "\r\n"
    head = (
        f"INVITE sip:bot@{LOCALHOST} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {LOCALHOST}:{port};branch=z9hG4bK{branch};rport\r\n"
        f"From: <sip:10086@{LOCALHOST}>;tag=caller1\r\n"
        f"To: <sip:bot@{LOCALHOST}>\r\n"
        f"Call-ID: {branch}@test\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:10086@{LOCALHOST}:{port}>\r\n"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(sdp)}\r\n\r\n"
    )
    return (head + sdp).encode()


async def test_the_phone_line_listens_on_its_own_host_not_the_webs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import voice.telephony.audiosocket
    import voice.telephony.sip
    from liangwang.settings import Settings
    from voice.app import serve_phone

    bound: dict[str, str] = {}

    class Listens(Exception):
        pass

    def recording(kind: str) -> type:
        class Server:
            def __init__(self, _handler: object, *, host: str, **_options: object) -> None:
                bound[kind] = host

            async def start(self) -> None:
                if len(bound) == 2:
                    raise Listens

        return Server

    monkeypatch.setattr(voice.telephony.sip, "SipServer", recording("sip"))
    monkeypatch.setattr(voice.telephony.audiosocket, "AudioSocketServer", recording("audiosocket"))
    settings = Settings(host="0.0.0.0", phone_host="10.0.0.2")
    with pytest.raises(Listens):
        await serve_phone(settings, engines=None)  # type: ignore[arg-type]
    assert bound == {"sip": "10.0.0.2", "audiosocket": "10.0.0.2"}
