"""Visitor hashes: the segments API's consented hasher gives the hash ingest stores."""

from __future__ import annotations

from collector.identifiers.visitor import consented_hasher, consented_visitor
from tests.conftest import SITE


def test_the_api_hashes_ids_as_ingest_does() -> None:
    pepper = b"p" * 32
    hash_visitor = consented_hasher(pepper)
    for raw in ("visitor-0001", "x" * 128, "Ünïcode-id"):
        assert hash_visitor(SITE, raw) == consented_visitor(pepper, SITE, raw)
