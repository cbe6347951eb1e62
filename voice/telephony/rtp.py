"""RTP media for one call (RFC 3550, RFC 3551 G.711, RFC 4733 DTMF events).

``RtpLine`` is a ``CallLine`` that carries audio over one UDP socket: inbound G.711 is
decoded and re-cut into 20 ms frames whatever ptime the caller uses; telephone-events become
one ``Dtmf`` per key press; outbound audio is encoded and paced by ``PacedLine``, which here
sends encoded silence when nothing is queued — NAT bindings stay open, the caller's jitter
buffer keeps its timing, and the RTP clock never jumps. RTCP is neither sent nor read.

Media is symmetric (RFC 4961 style): we send to the address the SDP gives until the first
packet arrives, then answer where it came from (the caller is behind NAT). That source is
latched once, and only from a host the call's signalling named (the SIP peer or the SDP's
address): packets from anywhere else are dropped, so a stranger who guesses the port can
neither speak into the call nor take its audio. A re-INVITE, which only the SIP peer can
send, may move the media and latches afresh.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from voice.audio import alaw_decode, alaw_encode, frame_bytes, ulaw_decode, ulaw_encode
from voice.line import AudioFrame, Dtmf
from voice.telephony import PacedLine
from voice.telephony.sdp import PCMA, PCMU, MediaAnswer

log = logging.getLogger(__name__)

RATE = 8000
SAMPLES_PER_FRAME = 160  # 20 ms at 8 kHz
_HEADER = struct.Struct("!BBHII")
_EVENT = struct.Struct("!BBH")
DTMF_EVENTS = "0123456789*#ABCD"  # RFC 4733 event codes 0-15; 16 (flash) has no digit
# Sequence numbers more than this far behind the newest are a restarted sender, not a late
# duplicate (RFC 3550 A.1 uses a similar dropout threshold).
_MAX_MISORDER = 100


@dataclass(frozen=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False

    def to_bytes(self) -> bytes:
        header = _HEADER.pack(
            0x80,  # version 2, no padding, no extension, no CSRCs
            (0x80 if self.marker else 0) | self.payload_type,
            self.sequence & 0xFFFF,
            self.timestamp & 0xFFFFFFFF,
            self.ssrc,
        )
        return header + self.payload

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket | None:
        """The packet in ``data``; None for anything that is not RTP version 2 (e.g. RTCP
        multiplexed on the port, STUN, garbage)."""
        if len(data) < _HEADER.size:
            return None
        first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
        if first >> 6 != 2:
            return None
        payload_type = second & 0x7F
        if 64 <= payload_type <= 95:
            return None  # RTCP packet types 192-223 land here when rtcp-mux is used
        offset = _HEADER.size + 4 * (first & 0x0F)
        if first & 0x10:  # header extension: skip it
            if len(data) < offset + 4:
                return None
            (words,) = struct.unpack_from("!H", data, offset + 2)
            offset += 4 + 4 * words
        end = len(data)
        if first & 0x20:  # padding: the last byte says how much
            if end <= offset or data[-1] == 0 or data[-1] > end - offset:
                return None
            end -= data[-1]
        if offset > end:
            return None
        return cls(payload_type, sequence, timestamp, ssrc, data[offset:end], bool(second & 0x80))


class RtpPortPool:
    """Hands out UDP ports from a range, binding each for one call's RTP.

    Even ports only (RTP convention; a peer may send RTCP to port + 1, which we leave
    unbound). A port some other program holds is skipped, not fatal.
    """

    def __init__(self, ports: range) -> None:
        self._ports = [p for p in ports if p % 2 == 0] or list(ports)
        self._in_use: set[int] = set()
        self._next = 0

    async def bind(
        self, host: str, factory: Callable[[], asyncio.DatagramProtocol]
    ) -> tuple[asyncio.DatagramTransport, int] | None:
        loop = asyncio.get_running_loop()
        for _ in range(len(self._ports)):
            port = self._ports[self._next]
            self._next = (self._next + 1) % len(self._ports)  # round robin: no quick reuse
            if port in self._in_use:
                continue
            try:
                transport, _ = await loop.create_datagram_endpoint(factory, local_addr=(host, port))
            except OSError:
                continue
            self._in_use.add(port)
            return transport, port
        return None

    def release(self, port: int) -> None:
        self._in_use.discard(port)

    @property
    def in_use(self) -> int:
        return len(self._in_use)


class _RtpProtocol(asyncio.DatagramProtocol):
    def __init__(self, line: RtpLine) -> None:
        self._line = line

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # CPython's selector datagram transport does not subclass DatagramTransport.
        self._line._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self._line._receive(data, (str(addr[0]), int(str(addr[1]))))

    def error_received(self, exc: Exception) -> None:
        log.debug("RTP socket of %s: %s", self._line.call_id, exc)


class RtpLine(PacedLine):
    """One call's G.711 audio over RTP. Bind with ``datagram_protocol()``, then ``start``."""

    idle_silence = True

    def __init__(
        self,
        *,
        caller: str,
        call_id: str,
        media: MediaAnswer,
        media_timeout: float | None = None,
        on_media_timeout: Callable[[], None] | None = None,
        signalling_hosts: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(caller=caller, call_id=call_id, rate=RATE)
        self.media = media
        self.remote: tuple[str, int] = (media.remote_address, media.remote_port)
        # Media may come from the SIP peer's host and the SDP's; none latched yet.
        self._signalling_hosts = signalling_hosts
        self._latched: tuple[str, int] | None = None
        self.packets_dropped = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._encode = alaw_encode if media.alaw else ulaw_encode
        self._silence = self._encode(bytes(frame_bytes(RATE)))
        self._ssrc = secrets.randbits(32)
        self._sequence = secrets.randbits(16)
        self._timestamp = secrets.randbits(32)
        self._pending = bytearray()  # decoded PCM not yet a whole 20 ms frame
        self._rx_ssrc: int | None = None
        self._rx_highest = 0
        self._events_seen: deque[tuple[int, int]] = deque(maxlen=16)  # (ssrc, timestamp)
        self._media_timeout = media_timeout
        self._on_media_timeout = on_media_timeout
        self._last_rx = time.monotonic()
        self.packets_received = 0

    def datagram_protocol(self) -> asyncio.DatagramProtocol:
        return _RtpProtocol(self)

    def start(self) -> None:
        """Begin sending (and watching for a dead caller)."""
        self._last_rx = time.monotonic()
        self._start_pacing()

    def update_media(self, media: MediaAnswer) -> None:
        """A re-INVITE moved the caller's media; the codec we agreed stays the same."""
        self.media = media
        if media.remote_address not in ("0.0.0.0", "") and media.remote_port:
            self.remote = (media.remote_address, media.remote_port)
            self._latched = None

    async def close(self) -> None:
        await self._stop_pacing()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # -- sending -------------------------------------------------------------------------

    def _send_frame(self, pcm: bytes | None, *, resumed: bool) -> bool:
        self._check_media_timeout()
        if self._transport is None or self.media.direction in ("recvonly", "inactive"):
            return False
        payload = self._silence if pcm is None else self._encode(pcm)
        packet = RtpPacket(
            self.media.codec_pt, self._sequence, self._timestamp, self._ssrc, payload, resumed
        )
        self._transport.sendto(packet.to_bytes(), self.remote)
        self._sequence = (self._sequence + 1) & 0xFFFF
        self._timestamp = (self._timestamp + SAMPLES_PER_FRAME) & 0xFFFFFFFF
        return True

    def _check_media_timeout(self) -> None:
        if (
            self._media_timeout is not None
            and self._on_media_timeout is not None
            and self.media.direction in ("sendrecv", "recvonly")  # the caller should send
            and time.monotonic() - self._last_rx > self._media_timeout
        ):
            callback, self._on_media_timeout = self._on_media_timeout, None
            log.info("no RTP from %s for %.0f s", self.call_id, self._media_timeout)
            asyncio.get_running_loop().call_soon(callback)

    # -- receiving -----------------------------------------------------------------------

    def _receive(self, data: bytes, source: tuple[str, int]) -> None:
        packet = RtpPacket.parse(data)
        if packet is None or self._transport is None:
            return
        if not self._from_the_caller(source):
            self.packets_dropped += 1
            return
        self._last_rx = time.monotonic()
        self.packets_received += 1
        if not self._in_order(packet):
            return
        if packet.payload_type == self.media.dtmf_pt:
            self._receive_event(packet)
        elif packet.payload_type == self.media.codec_pt:
            self._receive_voice(packet.payload, alaw=self.media.alaw)
        elif packet.payload_type in (PCMU, PCMA):  # the other G.711 law: decodable anyway
            self._receive_voice(packet.payload, alaw=packet.payload_type == PCMA)
        # anything else (comfort noise 13, unknown) carries no speech we could use

    def _from_the_caller(self, source: tuple[str, int]) -> bool:
        """Whether a packet is the caller's: from the latched source, or the first one
        from a host the signalling named (which then becomes the latched source)."""
        if self._latched is not None:
            return source == self._latched
        if source[0] not in self._signalling_hosts and source[0] != self.media.remote_address:
            return False
        self._latched = source
        if source != self.remote:
            log.info("RTP of %s comes from %s:%d; sending there", self.call_id, *source)
            self.remote = source
        return True

    def _in_order(self, packet: RtpPacket) -> bool:
        """Drop duplicates and packets that arrive after newer ones (we keep no jitter
        buffer: a late 20 ms is better lost than played out of order)."""
        if packet.ssrc != self._rx_ssrc:
            self._rx_ssrc, self._rx_highest = packet.ssrc, packet.sequence
            return True
        ahead = (packet.sequence - self._rx_highest) & 0xFFFF
        if ahead == 0:
            return False
        if ahead < 0x8000 or 0x10000 - ahead >= _MAX_MISORDER:
            self._rx_highest = packet.sequence
            return True
        return False

    def _receive_voice(self, payload: bytes, *, alaw: bool) -> None:
        self._pending += alaw_decode(payload) if alaw else ulaw_decode(payload)
        size = self._frame_size
        while len(self._pending) >= size:
            self.inbound.put_nowait(AudioFrame(bytes(self._pending[:size])))
            del self._pending[:size]

    def _receive_event(self, packet: RtpPacket) -> None:
        # Every packet of one key press carries the same timestamp (the press's start),
        # including the three end-bit retransmissions: one Dtmf per timestamp.
        if len(packet.payload) < _EVENT.size:
            return
        event, _flags, _duration = _EVENT.unpack_from(packet.payload)
        key = (packet.ssrc, packet.timestamp)
        if event >= len(DTMF_EVENTS) or key in self._events_seen:
            return
        self._events_seen.append(key)
        self.inbound.put_nowait(Dtmf(DTMF_EVENTS[event]))
