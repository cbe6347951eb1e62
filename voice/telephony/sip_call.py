"""One SIP call: the dialog (a call we answered, or one we placed: ``DialogIds``), the
state of its INVITE transaction, and ``SipLine``, the handler's view of it.

A call asks the server that answered it for what it cannot do alone (sending requests and
responses, background tasks, releasing its RTP port) through ``CallServer``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from voice.line import Hangup, HangupBy
from voice.telephony.message import SIP_PORT, NameAddr, SipMessage, SipUri, Via, uri_host
from voice.telephony.rtp import RtpLine
from voice.telephony.sdp import MediaAnswer, SdpError, build_answer, negotiate, parse_offer
from voice.telephony.transactions import TIMEOUT_T1, Address

log = logging.getLogger(__name__)


class CallState(StrEnum):
    """Where a call is: proceeding → answered → confirmed → ending → ended."""

    proceeding = "proceeding"  # INVITE received, not answered yet (maybe ringing)
    answered = "answered"  # 200 OK sent, its ACK not yet received
    confirmed = "confirmed"  # ACK received: the dialog is established
    ending = "ending"  # our BYE is on its way
    ended = "ended"


def new_tag() -> str:
    return secrets.token_hex(6)


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def media_for(message: SipMessage, keep: MediaAnswer | None = None) -> MediaAnswer | None:
    """The media agreed from ``message``'s SDP: our answer to a caller's offer, or what the
    answer to our offer chose. None when there is nothing acceptable — also for an INVITE
    without SDP, which asks us to offer first (not supported). ``keep``: see ``negotiate``."""
    if message.content_type != "application/sdp":
        log.info("%s of %s has no SDP", message.method, message.call_id)
        return None
    try:
        offer = parse_offer(message.body.decode("utf-8", errors="replace"))
    except SdpError as exc:
        log.info("%s of %s has unreadable SDP: %s", message.method, message.call_id, exc)
        return None
    media = negotiate(offer, keep=keep) if offer is not None else None
    if media is None:
        log.info("%s of %s offers no G.711 over RTP/AVP", message.method, message.call_id)
    return media


class CallServer(Protocol):
    """What a call needs from the SIP server that answered it."""

    @property
    def port(self) -> int:
        """Our SIP port, for the Contact header."""
        ...

    @property
    def t1(self) -> float:
        """RFC 3261 T1, from which the call's waits derive."""
        ...

    async def send_request(
        self,
        call: SipCall,
        method: str,
        headers: list[tuple[str, str]] | None = None,
        *,
        timeout: float | None = None,
    ) -> SipMessage | None:
        """Send an in-dialog request; its final response, or None."""
        ...

    def refuse(self, call: SipCall, status: int, reason: str) -> None:
        """Answer the call's INVITE with a final error response (it is still ringing)."""
        ...

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run ``coroutine`` as a task the server keeps (and cancels when it stops)."""
        ...

    def release(self, call: SipCall) -> None:
        """Forget an ended call and free its RTP port."""
        ...


class SipLine(RtpLine):
    """The handler's view of one SIP call: RTP audio plus SIP hangup and transfer."""

    kind = "sip"

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
            signalling_hosts=frozenset({call.source[0]}),
        )
        self._call = call

    async def hangup(self) -> None:
        await self._call.hangup(by=HangupBy.bot)

    async def transfer(self, target: str) -> bool:
        return await self._call.transfer(target)


@dataclass(frozen=True)
class DialogIds:
    """Who is who in a dialog, seen from our side (RFC 3261 12.1): tags, the header values
    for our in-dialog requests, where they go, and the users at either end."""

    local_tag: str
    remote_tag: str
    local_header: str  # our From in requests we send, with our tag
    remote_header: str  # their To in requests we send, with their tag
    remote_target: str  # their Contact: the Request-URI of our in-dialog requests
    route_set: tuple[str, ...]
    local_user: str  # our user part, for Contact and Referred-By
    remote_user: str  # theirs: the number the line is with (or a bare host)

    @classmethod
    def answering(cls, invite: SipMessage) -> DialogIds:
        """We are the UAS: the dialog the INVITE we answer creates."""
        local_tag = new_tag()
        remote_header = invite.header("From") or ""
        remote_uri = NameAddr.parse(remote_header).uri
        contacts = invite.values("Contact")
        caller = SipUri.parse(remote_uri)
        return cls(
            local_tag=local_tag,
            remote_tag=NameAddr.parse(remote_header).tag or "",
            local_header=f"{invite.header('To')};tag={local_tag}",
            remote_header=remote_header,
            remote_target=NameAddr.parse(contacts[0]).uri if contacts else remote_uri,
            route_set=tuple(invite.values("Record-Route")),
            local_user=SipUri.parse(invite.uri).user,
            remote_user=caller.user or caller.host,
        )

    @classmethod
    def calling(cls, invite: SipMessage, answer: SipMessage) -> DialogIds:
        """We are the UAC: the dialog our INVITE and its 2xx ``answer`` create."""
        local_header = invite.header("From") or ""
        remote_header = answer.header("To") or ""
        contacts = answer.values("Contact")
        callee = SipUri.parse(invite.uri)
        return cls(
            local_tag=NameAddr.parse(local_header).tag or "",
            remote_tag=NameAddr.parse(remote_header).tag or "",
            local_header=local_header,
            remote_header=remote_header,
            remote_target=NameAddr.parse(contacts[0]).uri if contacts else invite.uri,
            route_set=tuple(reversed(answer.values("Record-Route"))),  # RFC 3261 12.1.2
            local_user=SipUri.parse(NameAddr.parse(local_header).uri).user,
            remote_user=callee.user or callee.host,
        )


class SipCall:
    """One dialog and the state of its INVITE transaction: a call we answered, or (with
    ``dialog=DialogIds.calling(...)``) one we placed and that was answered.

    ``local_host`` is our address as the other end sees it; ``media_timeout`` hangs the call
    up when its RTP stopped that many seconds ago (None: never)."""

    def __init__(
        self,
        server: CallServer,
        invite: SipMessage,
        source: Address,
        media: MediaAnswer,
        *,
        local_host: str,
        media_timeout: float | None,
        dialog: DialogIds | None = None,
    ) -> None:
        dialog = dialog or DialogIds.answering(invite)
        self._server = server
        self.invite = invite
        self.call_id = invite.call_id
        self.invite_cseq = invite.cseq[0]
        self.invite_branch = Via.parse(invite.values("Via")[0]).branch
        self.source = source
        self.dialog = dialog
        self.local_tag = dialog.local_tag
        self.remote_tag = dialog.remote_tag
        self.local_header = dialog.local_header
        self.remote_header = dialog.remote_header
        self.route_set = list(dialog.route_set)
        self.remote_target = dialog.remote_target
        self.local_host = local_host
        self.rtp_port = 0
        self.cseq = secrets.randbelow(10_000) + 1
        self.state = CallState.proceeding
        self.acked = asyncio.Event()
        self.ended = asyncio.Event()
        self.answer_sdp = ""
        self.sdp_version = 1
        self.session_id = secrets.randbelow(2**31)
        self.line = SipLine(
            self,
            caller=dialog.remote_user,
            media=media,
            media_timeout=media_timeout,
            on_media_timeout=self._media_timed_out,
        )

    def _remote_uri(self) -> str:
        return NameAddr.parse(self.remote_header).uri

    @property
    def contact(self) -> str:
        user = self.dialog.local_user
        at = f"{user}@" if user else ""
        return f"<sip:{at}{uri_host(self.local_host)}:{self._server.port}>"

    def destination(self) -> Address:
        """Where in-dialog requests go: the first route, else the remote target — unless
        the caller's INVITE came through NAT, in which case back where it came from."""
        if self.route_set:
            uri = SipUri.parse(NameAddr.parse(self.route_set[0]).uri)
            if is_ip(uri.host):
                return uri.host, uri.port or SIP_PORT
            return self.source
        target = SipUri.parse(self.remote_target)
        top_via = Via.parse(self.invite.values("Via")[0])
        maybe_nat = top_via.host != self.source[0] or "rport" in top_via.params
        if is_ip(target.host) and (target.host == self.source[0] or not maybe_nat):
            return target.host, target.port or SIP_PORT
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

    def confirm(self) -> None:
        """The ACK for our answer came: the dialog is established."""
        self.acked.set()
        if self.state is CallState.answered:
            self.state = CallState.confirmed

    async def end(self, by: HangupBy) -> None:
        """Release everything; the handler sees ``Hangup(by)`` on its inbound queue."""
        if self.state is CallState.ended:
            return
        answered = self.state is not CallState.proceeding
        self.state = CallState.ended
        self.ended.set()
        if answered:
            self.line.inbound.put_nowait(Hangup(by=by))
        await self.line.close()
        self._server.release(self)
        log.info("call %s from %s ended by %s", self.call_id, self.line.caller, by)

    async def hangup(self, by: HangupBy = HangupBy.bot, *, wait_s: float | None = None) -> None:
        """Send BYE and wait (bounded) for its response, then end the call."""
        if self.state in (CallState.ending, CallState.ended):
            await self.ended.wait()
            return
        if self.state is CallState.proceeding:  # ringing (answer_delay): refuse instead
            self._server.refuse(self, 480, "Temporarily Unavailable")
            await self.end(by)
            return
        self.state = CallState.ending
        self.line.stop_playback()
        timeout = self._server.t1 * TIMEOUT_T1 if wait_s is None else wait_s
        # RFC 3261 15: no BYE before the 2xx is ACKed (or its retransmissions gave up).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._acked_or_ended(), timeout)
        if self.state is not CallState.ended:
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
        if self.state not in (CallState.answered, CallState.confirmed):
            return False
        if ":" not in target:
            host = SipUri.parse(self._remote_uri()).host or self.source[0]
            target = f"sip:{target}@{uri_host(host)}"
        referred_by = f"<sip:{self.dialog.local_user or 'bot'}@{self.local_host}>"
        response = await self._server.send_request(
            self, "REFER", [("Refer-To", f"<{target}>"), ("Referred-By", referred_by)]
        )
        accepted = response is not None and response.status == 202
        outcome = response.start_line if response is not None else "no answer"
        log.info("transfer of %s to %s: %s", self.call_id, target, outcome)
        return accepted

    def _media_timed_out(self) -> None:
        self._server.spawn(self.hangup(by=HangupBy.timeout))
