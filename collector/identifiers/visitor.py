"""Visitor hashes: 64-bit keyed hashes, never reversible without a key that is not stored beside them."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable

# The snippet's consented (first-party) id, as ingest accepts it.
CONSENTED_ID = re.compile(r"^[A-Za-z0-9_\-]{8,128}$")


def daily_visitor(salt: bytes, site: str, ip: str, user_agent: str) -> int:
    """Cookieless visitor: keyed by the day's salt, which is destroyed after its day."""
    digest = hashlib.blake2b(f"{site}\n{ip}\n{user_agent}".encode(), key=salt, digest_size=8).digest()
    return int.from_bytes(digest, "big")


def consented_visitor(pepper: bytes, site: str, raw_id: str) -> int:
    """Consented visitor: HMAC-SHA256 with the pepper over (site, id), truncated to 64 bits."""
    digest = hmac.new(pepper, f"{site}\n{raw_id}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


def consented_hasher(pepper: bytes) -> Callable[[str, str], int]:
    """consented_visitor(pepper, ...) with the key schedule done once: about 4x faster per id."""
    keyed = hmac.new(pepper, digestmod=hashlib.sha256)

    def hash_visitor(site: str, raw_id: str) -> int:
        h = keyed.copy()
        h.update(f"{site}\n{raw_id}".encode())
        return int.from_bytes(h.digest()[:8], "big")

    return hash_visitor


def consented_id_visitor(hash_visitor: Callable[[str, str], int], site: str, raw_id: object) -> int | None:
    """The consented visitor hash of a raw id a caller sent (hash_visitor: consented_hasher's), or None
    when the value is not a consented id; callers refuse it in their own words."""
    if not isinstance(raw_id, str) or not CONSENTED_ID.match(raw_id):
        return None
    return hash_visitor(site, raw_id)
