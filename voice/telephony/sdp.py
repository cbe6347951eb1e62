"""SDP offer/answer for one audio stream (RFC 4566, RFC 3264), as far as a G.711 line needs:
answering a caller's offer, and offering G.711 for a call we place.

We answer with one voice codec — PCMU or PCMA at 8 kHz, whichever the caller offered first —
and RFC 4733 telephone-event on the caller's own payload type when offered. Everything else
in the offer (video, other codecs, ICE, SRTP) is ignored; an offer without G.711 audio on
plain RTP/AVP has no answer and the caller gets 488.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PCMU = 0
PCMA = 8
_STATIC_NAMES = {PCMU: "PCMU/8000", PCMA: "PCMA/8000"}
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_MIRROR = {"sendonly": "recvonly", "recvonly": "sendonly"}


class SdpError(ValueError):
    """The SDP could not be read at all (as opposed to: read, but nothing acceptable)."""


@dataclass
class MediaOffer:
    """The caller's first audio stream as its SDP describes it."""

    address: str = ""  # where the caller wants RTP (media-level c= over session-level)
    port: int = 0
    transport: str = ""
    payload_types: tuple[int, ...] = ()
    rtpmap: dict[int, str] = field(default_factory=dict)  # pt -> "name/clock[/channels]"
    ptime_ms: int | None = None
    direction: str = "sendrecv"

    def codec_name(self, pt: int) -> str:
        """Upper-case encoding name and clock of ``pt``, e.g. ``PCMU/8000``."""
        if pt in self.rtpmap:
            name, _, rest = self.rtpmap[pt].partition("/")
            return f"{name.strip().upper()}/{rest.split('/')[0].strip()}"
        return _STATIC_NAMES.get(pt, "")


@dataclass(frozen=True)
class MediaAnswer:
    codec_pt: int  # the caller's payload type for PCMU or PCMA
    alaw: bool  # True for PCMA, False for PCMU
    dtmf_pt: int | None  # the caller's telephone-event payload type, if offered
    remote_address: str
    remote_port: int
    direction: str = "sendrecv"  # ours: the mirror of the caller's

    @property
    def codec_name(self) -> str:
        return "PCMA/8000" if self.alaw else "PCMU/8000"


def parse_offer(body: str) -> MediaOffer | None:
    """The first audio stream of ``body``; None when the SDP has no audio stream."""
    session_address = ""
    offer: MediaOffer | None = None
    in_media = False  # past the first m= line: c= lines belong to a stream, not the session
    for raw in body.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:].strip()
        if kind == "m":
            if offer is not None:
                break  # only the first audio stream is ours
            offer = _media_line(value)
            in_media = True
        elif kind == "c":
            if offer is not None:
                offer.address = _connection_address(value)
            elif not in_media:
                session_address = _connection_address(value)
        elif kind == "a" and offer is not None:
            _media_attribute(offer, value)
    if offer is None:
        return None
    offer.address = offer.address or session_address
    if not offer.address:
        raise SdpError("no c= connection address")
    return offer


def _media_line(value: str) -> MediaOffer | None:
    parts = value.split()
    if len(parts) < 4 or parts[0] != "audio":
        return None
    try:
        port = int(parts[1].split("/")[0])
        pts = tuple(int(p) for p in parts[3:])
    except ValueError as exc:
        raise SdpError(f"bad m= line: {value!r}") from exc
    if not 0 <= port <= 65535:  # our RTP could not go there (asyncio closes the socket)
        raise SdpError(f"bad m= port: {port}")
    return MediaOffer(port=port, transport=parts[2], payload_types=pts)


def _connection_address(value: str) -> str:
    parts = value.split()
    if len(parts) < 3 or parts[0] != "IN":
        raise SdpError(f"bad c= line: {value!r}")
    return parts[2].split("/")[0]  # a multicast TTL suffix is not part of the address


def _media_attribute(offer: MediaOffer, value: str) -> None:
    name, _, rest = value.partition(":")
    if name == "rtpmap":
        pt, _, encoding = rest.strip().partition(" ")
        if pt.isdigit():
            offer.rtpmap[int(pt)] = encoding.strip()
    elif name == "ptime" and rest.strip().isdigit():
        offer.ptime_ms = int(rest.strip())
    elif name in _DIRECTIONS:
        offer.direction = name


def negotiate(offer: MediaOffer, *, keep: MediaAnswer | None = None) -> MediaAnswer | None:
    """Pick our codec and DTMF payload type; None when the offer has no usable G.711.

    ``keep`` is the media already agreed (a re-INVITE): its codec stays if still offered."""
    if offer.transport.upper() != "RTP/AVP":
        return None  # SAVP/DTLS needs SRTP, which we do not do; plain RTP would be wrong
    voice = [pt for pt in offer.payload_types if offer.codec_name(pt) in _STATIC_NAMES.values()]
    if not voice:
        return None
    if keep is not None and keep.codec_pt in voice:
        voice.insert(0, keep.codec_pt)
    dtmf = next(
        (pt for pt in offer.payload_types if offer.codec_name(pt) == "TELEPHONE-EVENT/8000"),
        None,
    )
    return MediaAnswer(
        codec_pt=voice[0],
        alaw=offer.codec_name(voice[0]) == "PCMA/8000",
        dtmf_pt=dtmf,
        remote_address=offer.address,
        remote_port=offer.port,
        direction=_MIRROR.get(offer.direction, offer.direction),
    )


def _session(
    *,
    address: str,
    port: int,
    session_id: int,
    version: int,
    codecs: list[tuple[int, str]],
    dtmf_pt: int | None,
    direction: str,
) -> str:
    """One audio stream over RTP/AVP: ``codecs`` as (payload type, rtpmap name), then
    telephone-event for keys when ``dtmf_pt`` is set."""
    pts = [pt for pt, _name in codecs] + ([dtmf_pt] if dtmf_pt is not None else [])
    lines = [
        "v=0",
        f"o=liangwang {session_id} {version} IN IP4 {address}",
        "s=liangwang",
        f"c=IN IP4 {address}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {' '.join(str(pt) for pt in pts)}",
        *(f"a=rtpmap:{pt} {name}" for pt, name in codecs),
    ]
    if dtmf_pt is not None:
        lines += [f"a=rtpmap:{dtmf_pt} telephone-event/8000", f"a=fmtp:{dtmf_pt} 0-16"]
    lines += ["a=ptime:20", f"a={direction}"]
    return "\r\n".join(lines) + "\r\n"


def build_answer(
    answer: MediaAnswer, *, address: str, port: int, session_id: int, version: int
) -> str:
    """Our SDP answer: one audio stream with the chosen codec (and telephone-event)."""
    return _session(
        address=address,
        port=port,
        session_id=session_id,
        version=version,
        codecs=[(answer.codec_pt, answer.codec_name)],
        dtmf_pt=answer.dtmf_pt,
        direction=answer.direction,
    )


TELEPHONE_EVENT_PT = 101  # the payload type we offer for RFC 4733 keys


def build_offer(*, address: str, port: int, session_id: int, version: int = 1) -> str:
    """Our SDP offer for a call we place: PCMU, then PCMA, and telephone-event (keys)."""
    return _session(
        address=address,
        port=port,
        session_id=session_id,
        version=version,
        codecs=[(PCMU, "PCMU/8000"), (PCMA, "PCMA/8000")],
        dtmf_pt=TELEPHONE_EVENT_PT,
        direction="sendrecv",
    )
