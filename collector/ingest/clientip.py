"""The client address: the peer's, unless the peer is a configured proxy that forwarded the request."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_FOR = re.compile(r'(?:^|;)\s*for\s*=\s*("[^"]*"|[^;,\s]*)', re.I)


def parse_proxies(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def _trusted(address: str, proxies: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def forwarded_hops(forwarded: str) -> list[str]:
    """The `for=` node of each element of an RFC 7239 Forwarded header, ports and brackets removed."""
    hops = []
    for element in forwarded.split(","):
        match = _FOR.search(element)
        if not match:
            continue
        node = match.group(1).strip('"')
        if node.startswith("["):
            node = node[1 : node.find("]")] if "]" in node else node[1:]
        elif node.count(":") == 1:
            node = node.split(":", 1)[0]
        if node:
            hops.append(node)
    return hops


def client_ip(
    peer: str | None,
    forwarded_for: str | None,
    proxies: tuple[IPNetwork, ...],
    forwarded: str | None = None,
) -> str:
    """Walk the forwarding chain from the right, skipping trusted proxies; never trust it from anyone else.

    The standard Forwarded header wins over X-Forwarded-For when a trusted proxy sends both.
    """
    address = peer or ""
    if not proxies or not (forwarded_for or forwarded) or not _trusted(address, proxies):
        return address
    if forwarded:
        hops = forwarded_hops(forwarded)
    else:
        hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    for hop in reversed(hops):
        address = hop
        if not _trusted(hop, proxies):
            break
    return address
