"""An append-only, fsynced journal of accepted events: the durable record behind every 202.

Records are `length (u32) | crc32 (u32) | payload` in numbered segment files. A position is
(segment, offset) just past a record. The loader stores the position it has loaded through in the
same DuckDB transaction as the rows, so a replay after a crash loads each record exactly once.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HEADER = struct.Struct("<II")
_NAME = re.compile(r"^(\d{10})\.log$")
MAX_RECORD = 1 << 24


SET_ASIDE = "set-aside"  # the journal folder's subfolder for bytes taken out of it, never deleted


class Position(NamedTuple):
    segment: int
    offset: int


class Scan(NamedTuple):
    """What one segment holds from a record boundary on (scan())."""

    records: list[tuple[int, int]]  # (start, end) of each intact record, header included
    lost: int  # damaged records, the torn tail not counted (a broken framing counts as one)
    unreadable: int  # bytes in damaged records
    tail: int  # where an incomplete last record starts: the torn tail of an append cut short; else the end


def _intact(data: bytes, offset: int) -> int:
    """The end of the intact record at `offset`, or -1."""
    if len(data) - offset < HEADER.size:
        return -1
    length, crc = HEADER.unpack_from(data, offset)
    end: int = offset + HEADER.size + length
    if length > MAX_RECORD or end > len(data) or zlib.crc32(data[offset + HEADER.size : end]) != crc:
        return -1
    return end


def scan(data: bytes, start: int = 0) -> Scan:
    """The intact records of one segment from `start` (a record boundary), read around damaged ones.

    A flipped byte in a payload or a checksum fails that record's check only: its length still leads to the
    next intact record (or the end), so the others are kept. A flipped length breaks the framing: the rest of
    the segment counts as one record lost. A record that runs past the end is the torn tail.
    """
    records: list[tuple[int, int]] = []
    lost = unreadable = 0
    offset = start
    while offset < len(data):
        end = _intact(data, offset)
        if end >= 0:
            records.append((offset, end))
            offset = end
            continue
        if len(data) - offset < HEADER.size:
            return Scan(records, lost, unreadable, offset)
        length, _ = HEADER.unpack_from(data, offset)
        skip = offset + HEADER.size + length
        if skip > len(data):
            return Scan(records, lost, unreadable, offset)
        if length <= MAX_RECORD and (skip == len(data) or _intact(data, skip) >= 0):
            lost, unreadable, offset = lost + 1, unreadable + skip - offset, skip
            continue
        return Scan(records, lost + 1, unreadable + len(data) - offset, len(data))
    return Scan(records, lost, unreadable, len(data))


class Journal:
    def __init__(self, folder: Path, segment_bytes: int = 64 << 20) -> None:
        self.folder = folder
        self.segment_bytes = segment_bytes
        folder.mkdir(parents=True, exist_ok=True)
        self._fd = -1
        self.reopen()

    def reopen(self) -> None:
        """Find the last segment and its end afresh: another process may have appended since."""
        if self._fd >= 0:
            os.close(self._fd)
        segments = self.segments()
        self._segment = segments[-1] if segments else 1
        self._fd = self._open(self._segment)
        self._offset = os.lseek(self._fd, 0, os.SEEK_END)
        self._rotated_from: Position | None = None

    def segments(self) -> list[int]:
        return sorted(int(m.group(1)) for p in self.folder.iterdir() if (m := _NAME.match(p.name)))

    def path_of(self, segment: int) -> Path:
        return self.folder / f"{segment:010d}.log"

    def _open(self, segment: int) -> int:
        fd = os.open(self.path_of(segment), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new file's directory entry must survive a crash too
        finally:
            os.close(dir_fd)
        return fd

    @property
    def end(self) -> Position:
        """Just past the last record. A fresh, empty segment does not move it: nothing new to load there."""
        if self._offset == 0 and self._rotated_from is not None:
            return self._rotated_from
        return Position(self._segment, self._offset)

    def rotate(self) -> Position:
        """Start a new segment; return where the old one ends."""
        old = self.end
        os.close(self._fd)
        self._segment += 1
        self._fd = self._open(self._segment)
        self._offset = 0
        self._rotated_from = old
        return old

    def append(self, payloads: list[bytes]) -> Position:
        """Write the records and fdatasync them; only then are they acknowledged."""
        if self._offset >= self.segment_bytes:
            self.rotate()
        if payloads:
            data = b"".join(HEADER.pack(len(p), zlib.crc32(p)) + p for p in payloads)
            written = os.write(self._fd, data)
            while written < len(data):
                written += os.write(self._fd, data[written:])
            self._offset += len(data)
        os.fdatasync(self._fd)
        return self.end

    def read_from(self, start: Position) -> Iterator[tuple[Position, bytes]]:
        """Every intact record after `start`, with the position just past it."""
        for segment in self.segments():
            if segment < start.segment:
                continue
            offset = start.offset if segment == start.segment else 0
            with self.path_of(segment).open("rb") as f:
                f.seek(offset)
                while True:
                    header = f.read(HEADER.size)
                    if len(header) < HEADER.size:
                        break
                    length, crc = HEADER.unpack(header)
                    payload = f.read(length) if length <= MAX_RECORD else b""
                    if len(payload) != length or zlib.crc32(payload) != crc:
                        break
                    offset += HEADER.size + length
                    yield Position(segment, offset), payload

    def truncate_torn_tail(self) -> int:
        """Cut a partly written last record (a crash during write, never acknowledged); return bytes cut.

        Only the incomplete record at the end goes, never a damaged one before it (collector.durable.salvage
        deals with those). The cut bytes are kept in set-aside/ all the same."""
        path = self.path_of(self._segment)
        data = path.read_bytes()  # the file as it is, whoever appended last
        tail = scan(data).tail
        cut = len(data) - tail
        if cut:
            aside = self.folder / SET_ASIDE
            aside.mkdir(exist_ok=True)
            (aside / f"{self._segment:010d}.{tail}.tail").write_bytes(data[tail:])
            os.ftruncate(self._fd, tail)
            os.fsync(self._fd)
        self._offset = tail
        return cut

    def drop_before(self, position: Position) -> None:
        """Delete segments wholly loaded into the database (never the one being written: it is at or after
        `position`, which may come from the journal process's own handle)."""
        for segment in self.segments():
            if segment < position.segment:
                self.path_of(segment).unlink(missing_ok=True)

    def drop_older(self) -> None:
        """Delete every segment but the current one (once everything in them is loaded)."""
        self.drop_before(Position(self._segment, 0))

    def close(self) -> None:
        os.close(self._fd)
        self._fd = -1


class Sealer:
    """AES-GCM for journal records, keyed from the database key: the journal is encrypted at rest too."""

    def __init__(self, database_key: str | None) -> None:
        self.key = hashlib.sha256(b"journal\n" + database_key.encode()).digest() if database_key else None
        self.aead = AESGCM(self.key) if self.key else None

    @classmethod
    def from_key(cls, key: bytes | None) -> Sealer:
        """A sealer from the derived key (the journal process gets that, never the database key itself)."""
        sealer = cls(None)
        sealer.key, sealer.aead = key, AESGCM(key) if key else None
        return sealer

    def seal(self, data: bytes) -> bytes:
        if self.aead is None:
            return data
        nonce = os.urandom(12)
        return nonce + self.aead.encrypt(nonce, data, None)

    def open(self, data: bytes) -> bytes:
        if self.aead is None:
            return data
        return self.aead.decrypt(data[:12], data[12:], None)
