"""A SIP user agent server over UDP (the RFC 3261 subset a telephone answering bot needs).

What it does: answers INVITEs (100 Trying, optionally 180 Ringing, 200 OK with an SDP
answer for G.711), retransmits final INVITE responses until ACKed, sends and answers BYE,
handles CANCEL before answer, OPTIONS, INFO DTMF (``application/dtmf-relay`` and
``application/dtmf``), re-INVITEs (same media), and REFER for transfers. Retransmitted
requests get the response already sent (a cache keyed by transaction), never a second call.
Every other method gets 501. No registration, authentication, TCP/TLS or SRTP: the service
sits behind a trunk or PBX that routes calls to it, and ``dial`` places calls through it
(call backs) from the same socket, with the same lines (``voice.telephony.sip_dialer``).

Each call gets a ``SipLine`` (an ``RtpLine`` with SIP hangup and transfer), its own RTP
socket from ``rtp_ports`` and, once the caller ACKs, its own handler task; a handler that
raises is logged and its call is hung up, nothing else is touched; one that returns ends it.

Signalling follows the caller through NAT the same way media does: responses go where the
top Via's ``rport`` says (RFC 3581), and in-dialog requests go to the address the INVITE came
from when the caller's Via shows it is behind NAT.

The messages themselves (parsing, formatting, header values) are in
``voice.telephony.message``, the transactions (response cache, retransmissions, requests we
send) in ``voice.telephony.transactions``, each call's dialog in ``voice.telephony.sip_call``;
this module is the server: the socket, the routing of requests, and answering INVITEs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from voice.line import CallHandler, Dtmf, HangupBy
from voice.telephony.addresses import LOOPBACK, Network, admitted, our_address_for
from voice.telephony.message import (
    SIP_PORT,
    NameAddr,
    SipMessage,
    SipParseError,
    Via,
    build_response,
    dtmf_from_info,
    split_list,
    uri_host,
)
from voice.telephony.rtp import RtpPortPool
from voice.telephony.sip_call import CallState, SipCall, media_for, new_tag
from voice.telephony.sip_dialer import Dialer, DialResult
from voice.telephony.transactions import (
    T1_S,
    AckWaits,
    Address,
    ClientTransactions,
    ResponseCache,
    SentResponse,
    new_branch,
    transaction_key,
)

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY"
SERVER = "liangwang-assist"
MAX_FORWARDS = "70"  # RFC 3261 8.1.1.6
SHUTDOWN_BYE_S = 2.0  # stop() does not wait the full 32 s for a vanished caller
_MIN_DATAGRAM = 16  # shorter is a keep-alive (RFC 5626 CRLFs) or noise, never a message


class _SipProtocol(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, Address], None]) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self._on_datagram(data, (str(addr[0]), int(str(addr[1]))))

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP socket: %s", exc)


class SipServer:
    """Answers SIP calls on ``host:port`` (UDP) and runs ``handler`` once per call.

    ``port=0`` picks a free port (see ``port`` after ``start``). ``public_host`` is the
    address put in SDP/Contact/Via when the one we listen on is not what callers reach
    (NAT, 0.0.0.0). ``answer_delay`` rings (180) that long before answering.
    ``media_timeout`` hangs up a call whose RTP stopped that many seconds ago (None: never).
    ``trusted_peers``: the networks of the PBXs and trunks we take calls from; anything
    else is dropped unanswered, so a stranger can neither call in with a forged caller ID
    nor learn that we are here (loopback only by default).
    """

    def __init__(
        self,
        handler: CallHandler,
        *,
        host: str = "0.0.0.0",
        port: int = SIP_PORT,
        rtp_ports: range = range(10_000, 20_000),
        public_host: str | None = None,
        answer_delay: float = 0.0,
        media_timeout: float | None = 60.0,
        t1: float = T1_S,
        trusted_peers: Sequence[Network] = LOOPBACK,
    ) -> None:
        self.handler = handler
        self.trusted_peers = tuple(trusted_peers)
        self.untrusted_dropped = 0
        self.host = host
        self._requested_port = port
        self.port = port
        self.public_host = public_host
        self.answer_delay = answer_delay
        self.media_timeout = media_timeout
        self.t1 = t1
        self._rtp = RtpPortPool(rtp_ports)
        self._transport: asyncio.DatagramTransport | None = None
        self._calls: dict[str, SipCall] = {}
        self._responses = ResponseCache()
        self._ack_waits = AckWaits(self.send, t1=t1, on_no_ack=self._no_ack)
        self._requests = ClientTransactions(self.send, t1=t1)
        self._dialer = Dialer(self)
        self._tasks: set[asyncio.Task[None]] = set()  # request handling, hangups
        self._handlers: set[asyncio.Task[None]] = set()  # one per call, until it returns

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _SipProtocol(self._datagram), local_addr=(self.host, self._requested_port)
        )
        self._transport = transport
        self.port = int(transport.get_extra_info("sockname")[1])
        log.info("SIP listening on %s:%d (UDP)", self.host, self.port)

    async def stop(self) -> None:
        """Hang up every call (briefly waiting for each BYE's answer), give the handlers a
        moment to finish, cancel what is left, and close."""
        await asyncio.gather(
            *(call.hangup(by=HangupBy.shutdown, wait_s=SHUTDOWN_BYE_S) for call in self.calls),
            return_exceptions=True,
        )
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=SHUTDOWN_BYE_S)
        tasks = [*self._handlers, *self._tasks, *self._ack_waits.tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    @property
    def calls(self) -> list[SipCall]:
        return list(self._calls.values())

    def advertised_host(self, remote_ip: str) -> str:
        """Our address as the caller at ``remote_ip`` should see it."""
        return our_address_for(remote_ip, self.host, self.public_host)

    # -- what calls use (``CallServer``) -----------------------------------------------

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run ``coroutine`` as a task the server keeps (and cancels when it stops)."""
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def dial(
        self, target: str, handler: CallHandler, *, caller_id: str, ring_timeout: float = 45.0
    ) -> DialResult:
        """Place a call to ``target`` (a SIP URI: a trunk or PBX with the number) from our
        socket, as ``caller_id``; once answered ``handler`` runs on its line, as on a call we
        answered, and we hang up when it returns. How the INVITE ended (voice.telephony.
        sip_dialer): answered, refused (486, 480, 603…), or no response at all."""
        return await self._dialer.dial(
            target, handler, caller_id=caller_id, ring_timeout=ring_timeout
        )

    @property
    def rtp_ports(self) -> RtpPortPool:
        return self._rtp

    def adopt(self, call: SipCall) -> None:
        """A call we placed was answered: its dialog's requests come to it from now on."""
        self._calls[call.call_id] = call

    def release(self, call: SipCall) -> None:
        """Forget an ended call and free its RTP port."""
        if self._calls.get(call.call_id) is call:
            del self._calls[call.call_id]
        if call.rtp_port:
            self._rtp.release(call.rtp_port)

    # -- sending -------------------------------------------------------------------------

    def send(self, data: bytes, destination: Address) -> None:
        """Send one datagram from our SIP socket; never to a port past 65535 (a Via or Contact
        may name one): asyncio closes the socket on sendto's OverflowError, ending the line."""
        if not 0 < destination[1] <= 65535:
            log.debug("not sending to %s:%d: no such port", *destination)
        elif self._transport is not None:
            self._transport.sendto(data, destination)

    def respond(
        self,
        request: SipMessage,
        source: Address,
        status: int,
        reason: str,
        *,
        to_tag: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        body: str = "",
    ) -> SentResponse:
        """Send a response (and remember it, so a retransmitted request gets it again)."""
        top = Via.parse(split_list(request.header("Via") or "")[0])
        destination = self._response_destination(top, source)
        response = build_response(
            request,
            status,
            reason,
            source=source,
            to_tag=to_tag,
            headers=[("Server", SERVER), *(headers or [])],
            content_type="application/sdp",
            body=body.encode(),
        )
        data = response.to_bytes()
        self.send(data, destination)
        sent = SentResponse(data, destination, time.monotonic())
        self._responses.remember(transaction_key(request, top), sent)
        return sent

    @staticmethod
    def _response_destination(via: Via, source: Address) -> Address:
        if "rport" in via.params:  # RFC 3581: the caller wants answers where it sent from
            return source
        return source[0], via.port or SIP_PORT  # RFC 3261 18.2.2: received address, sent-by port

    def _no_ack(self, call_id: str, response: bytes) -> None:
        """A final INVITE response was resent until Timer H without an ACK."""
        call = self._calls.get(call_id)
        if call is not None and response.startswith(b"SIP/2.0 2") and not call.acked.is_set():
            log.warning("no ACK for call %s; hanging up", call_id)
            call.acked.set()  # stop waiting for it: RFC 3261 says BYE now
            self.spawn(call.hangup(by=HangupBy.timeout))

    async def send_request(
        self,
        call: SipCall,
        method: str,
        headers: list[tuple[str, str]] | None = None,
        *,
        timeout: float | None = None,
    ) -> SipMessage | None:
        """An in-dialog request with retransmissions (RFC 3261 17.1.2); its final response,
        or None when none came within ``timeout`` (Timer F, 64·T1, by default)."""
        call.cseq += 1
        branch = new_branch()
        lines = [
            ("Via", f"SIP/2.0/UDP {uri_host(call.local_host)}:{self.port};branch={branch};rport"),
            ("Max-Forwards", MAX_FORWARDS),
            ("From", call.local_header),
            ("To", call.remote_header),
            ("Call-ID", call.call_id),
            ("CSeq", f"{call.cseq} {method}"),
        ]
        lines += [("Route", route) for route in call.route_set]
        lines += [("Contact", call.contact), ("User-Agent", SERVER)]
        lines += headers or []
        data = SipMessage(f"{method} {call.remote_target} SIP/2.0", lines).to_bytes()
        return await self._requests.request(branch, data, call.destination(), timeout=timeout)

    # -- receiving -----------------------------------------------------------------------

    def _datagram(self, data: bytes, source: Address) -> None:
        if not admitted(source[0], self.trusted_peers):
            self.untrusted_dropped += 1
            return
        if len(data) < _MIN_DATAGRAM or data.strip(b"\r\n") == b"":
            return  # keep-alive CRLFs (RFC 5626) and other noise
        try:
            message = SipMessage.parse(data)
        except (SipParseError, ValueError, IndexError) as exc:
            log.debug("dropped a malformed SIP message from %s:%d: %s", *source, exc)
            return
        if not message.is_request:
            if not self._dialer.on_response(message, source):
                self._requests.on_response(message)
            return
        top = Via.parse(message.values("Via")[0])
        cached = self._responses.get(transaction_key(message, top))
        if cached is not None and message.method != "ACK":
            self.send(cached.data, cached.destination)  # a retransmitted request
            return
        self.spawn(self._on_request(message, source))

    async def _on_request(self, request: SipMessage, source: Address) -> None:
        method = request.method
        try:
            if method == "INVITE":
                await self._on_invite(request, source)
            elif method == "ACK":
                self._on_ack(request)
            elif method == "CANCEL":
                await self._on_cancel(request, source)
            elif method == "OPTIONS":
                self.respond(
                    request,
                    source,
                    200,
                    "OK",
                    to_tag=new_tag(),
                    headers=[("Allow", ALLOW), ("Accept", "application/sdp")],
                )
            elif method in ("BYE", "INFO", "NOTIFY"):
                await self._in_dialog(request, source)
            else:
                self.respond(request, source, 501, "Not Implemented", headers=[("Allow", ALLOW)])
        except Exception:
            log.exception("failed to handle %s from %s:%d", method, *source)
            with contextlib.suppress(Exception):
                self.respond(request, source, 500, "Server Internal Error")

    def _dialog(self, request: SipMessage) -> SipCall | None:
        """The call an in-dialog request belongs to: Call-ID and both tags must match."""
        call = self._calls.get(request.call_id)
        if call is None or call.state is CallState.ended:
            return None
        to_tag = NameAddr.parse(request.header("To") or "").tag
        from_tag = NameAddr.parse(request.header("From") or "").tag or ""
        return call if (to_tag, from_tag) == (call.local_tag, call.remote_tag) else None

    async def _in_dialog(self, request: SipMessage, source: Address) -> None:
        call = self._dialog(request)
        if call is None:
            self.respond(request, source, 481, "Call/Transaction Does Not Exist")
            return
        if request.method == "BYE":
            self.respond(request, source, 200, "OK")
            call.acked.set()  # a BYE implies the caller considers the call established
            await call.end(by=HangupBy.caller)
        elif request.method == "INFO":
            digit = dtmf_from_info(request.content_type, request.body)
            if digit is not None:
                call.line.inbound.put_nowait(Dtmf(digit))
            self.respond(request, source, 200, "OK")
        else:  # NOTIFY: progress of a transfer we asked for; acknowledging is enough
            self.respond(request, source, 200, "OK")

    def _on_ack(self, request: SipMessage) -> None:
        self._ack_waits.acked(request.call_id, request.cseq[0])
        call = self._calls.get(request.call_id)
        if call is not None and request.cseq[0] >= call.invite_cseq:
            if call.state is CallState.answered:
                self._start(call)
            call.confirm()

    async def _on_cancel(self, request: SipMessage, source: Address) -> None:
        call = self._calls.get(request.call_id)
        branch = Via.parse(request.values("Via")[0]).branch
        if call is None or call.invite_cseq != request.cseq[0] or call.invite_branch != branch:
            self.respond(request, source, 481, "Call/Transaction Does Not Exist")
            return
        self.respond(request, source, 200, "OK")
        if call.state is not CallState.proceeding:
            return  # already answered: the CANCEL has no effect (RFC 3261 9.2)
        sent = self.respond(
            call.invite, call.source, 487, "Request Terminated", to_tag=call.local_tag
        )
        self._ack_waits.start(call.call_id, call.invite_cseq, sent)
        await call.end(by=HangupBy.caller)

    # -- INVITE --------------------------------------------------------------------------

    async def _on_invite(self, invite: SipMessage, source: Address) -> None:
        if NameAddr.parse(invite.header("To") or "").tag is not None:
            await self._on_reinvite(invite, source)
            return
        if invite.call_id in self._calls:
            return  # a retransmission from an older client (no RFC 3261 branch): answered
        self.respond(invite, source, 100, "Trying")
        unsupported = [
            option
            for value in invite.values("Require")
            for option in [value.strip()]
            if option and option != "timer"  # session timers: a peer refresh is a re-INVITE
        ]
        if unsupported:
            self.reject(
                invite, source, 420, "Bad Extension", [("Unsupported", ", ".join(unsupported))]
            )
            return
        media = media_for(invite)
        if media is None:
            self.reject(invite, source, 488, "Not Acceptable Here")
            return
        call = SipCall(
            self,
            invite,
            source,
            media,
            local_host=self.advertised_host(source[0]),
            media_timeout=self.media_timeout,
        )
        self._calls[call.call_id] = call
        bound = await self._rtp.bind(self.host, call.line.datagram_protocol)
        if bound is None:
            log.warning("no free RTP port for call %s", call.call_id)
            self._calls.pop(call.call_id, None)
            self.reject(invite, source, 503, "Service Unavailable", tag=call.local_tag)
            return
        call.rtp_port = bound[1]
        if call.state is CallState.ended:  # cancelled while we were binding
            bound[0].close()
            self._rtp.release(call.rtp_port)
            return
        if self.answer_delay > 0:
            self.respond(invite, source, 180, "Ringing", to_tag=call.local_tag)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call.ended.wait(), self.answer_delay)
            if call.ended.is_set():  # cancelled while ringing
                return
        self._answer(call)

    def refuse(self, call: SipCall, status: int, reason: str) -> None:
        self.reject(call.invite, call.source, status, reason, tag=call.local_tag)

    def reject(
        self,
        invite: SipMessage,
        source: Address,
        status: int,
        reason: str,
        headers: list[tuple[str, str]] | None = None,
        *,
        tag: str | None = None,
    ) -> None:
        """Answer an INVITE with a final error response (resent until ACKed)."""
        sent = self.respond(
            invite, source, status, reason, to_tag=tag or new_tag(), headers=headers
        )
        self._ack_waits.start(invite.call_id, invite.cseq[0], sent)

    def _answer(self, call: SipCall) -> None:
        headers = [("Record-Route", route) for route in call.route_set]
        headers += [("Contact", call.contact), ("Allow", ALLOW)]
        sent = self.respond(
            call.invite,
            call.source,
            200,
            "OK",
            to_tag=call.local_tag,
            headers=headers,
            body=call.sdp(),
        )
        call.state = CallState.answered
        self._ack_waits.start(call.call_id, call.invite_cseq, sent)
        log.info("answered call %s from %s", call.call_id, call.line.caller)

    def _start(self, call: SipCall) -> None:
        """The caller ACKed our answer: its media and handler start. Not before, so that an
        INVITE from a forged address, never ACKed, costs no RTP, dialogue or speech."""
        call.line.start()
        task = asyncio.create_task(self._run_handler(call), name=f"call-{call.call_id}")
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    async def _run_handler(self, call: SipCall) -> None:
        try:
            await self.handler(call.line)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call handler failed on call %s; hanging it up", call.call_id)
        if call.state is not CallState.ended:
            await call.hangup(by=HangupBy.bot)

    async def _on_reinvite(self, invite: SipMessage, source: Address) -> None:
        call = self._dialog(invite)
        if call is None:
            self.respond(invite, source, 481, "Call/Transaction Does Not Exist")
            return
        if invite.body:  # without a body the caller wants our offer: the current SDP
            current = call.line.media
            media = media_for(invite, keep=current)
            if media is None or (media.codec_pt, media.alaw) != (current.codec_pt, current.alaw):
                # Changing codec mid-call is not worth supporting: the same media or nothing.
                self.reject(invite, source, 488, "Not Acceptable Here", tag=call.local_tag)
                return
            call.line.update_media(media)
        contacts = invite.values("Contact")
        if contacts:
            call.remote_target = NameAddr.parse(contacts[0]).uri
        headers = [("Contact", call.contact), ("Allow", ALLOW)]
        sent = self.respond(invite, source, 200, "OK", headers=headers, body=call.sdp())
        self._ack_waits.start(call.call_id, invite.cseq[0], sent)
