"""A SIP user agent server over UDP (the RFC 3261 subset a telephone answering bot needs).

What it does: answers INVITEs (100 Trying, optionally 180 Ringing, 200 OK with an SDP
answer for G.711), retransmits final INVITE responses until ACKed, sends and answers BYE,
handles CANCEL before answer, OPTIONS, INFO DTMF (``application/dtmf-relay`` and
``application/dtmf``), re-INVITEs (same media), and REFER for transfers. Retransmitted
requests get the response already sent (a cache keyed by transaction), never a second call.
Every other method gets 501. No registration, authentication, TCP/TLS or SRTP: the service
sits behind a trunk or PBX that routes calls to it.

Each call gets a ``SipLine`` (an ``RtpLine`` with SIP hangup and transfer), its own RTP
socket from ``rtp_ports`` and its own handler task; a handler that raises is logged and its
call is hung up, nothing else is touched. A handler that returns also ends its call.

Signalling follows the caller through NAT the same way media does: responses go where the
top Via's ``rport`` says (RFC 3581), and in-dialog requests go to the address the INVITE came
from when the caller's Via shows it is behind NAT.

The messages themselves (parsing, formatting, header values) are in
``voice.telephony.message``; this module is the transactions, dialogs and calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from voice.line import CallHandler, Dtmf, Hangup
from voice.telephony.message import (
    NameAddr,
    SipMessage,
    SipParseError,
    SipUri,
    Via,
    build_response,
    dtmf_from_info,
    split_list,
    uri_host,
)
from voice.telephony.rtp import RtpLine, RtpPortPool
from voice.telephony.sdp import MediaAnswer, SdpError, build_answer, negotiate, parse_offer

log = logging.getLogger(__name__)

T2 = 4.0  # RFC 3261 17.1.2.2: the longest retransmission interval
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY"
SERVER = "liangwang-assist"
_RESPONSE_CACHE_S = 32.0  # RFC 3261 Timer J: how long a transaction's response is resent
_SHUTDOWN_BYE_S = 2.0  # stop() does not wait the full 32 s for a vanished caller

Address = tuple[str, int]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _new_tag() -> str:
    return secrets.token_hex(6)


def _new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(10)  # RFC 3261 magic cookie + unique part


# -- calls -----------------------------------------------------------------------------------


class SipLine(RtpLine):
    """The handler's view of one SIP call: RTP audio plus SIP hangup and transfer."""

    def __init__(
        self,
        call: SipCall,
        *,
        caller: str,
        media: MediaAnswer,
        media_timeout: float | None,
        on_media_timeout: Callable[[], None],
    ) -> None:
        super().__init__(
            caller=caller,
            call_id=call.call_id,
            media=media,
            media_timeout=media_timeout,
            on_media_timeout=on_media_timeout,
        )
        self._call = call

    async def hangup(self) -> None:
        await self._call.hangup(by="bot")

    async def transfer(self, target: str) -> bool:
        return await self._call.transfer(target)


class SipCall:
    """One dialog (we are always the UAS) and the state of its INVITE transaction."""

    def __init__(self, server: SipServer, invite: SipMessage, source: Address, media: MediaAnswer):
        self._server = server
        self.invite = invite
        self.call_id = invite.call_id
        self.invite_cseq = invite.cseq[0]
        self.invite_branch = Via.parse(invite.values("Via")[0]).branch
        self.source = source
        self.local_tag = _new_tag()
        self.remote_tag = NameAddr.parse(invite.header("From") or "").tag or ""
        self.local_header = f"{invite.header('To')};tag={self.local_tag}"
        self.remote_header = invite.header("From") or ""
        self.route_set = invite.values("Record-Route")
        contacts = invite.values("Contact")
        self.remote_target = NameAddr.parse(contacts[0]).uri if contacts else self._from_uri()
        self.local_host = server.advertised_host(source[0])
        self.rtp_port = 0
        self.cseq = secrets.randbelow(10_000) + 1
        self.state = "proceeding"  # → answered → confirmed → ending → ended
        self.acked = asyncio.Event()
        self.ended = asyncio.Event()
        self.answer_sdp = ""
        self.sdp_version = 1
        self.session_id = secrets.randbelow(2**31)
        from_uri = SipUri.parse(self._from_uri())
        caller = from_uri.user or from_uri.host  # the number; a bare host when there is none
        self.line = SipLine(
            self,
            caller=caller,
            media=media,
            media_timeout=server.media_timeout,
            on_media_timeout=self._media_timed_out,
        )

    def _from_uri(self) -> str:
        return NameAddr.parse(self.remote_header).uri

    @property
    def contact(self) -> str:
        user = SipUri.parse(self.invite.uri).user
        at = f"{user}@" if user else ""
        return f"<sip:{at}{uri_host(self.local_host)}:{self._server.port}>"

    def destination(self) -> Address:
        """Where in-dialog requests go: the first route, else the remote target — unless
        the caller's INVITE came through NAT, in which case back where it came from."""
        if self.route_set:
            uri = SipUri.parse(NameAddr.parse(self.route_set[0]).uri)
            if _is_ip(uri.host):
                return uri.host, uri.port or 5060
            return self.source
        target = SipUri.parse(self.remote_target)
        top_via = Via.parse(self.invite.values("Via")[0])
        maybe_nat = top_via.host != self.source[0] or "rport" in top_via.params
        if _is_ip(target.host) and (target.host == self.source[0] or not maybe_nat):
            return target.host, target.port or 5060
        return self.source

    def sdp(self) -> str:
        """Our answer; its version goes up only when its content changes (RFC 3264 8)."""
        media = self.line.media

        def render(version: int) -> str:
            return build_answer(
                media,
                address=self.local_host,
                port=self.rtp_port,
                session_id=self.session_id,
                version=version,
            )

        body = render(self.sdp_version)
        if self.answer_sdp and body != self.answer_sdp:
            self.sdp_version += 1
            body = render(self.sdp_version)
        self.answer_sdp = body
        return body

    async def end(self, by: str) -> None:
        """Release everything; the handler sees ``Hangup(by)`` on its inbound queue."""
        if self.state == "ended":
            return
        answered = self.state != "proceeding"
        self.state = "ended"
        self.ended.set()
        if answered:
            self.line.inbound.put_nowait(Hangup(by=by))
        await self.line.close()
        self._server._forget(self)
        log.info("call %s from %s ended by %s", self.call_id, self.line.caller, by)

    async def hangup(self, by: str = "bot", *, wait_s: float | None = None) -> None:
        """Send BYE and wait (bounded) for its response, then end the call."""
        if self.state in ("ending", "ended"):
            await self.ended.wait()
            return
        if self.state == "proceeding":  # ringing (answer_delay): refuse instead of answering
            self._server._reject(
                self.invite, self.source, 480, "Temporarily Unavailable", tag=self.local_tag
            )
            await self.end(by)
            return
        self.state = "ending"
        self.line.stop_playback()
        timeout = self._server.t1 * 64 if wait_s is None else wait_s
        # RFC 3261 15: no BYE before the 2xx is ACKed (or its retransmissions gave up).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._acked_or_ended(), timeout)
        if self.state != "ended":
            response = await self._server.send_request(self, "BYE", timeout=timeout)
            if response is None:
                log.warning("no answer to BYE for %s; ending it anyway", self.call_id)
        await self.end(by)

    async def _acked_or_ended(self) -> None:
        acked = asyncio.ensure_future(self.acked.wait())
        ended = asyncio.ensure_future(self.ended.wait())
        try:
            await asyncio.wait({acked, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            acked.cancel()
            ended.cancel()

    async def transfer(self, target: str) -> bool:
        """REFER the caller to ``target`` (a SIP URI, or a number/user on the caller's host)."""
        if self.state not in ("answered", "confirmed"):
            return False
        if ":" not in target:
            host = SipUri.parse(self._from_uri()).host or self.source[0]
            target = f"sip:{target}@{uri_host(host)}"
        referred_by = f"<sip:{SipUri.parse(self.invite.uri).user or 'bot'}@{self.local_host}>"
        response = await self._server.send_request(
            self, "REFER", [("Refer-To", f"<{target}>"), ("Referred-By", referred_by)]
        )
        accepted = response is not None and response.status == 202
        outcome = response.start_line if response is not None else "no answer"
        log.info("transfer of %s to %s: %s", self.call_id, target, outcome)
        return accepted

    def _media_timed_out(self) -> None:
        self._server._spawn(self.hangup(by="timeout"))


# -- the server ------------------------------------------------------------------------------


@dataclass
class _Sent:
    data: bytes
    destination: Address
    at: float


class _SipProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: SipServer) -> None:
        self._server = server

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self._server._datagram(data, (str(addr[0]), int(str(addr[1]))))

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP socket: %s", exc)


class SipServer:
    """Answers SIP calls on ``host:port`` (UDP) and runs ``handler`` once per call.

    ``port=0`` picks a free port (see ``port`` after ``start``). ``public_host`` is the
    address put in SDP/Contact/Via when the one we listen on is not what callers reach
    (NAT, 0.0.0.0). ``answer_delay`` rings (180) that long before answering.
    ``media_timeout`` hangs up a call whose RTP stopped that many seconds ago (None: never).
    """

    def __init__(
        self,
        handler: CallHandler,
        *,
        host: str = "0.0.0.0",
        port: int = 5060,
        rtp_ports: range = range(10_000, 20_000),
        public_host: str | None = None,
        answer_delay: float = 0.0,
        media_timeout: float | None = 60.0,
        t1: float = 0.5,
    ) -> None:
        self.handler = handler
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
        self._responses: dict[tuple[str, int, str, str], _Sent] = {}
        self._unacked: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._waiting: dict[str, asyncio.Future[SipMessage]] = {}
        self._provisional: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()  # request handling, hangups
        self._handlers: set[asyncio.Task[None]] = set()  # one per call, until it returns

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _SipProtocol(self), local_addr=(self.host, self._requested_port)
        )
        self._transport = transport
        self.port = int(transport.get_extra_info("sockname")[1])
        log.info("SIP listening on %s:%d (UDP)", self.host, self.port)

    async def stop(self) -> None:
        """Hang up every call (briefly waiting for each BYE's answer), give the handlers a
        moment to finish, cancel what is left, and close."""
        await asyncio.gather(
            *(call.hangup(by="shutdown", wait_s=_SHUTDOWN_BYE_S) for call in self.calls),
            return_exceptions=True,
        )
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=_SHUTDOWN_BYE_S)
        tasks = [*self._handlers, *self._tasks, *self._unacked.values()]
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
        if self.public_host:
            return self.public_host
        if self.host not in ("0.0.0.0", "::", ""):
            return self.host
        # The kernel's route to the caller tells which of our addresses it reaches; a UDP
        # connect() sends nothing.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect((remote_ip, 9))
                return str(probe.getsockname()[0])
            except OSError:
                return "127.0.0.1"

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _forget(self, call: SipCall) -> None:
        if self._calls.get(call.call_id) is call:
            del self._calls[call.call_id]
        if call.rtp_port:
            self._rtp.release(call.rtp_port)

    # -- sending -------------------------------------------------------------------------

    def _send(self, data: bytes, destination: Address) -> None:
        if self._transport is not None:
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
    ) -> _Sent:
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
        self._send(data, destination)
        key = (request.call_id, request.cseq[0], request.method, top.branch)
        sent = _Sent(data, destination, time.monotonic())
        self._responses[key] = sent
        if len(self._responses) > 256:
            stale = [k for k, v in self._responses.items() if sent.at - v.at > _RESPONSE_CACHE_S]
            for old in stale:
                del self._responses[old]
        return sent

    @staticmethod
    def _response_destination(via: Via, source: Address) -> Address:
        if "rport" in via.params:  # RFC 3581: the caller wants answers where it sent from
            return source
        return source[0], via.port or 5060  # RFC 3261 18.2.2: received address, sent-by port

    def _retransmit_until_ack(self, call_id: str, cseq: int, sent: _Sent) -> None:
        """RFC 3261 13.3.1.4 / 17.2.1: resend a final INVITE response until the ACK."""
        data, to = sent.data, sent.destination

        async def resend() -> None:
            interval = self.t1
            deadline = time.monotonic() + 64 * self.t1
            while time.monotonic() + interval < deadline:
                await asyncio.sleep(interval)
                self._send(data, to)
                interval = min(interval * 2, T2)
            await asyncio.sleep(max(deadline - time.monotonic(), 0))
            self._unacked.pop((call_id, cseq), None)
            call = self._calls.get(call_id)
            if call is not None and data.startswith(b"SIP/2.0 2") and not call.acked.is_set():
                log.warning("no ACK for call %s; hanging up", call_id)
                call.acked.set()  # stop waiting for it: RFC 3261 says BYE now
                self._spawn(call.hangup(by="timeout"))

        previous = self._unacked.pop((call_id, cseq), None)
        if previous is not None:
            previous.cancel()
        self._unacked[(call_id, cseq)] = asyncio.create_task(resend())

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
        branch = _new_branch()
        lines = [
            ("Via", f"SIP/2.0/UDP {uri_host(call.local_host)}:{self.port};branch={branch};rport"),
            ("Max-Forwards", "70"),
            ("From", call.local_header),
            ("To", call.remote_header),
            ("Call-ID", call.call_id),
            ("CSeq", f"{call.cseq} {method}"),
        ]
        lines += [("Route", route) for route in call.route_set]
        lines += [("Contact", call.contact), ("User-Agent", SERVER)]
        lines += headers or []
        data = SipMessage(f"{method} {call.remote_target} SIP/2.0", lines).to_bytes()
        destination = call.destination()
        future: asyncio.Future[SipMessage] = asyncio.get_running_loop().create_future()
        self._waiting[branch] = future
        deadline = time.monotonic() + (64 * self.t1 if timeout is None else timeout)
        interval = self.t1
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                self._send(data, destination)
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(future), min(interval, remaining))
                # After a provisional response the peer has the request: resend slowly.
                interval = T2 if branch in self._provisional else min(interval * 2, T2)
            return None
        finally:
            self._waiting.pop(branch, None)
            self._provisional.discard(branch)
            future.cancel()

    # -- receiving -----------------------------------------------------------------------

    def _datagram(self, data: bytes, source: Address) -> None:
        if len(data) < 16 or data.strip(b"\r\n") == b"":
            return  # keep-alive CRLFs (RFC 5626) and other noise
        try:
            message = SipMessage.parse(data)
        except (SipParseError, ValueError, IndexError) as exc:
            log.debug("dropped a malformed SIP message from %s:%d: %s", *source, exc)
            return
        if not message.is_request:
            self._on_response(message)
            return
        top = Via.parse(message.values("Via")[0])
        cached = self._responses.get((message.call_id, message.cseq[0], message.method, top.branch))
        if cached is not None and message.method != "ACK":
            self._send(cached.data, cached.destination)  # a retransmitted request
            return
        self._spawn(self._on_request(message, source))

    def _on_response(self, message: SipMessage) -> None:
        vias = message.values("Via")
        branch = Via.parse(vias[0]).branch if vias else ""
        future = self._waiting.get(branch)
        if future is None or future.done():
            return
        if message.status < 200:
            self._provisional.add(branch)
        else:
            future.set_result(message)

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
                    to_tag=_new_tag(),
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
        if call is None or call.state == "ended":
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
            await call.end(by="caller")
        elif request.method == "INFO":
            digit = dtmf_from_info(request.content_type, request.body)
            if digit is not None:
                call.line.inbound.put_nowait(Dtmf(digit))
            self.respond(request, source, 200, "OK")
        else:  # NOTIFY: progress of a transfer we asked for; acknowledging is enough
            self.respond(request, source, 200, "OK")

    def _on_ack(self, request: SipMessage) -> None:
        task = self._unacked.pop((request.call_id, request.cseq[0]), None)
        if task is not None:
            task.cancel()
        call = self._calls.get(request.call_id)
        if call is not None and request.cseq[0] >= call.invite_cseq:
            call.acked.set()
            if call.state == "answered":
                call.state = "confirmed"

    async def _on_cancel(self, request: SipMessage, source: Address) -> None:
        call = self._calls.get(request.call_id)
        branch = Via.parse(request.values("Via")[0]).branch
        if call is None or call.invite_cseq != request.cseq[0] or call.invite_branch != branch:
            self.respond(request, source, 481, "Call/Transaction Does Not Exist")
            return
        self.respond(request, source, 200, "OK")
        if call.state != "proceeding":
            return  # already answered: the CANCEL has no effect (RFC 3261 9.2)
        sent = self.respond(
            call.invite, call.source, 487, "Request Terminated", to_tag=call.local_tag
        )
        self._retransmit_until_ack(call.call_id, call.invite_cseq, sent)
        await call.end(by="caller")

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
            self._reject(
                invite, source, 420, "Bad Extension", [("Unsupported", ", ".join(unsupported))]
            )
            return
        media = self._negotiate(invite)
        if media is None:
            self._reject(invite, source, 488, "Not Acceptable Here")
            return
        call = SipCall(self, invite, source, media)
        self._calls[call.call_id] = call
        bound = await self._rtp.bind(self.host, call.line.datagram_protocol)
        if bound is None:
            log.warning("no free RTP port for call %s", call.call_id)
            self._calls.pop(call.call_id, None)
            self._reject(invite, source, 503, "Service Unavailable", tag=call.local_tag)
            return
        call.rtp_port = bound[1]
        if call.state == "ended":  # cancelled while we were binding
            bound[0].close()
            self._rtp.release(call.rtp_port)
            return
        if self.answer_delay > 0:
            self.respond(invite, source, 180, "Ringing", to_tag=call.local_tag)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call.ended.wait(), self.answer_delay)
            if call.state == "ended":
                return
        self._answer(call)

    @staticmethod
    def _negotiate(invite: SipMessage, keep: MediaAnswer | None = None) -> MediaAnswer | None:
        """Our answer to the INVITE's SDP offer; None when there is no acceptable one (an
        INVITE without SDP, asking us to offer first, is among those: see the module doc)."""
        if invite.content_type != "application/sdp":
            log.info("INVITE %s has no SDP offer", invite.call_id)
            return None
        try:
            offer = parse_offer(invite.body.decode("utf-8", errors="replace"))
        except SdpError as exc:
            log.info("INVITE %s has unreadable SDP: %s", invite.call_id, exc)
            return None
        media = negotiate(offer, keep=keep) if offer is not None else None
        if media is None:
            log.info("INVITE %s offers no G.711 over RTP/AVP", invite.call_id)
        return media

    def _reject(
        self,
        invite: SipMessage,
        source: Address,
        status: int,
        reason: str,
        headers: list[tuple[str, str]] | None = None,
        *,
        tag: str | None = None,
    ) -> None:
        sent = self.respond(
            invite, source, status, reason, to_tag=tag or _new_tag(), headers=headers
        )
        self._retransmit_until_ack(invite.call_id, invite.cseq[0], sent)

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
        call.state = "answered"
        self._retransmit_until_ack(call.call_id, call.invite_cseq, sent)
        call.line.start()
        task = asyncio.create_task(self._run_handler(call), name=f"call-{call.call_id}")
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)
        log.info("answered call %s from %s", call.call_id, call.line.caller)

    async def _run_handler(self, call: SipCall) -> None:
        try:
            await self.handler(call.line)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call handler failed on call %s; hanging it up", call.call_id)
        if call.state != "ended":
            await call.hangup(by="bot")

    async def _on_reinvite(self, invite: SipMessage, source: Address) -> None:
        call = self._dialog(invite)
        if call is None:
            self.respond(invite, source, 481, "Call/Transaction Does Not Exist")
            return
        if invite.body:  # without a body the caller wants our offer: the current SDP
            current = call.line.media
            media = self._negotiate(invite, keep=current)
            if media is None or (media.codec_pt, media.alaw) != (current.codec_pt, current.alaw):
                # Changing codec mid-call is not worth supporting: the same media or nothing.
                self._reject(invite, source, 488, "Not Acceptable Here", tag=call.local_tag)
                return
            call.line.update_media(media)
        contacts = invite.values("Contact")
        if contacts:
            call.remote_target = NameAddr.parse(contacts[0]).uri
        headers = [("Contact", call.contact), ("Allow", ALLOW)]
        sent = self.respond(invite, source, 200, "OK", headers=headers, body=call.sdp())
        self._retransmit_until_ack(call.call_id, invite.cseq[0], sent)
