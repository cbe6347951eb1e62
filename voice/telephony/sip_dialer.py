"""Calls we place (the SIP UAC side, RFC 3261 13.2 and 17.1.1): through a trunk or a PBX to
a citizen's phone, from the SIP server's own socket and with the same G.711 line as calls
we answer.

``Dialer.dial`` binds an RTP port, sends an INVITE with our G.711 offer and runs its client
transaction: the INVITE is resent until the far end answers at all (Timer A) or Timer B
gives up; 100 Trying, 180 Ringing and 183 Session Progress mean it is on its way; when it
rings longer than the ring timeout we CANCEL (never before a provisional response, RFC
3261 9.1) and take the 487. Every final response is ACKed: a refusal (486 Busy, 480, 603…)
within its transaction, a 2xx with a new ACK, sent again whenever the 2xx is. An answered
call becomes a ``SipCall`` like one we answered — BYE, INFO keys, re-INVITEs and media
timeouts work the same — and the handler runs on its line; when the handler returns we
hang up (BYE) unless the other end already has.

Not supported: authentication challenges (401/407: the trunk must accept us by address),
forking (the first 2xx wins), early media (a 183's audio is not listened to), TCP/TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from dataclasses import dataclass, field
from typing import Protocol, cast

from voice.line import CallHandler, HangupBy
from voice.telephony.message import SIP_PORT, SipMessage, SipUri, uri_host
from voice.telephony.rtp import RtpPortPool
from voice.telephony.sdp import PCMU, MediaAnswer, build_offer
from voice.telephony.sip_call import CallServer, CallState, DialogIds, SipCall, media_for, new_tag
from voice.telephony.transactions import T2_S, TIMEOUT_T1, Address, new_branch

log = logging.getLogger(__name__)

# Stands in for the media of an answer we cannot use: that call is hung up at once.
_NO_MEDIA = MediaAnswer(PCMU, False, None, "0.0.0.0", 0, direction="inactive")

USER_AGENT = "liangwang-assist"
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY"


class DialHost(CallServer, Protocol):
    """What the dialer needs from the SIP server whose socket it shares."""

    @property
    def host(self) -> str:
        """The address we listen on (RTP is bound there too)."""
        ...

    @property
    def media_timeout(self) -> float | None: ...

    @property
    def rtp_ports(self) -> RtpPortPool: ...

    def advertised_host(self, remote_ip: str) -> str: ...

    def send(self, data: bytes, destination: Address) -> None: ...

    def adopt(self, call: SipCall) -> None:
        """Route the dialog's requests (BYE, INFO, re-INVITE) to ``call`` from now on."""
        ...


@dataclass(frozen=True)
class DialResult:
    """How a call we placed went: the final response to our INVITE (0: none came)."""

    status: int
    reason: str
    call_id: str = ""

    @property
    def answered(self) -> bool:
        return 200 <= self.status < 300

    @property
    def detail(self) -> str:
        return f"{self.status} {self.reason}".strip() if self.status else self.reason


class _MediaRelay(asyncio.DatagramProtocol):
    """Holds a call's RTP socket from before the call exists: bound first for our offer,
    then handed to the line of the answered call (packets before that are dropped)."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self._target: asyncio.DatagramProtocol | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # CPython's selector datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def attach(self, protocol: asyncio.DatagramProtocol) -> None:
        assert self.transport is not None
        self._target = protocol
        protocol.connection_made(self.transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if self._target is not None:
            self._target.datagram_received(data, addr)

    def error_received(self, exc: Exception) -> None:
        if self._target is not None:
            self._target.error_received(exc)


@dataclass
class _Outgoing:
    """One INVITE client transaction: its responses as they come."""

    invite: SipMessage
    destination: Address
    responses: asyncio.Queue[tuple[SipMessage, Address]] = field(default_factory=asyncio.Queue)
    provisional: bool = False  # a 1xx came: stop resending, and it may be cancelled
    cancel: bytes | None = None  # our CANCEL once sent
    cancel_answered: bool = False
    final: bool = False  # the INVITE has its final response


class Dialer:
    def __init__(self, host: DialHost) -> None:
        self._host = host
        self._outgoing: dict[str, _Outgoing] = {}  # by Call-ID, until the final response
        self._acks: dict[str, tuple[bytes, Address]] = {}  # ACKs to send again, by Call-ID

    def on_response(self, message: SipMessage, source: Address) -> bool:
        """Take a response to our INVITE or CANCEL; False when it is not ours."""
        method = message.cseq[1]
        if method not in ("INVITE", "CANCEL"):
            return False
        outgoing = self._outgoing.get(message.call_id)
        if (
            outgoing is not None
            and not outgoing.final
            and message.cseq[0] == outgoing.invite.cseq[0]
        ):
            outgoing.responses.put_nowait((message, source))
            return True
        ack = self._acks.get(message.call_id)
        if ack is not None and method == "INVITE" and message.status >= 200:
            self._host.send(*ack)  # the final response again: our ACK was lost
            return True
        return False

    async def dial(
        self, target: str, handler: CallHandler, *, caller_id: str, ring_timeout: float
    ) -> DialResult:
        """Call ``target`` (a SIP URI) as ``caller_id`` and run ``handler`` on the call once
        it is answered, until the handler returns; how the INVITE ended."""
        uri = SipUri.parse(target)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                uri.host, uri.port or SIP_PORT, family=socket.AF_INET, type=socket.SOCK_DGRAM
            )
        except OSError as exc:
            log.warning("cannot reach %s: %s", uri.host, exc)  # no number in logs
            return DialResult(0, f"unresolvable {uri.host}")
        destination: Address = (str(infos[0][4][0]), int(infos[0][4][1]))
        relay = _MediaRelay()
        bound = await self._host.rtp_ports.bind(self._host.host, lambda: relay)
        if bound is None:
            log.warning("no free RTP port for a call out")
            return DialResult(0, "no free RTP port")
        transport, rtp_port = bound
        local_host = self._host.advertised_host(destination[0])
        invite = self._invite(target, caller_id, local_host, rtp_port)
        outgoing = _Outgoing(invite, destination)
        self._outgoing[invite.call_id] = outgoing
        adopted = False
        try:
            final = await self._transact(outgoing, ring_timeout)
            if final is None:
                return DialResult(0, "no response", invite.call_id)
            response, source = final
            if response.status >= 300:
                self._send_ack(outgoing, response)
                log.info("call %s: %s", invite.call_id, response.start_line)
                return DialResult(response.status, _reason(response), invite.call_id)
            call = self._answered(outgoing, response, source, local_host, rtp_port, relay)
            adopted = call is not None
            if call is None:
                return DialResult(488, "Not Acceptable Here", invite.call_id)
            await self._run(call, handler)
            return DialResult(response.status, _reason(response), invite.call_id)
        finally:
            self._outgoing.pop(invite.call_id, None)
            if outgoing.provisional and not outgoing.final and outgoing.cancel is None:
                self._send_cancel(outgoing)  # cancelled ourselves while it rang
            if not adopted:
                transport.close()
                self._host.rtp_ports.release(rtp_port)

    # -- the INVITE transaction ----------------------------------------------------------

    def _invite(self, target: str, caller_id: str, local_host: str, rtp_port: int) -> SipMessage:
        host = uri_host(local_host)
        port = self._host.port
        body = build_offer(address=local_host, port=rtp_port, session_id=secrets.randbelow(2**31))
        headers = [
            ("Via", f"SIP/2.0/UDP {host}:{port};branch={new_branch()};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{caller_id}@{host}>;tag={new_tag()}"),
            ("To", f"<{target}>"),
            ("Call-ID", f"{secrets.token_hex(12)}@{host}"),
            ("CSeq", f"{secrets.randbelow(10_000) + 1} INVITE"),
            ("Contact", f"<sip:{caller_id}@{host}:{port}>"),
            ("User-Agent", USER_AGENT),
            ("Allow", ALLOW),
            ("Content-Type", "application/sdp"),
        ]
        return SipMessage(f"INVITE {target} SIP/2.0", headers, body.encode())

    async def _transact(
        self, outgoing: _Outgoing, ring_timeout: float
    ) -> tuple[SipMessage, Address] | None:
        """The INVITE's final response, or None when none came: no answer at all within
        Timer B, or none after our CANCEL, or ringing past the timeout without a 1xx."""
        loop = asyncio.get_running_loop()
        t1 = self._host.t1
        start = loop.time()
        timer_b = start + TIMEOUT_T1 * t1
        ring_end = start + ring_timeout
        interval = t1
        resend_at = start + interval
        cancel_resend_at = cancel_deadline = 0.0
        cancel_interval = t1
        data = outgoing.invite.to_bytes()
        self._host.send(data, outgoing.destination)
        while True:
            now = loop.time()
            wake: list[float] = []
            if not outgoing.provisional:
                if now >= timer_b:
                    return None
                if now >= resend_at:  # Timer A: the INVITE again, twice as late each time
                    self._host.send(data, outgoing.destination)
                    interval *= 2
                    resend_at = now + interval
                wake += [resend_at, timer_b]
            if outgoing.cancel is None:
                if now >= ring_end:
                    if not outgoing.provisional:
                        return None  # nothing has answered at all: nothing to cancel
                    self._send_cancel(outgoing)
                    cancel_resend_at, cancel_deadline = now + t1, now + TIMEOUT_T1 * t1
                else:
                    wake.append(ring_end)
            if outgoing.cancel is not None:
                if now >= cancel_deadline:
                    return None
                if not outgoing.cancel_answered and now >= cancel_resend_at:
                    self._host.send(outgoing.cancel, outgoing.destination)
                    cancel_interval = min(cancel_interval * 2, T2_S)
                    cancel_resend_at = now + cancel_interval
                wake.append(cancel_deadline)
                if not outgoing.cancel_answered:
                    wake.append(cancel_resend_at)
            try:
                response, source = await asyncio.wait_for(
                    outgoing.responses.get(), max(min(wake) - loop.time(), 0.0)
                )
            except TimeoutError:
                continue
            if response.cseq[1] == "CANCEL":
                outgoing.cancel_answered = True
            elif response.status < 200:
                outgoing.provisional = True  # 100 Trying, 180 Ringing, 183 Session Progress
            else:
                outgoing.final = True
                return response, source

    def _send_cancel(self, outgoing: _Outgoing) -> None:
        """CANCEL the ringing INVITE: its Request-URI, Call-ID, From, To, Via (RFC 3261 9.1)."""
        invite = outgoing.invite
        headers = [
            ("Via", invite.values("Via")[0]),
            ("Max-Forwards", "70"),
            ("From", invite.header("From") or ""),
            ("To", invite.header("To") or ""),
            ("Call-ID", invite.call_id),
            ("CSeq", f"{invite.cseq[0]} CANCEL"),
            ("User-Agent", USER_AGENT),
        ]
        outgoing.cancel = SipMessage(f"CANCEL {invite.uri} SIP/2.0", headers).to_bytes()
        self._host.send(outgoing.cancel, outgoing.destination)

    def _send_ack(self, outgoing: _Outgoing, response: SipMessage) -> None:
        """ACK a refusal, within the INVITE's transaction (RFC 3261 17.1.1.3)."""
        invite = outgoing.invite
        headers = [
            ("Via", invite.values("Via")[0]),
            ("Max-Forwards", "70"),
            ("From", invite.header("From") or ""),
            ("To", response.header("To") or ""),
            ("Call-ID", invite.call_id),
            ("CSeq", f"{invite.cseq[0]} ACK"),
        ]
        data = SipMessage(f"ACK {invite.uri} SIP/2.0", headers).to_bytes()
        self._remember_ack(invite.call_id, data, outgoing.destination)

    def _remember_ack(self, call_id: str, data: bytes, destination: Address) -> None:
        """Send an ACK, and again for as long as the final response may be resent."""
        self._host.send(data, destination)
        self._acks[call_id] = (data, destination)
        asyncio.get_running_loop().call_later(
            TIMEOUT_T1 * self._host.t1, self._acks.pop, call_id, None
        )

    # -- the answered call ---------------------------------------------------------------

    def _answered(
        self,
        outgoing: _Outgoing,
        response: SipMessage,
        source: Address,
        local_host: str,
        rtp_port: int,
        relay: _MediaRelay,
    ) -> SipCall | None:
        """Make the dialog a call and ACK the 2xx; None (after ACK and BYE) when the
        answer's media is unusable."""
        media = media_for(response)
        call = SipCall(
            self._host,
            outgoing.invite,
            source,
            media or _NO_MEDIA,
            local_host=local_host,
            media_timeout=self._host.media_timeout,
            dialog=DialogIds.calling(outgoing.invite, response),
        )
        call.cseq = outgoing.invite.cseq[0]
        call.rtp_port = rtp_port
        via_host = uri_host(local_host)
        headers = [
            ("Via", f"SIP/2.0/UDP {via_host}:{self._host.port};branch={new_branch()};rport"),
            ("Max-Forwards", "70"),
            ("From", call.local_header),
            ("To", call.remote_header),
            ("Call-ID", call.call_id),
            ("CSeq", f"{call.cseq} ACK"),
        ]
        headers += [("Route", route) for route in call.route_set]
        ack = SipMessage(f"ACK {call.remote_target} SIP/2.0", headers).to_bytes()
        self._host.adopt(call)  # before the ACK: a quick BYE must find the call
        self._remember_ack(call.call_id, ack, call.destination())
        call.state = CallState.confirmed
        call.acked.set()
        if media is None:
            log.warning("call %s answered without usable media; hanging up", call.call_id)
            self._host.spawn(call.hangup(by=HangupBy.error))
            return None
        relay.attach(call.line.datagram_protocol())
        call.line.start()
        log.info("call %s answered", call.call_id)
        return call

    async def _run(self, call: SipCall, handler: CallHandler) -> None:
        try:
            await handler(call.line)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(call.hangup(by=HangupBy.shutdown, wait_s=2.0))
            raise
        except Exception:
            log.exception("call handler failed on call %s; hanging it up", call.call_id)
        if call.state is not CallState.ended:
            await call.hangup(by=HangupBy.bot)


def _reason(response: SipMessage) -> str:
    return response.start_line.split(" ", 2)[2] if response.start_line.count(" ") >= 2 else ""
