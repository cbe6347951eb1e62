"""Addresses on the SIP side: which peers may speak SIP to us, and which of our own
addresses a peer reaches."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

Network = IPv4Network | IPv6Network
LOOPBACK: tuple[Network, ...] = (ip_network("127.0.0.0/8"), ip_network("::1/128"))


def admitted(host: str, networks: Iterable[Network]) -> bool:
    """Whether ``host`` (an address as a datagram's source gives it) is in ``networks``."""
    try:
        address = ip_address(host.split("%", 1)[0])  # an IPv6 zone id is not the address
    except ValueError:
        return False
    return any(address in network for network in networks)


def our_address_for(remote_ip: str, bound: str, public: str | None) -> str:
    """Our address as the peer at ``remote_ip`` should see it: the configured public one,
    the one we are bound to, or (bound to every interface) the one the kernel's route to
    the peer leaves from; a UDP connect() sends nothing."""
    if public:
        return public
    if bound not in ("0.0.0.0", "::", ""):
        return bound
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((remote_ip, 9))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"
