"""journal.scan(): the intact records of a segment, read around damaged ones; a torn tail told from damage."""

from __future__ import annotations

import struct
import zlib

from collector.durable.journal import Scan
from collector.durable.journal import scan as scan_spans


def framed(payload: bytes) -> bytes:
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


def scan(data: bytes, start: int = 0) -> Scan:
    """scan(), with the intact records as their bytes."""
    found = scan_spans(data, start)
    return found._replace(records=[data[a:b] for a, b in found.records])


RECORDS = [framed(f"record {i}".encode() * 3) for i in range(5)]
SEGMENT = b"".join(RECORDS)
THIRD = sum(map(len, RECORDS[:2]))  # where the third record starts


def flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1 :]


def test_an_intact_segment_has_every_record_and_no_loss() -> None:
    assert scan(SEGMENT) == (RECORDS, 0, 0, len(SEGMENT))


def test_a_flipped_payload_byte_loses_that_record_only() -> None:
    found = scan(flipped(SEGMENT, THIRD + 12))
    assert found.records == RECORDS[:2] + RECORDS[3:]
    assert (found.lost, found.unreadable, found.tail) == (1, len(RECORDS[2]), len(SEGMENT))


def test_a_flipped_checksum_byte_loses_that_record_only() -> None:
    assert scan(flipped(SEGMENT, THIRD + 5)).records == RECORDS[:2] + RECORDS[3:]


def test_damage_in_the_last_record_of_a_segment_loses_it_only() -> None:
    found = scan(flipped(SEGMENT, len(SEGMENT) - 1))
    assert (found.records, found.lost, found.tail) == (RECORDS[:4], 1, len(SEGMENT))


def test_a_flipped_length_byte_breaks_the_framing_for_the_rest_of_the_segment() -> None:
    found = scan(flipped(SEGMENT, THIRD))
    assert found.records == RECORDS[:2]
    assert (found.lost, found.unreadable, found.tail) == (1, len(SEGMENT) - THIRD, len(SEGMENT))


def test_an_incomplete_last_record_is_a_torn_tail_not_a_loss() -> None:
    found = scan(SEGMENT + RECORDS[0][:9])
    assert (found.records, found.lost, found.tail) == (RECORDS, 0, len(SEGMENT))
    assert scan(SEGMENT + b"\x01\x00").tail == len(SEGMENT), "even a cut header"


def test_a_torn_tail_after_a_damaged_record_is_told_apart() -> None:
    found = scan(flipped(SEGMENT, THIRD + 12) + RECORDS[0][:9])
    assert (found.records, found.lost, found.tail) == (RECORDS[:2] + RECORDS[3:], 1, len(SEGMENT))


def test_scanning_starts_at_the_given_record_boundary() -> None:
    assert scan(SEGMENT, THIRD).records == RECORDS[2:]
