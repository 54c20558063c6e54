from __future__ import annotations

import pytest

from collector.ingest.clientip import client_ip, forwarded_hops, parse_proxies

PROXIES = parse_proxies(["10.0.0.0/8", "fd00::/8"])


def test_forwarding_headers_from_an_untrusted_peer_are_ignored() -> None:
    assert client_ip("203.0.113.9", "198.51.100.1", PROXIES) == "203.0.113.9"
    assert client_ip("203.0.113.9", None, PROXIES, "for=198.51.100.1") == "203.0.113.9"
    assert client_ip("10.0.0.2", "198.51.100.1", ()) == "10.0.0.2"


def test_x_forwarded_for_is_walked_from_the_right_past_trusted_proxies() -> None:
    assert client_ip("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.7", PROXIES) == "198.51.100.1"


@pytest.mark.parametrize(
    ("header", "hops"),
    [
        ("for=192.0.2.60;proto=http;by=203.0.113.43", ["192.0.2.60"]),
        ('For="[2001:db8:cafe::17]:4711"', ["2001:db8:cafe::17"]),
        ('for="192.0.2.43:8080", for=198.51.100.17', ["192.0.2.43", "198.51.100.17"]),
        ("proto=https;for=192.0.2.1", ["192.0.2.1"]),
        ("for=_hidden, for=unknown", ["_hidden", "unknown"]),
        ("by=10.0.0.1", []),
    ],
)
def test_forwarded_header_elements_give_their_for_nodes(header: str, hops: list[str]) -> None:
    assert forwarded_hops(header) == hops


def test_forwarded_from_a_trusted_proxy_wins_over_x_forwarded_for() -> None:
    forwarded = 'for=6.6.6.6, for="[2001:db8::1]:443", for=10.0.0.9'
    assert client_ip("10.0.0.2", "198.51.100.1", PROXIES, forwarded) == "2001:db8::1"
    assert client_ip("fd00::1", None, PROXIES, "for=10.1.1.1") == "10.1.1.1"
