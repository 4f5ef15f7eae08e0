"""The client's address: the TCP peer, or what a trusted proxy says it forwarded for.

Behind an ingress every connection comes from the proxy, so per-address throttles would
count everyone together; in front of none, a client could name any address in a header.
So the forwarding header is read only when the peer is a configured trusted proxy
(``GATEWAY_TRUSTED_PROXIES``, default none), and then from the right: the rightmost hop
that is not itself a trusted proxy is the client. Hops to its left were written by the
client and are never believed. Only the header the proxy writes is read (a client can send
the other one through untouched).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from fastapi import Request
from starlette.datastructures import Headers

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated CIDRs (``10.0.0.0/8, ::1/128``); ``ValueError`` on anything else."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False)
                 for part in text.split(",") if part.strip())


def _address(hop: str) -> Address | None:
    """An IP address from a header hop: ``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``, ``"[::1]"``."""
    hop = hop.strip().strip('"')
    if hop.startswith("["):
        hop = hop[1:hop.find("]")] if "]" in hop else ""
    elif hop.count(":") == 1:
        hop = hop.split(":")[0]
    try:
        found = ipaddress.ip_address(hop)
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def _hops(headers: Headers, header: str) -> list[str]:
    """The forwarded-for hops, leftmost (farthest) first, over every copy of the header."""
    hops: list[str] = []
    for value in headers.getlist(header):
        for element in value.split(","):
            if header == "forwarded":
                fors = [p.split("=", 1)[1] for p in element.split(";")
                        if p.strip().lower().startswith("for=")]
                hops.append(fors[0] if fors else "")
            else:
                hops.append(element)
    return hops


def forwarded_client(peer: str, headers: Headers, trusted: Sequence[Network],
                     header: str = "x-forwarded-for") -> str:
    """The client's address as the last trusted proxy saw it.

    Args:
        peer: The TCP peer's address.
        headers: The request's headers.
        trusted: Networks of the proxies in front of the gateway (empty: believe no header).
        header: ``x-forwarded-for`` or ``forwarded`` (RFC 7239), whichever the proxy writes.
    """
    seen = _address(peer)
    if seen is None or not any(seen in net for net in trusted):
        return peer
    for hop in reversed(_hops(headers, header.lower())):
        found = _address(hop)
        if found is None:  # garbage where a proxy wrote: count at the last proxy we trust
            break
        seen = found
        if not any(found in net for net in trusted):
            break
    return str(seen)


def client_address(request: Request) -> str:
    """The client's address for throttles (``app.state.trusted_proxies``, if set)."""
    peer = request.client.host if request.client else ""
    trusted: Sequence[Network] = getattr(request.app.state, "trusted_proxies", ())
    header: str = getattr(request.app.state, "forwarded_header", "x-forwarded-for")
    return forwarded_client(peer, request.headers, trusted, header)
