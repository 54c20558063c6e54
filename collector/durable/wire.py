"""The protocol between the server and its journal process: frames, their kinds, and what they carry.

A frame is `kind (u8) | seq (u64) | segment (u32) | offset (u64) | micros (u32) | length (u32)` and
`length` bytes of payload. The server sends CONFIG once, then REQUESTS, UPDATE, SHIP, ROTATE and
STOP; the process answers READY once, then DONE, FAILED, ROTATED and ROWS. The two ends are
processes of the same program on the server's own socket pair, so pickle is safe for payloads.

What runs on each frame of requests is the server's to say (dependency inversion): the config
carries a picklable HandlerSpec, which the journal process opens into a Handler.
"""

from __future__ import annotations

import pickle
import struct
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from collector.durable.counts import Report
from collector.durable.journal import Position
from collector.storage.rows import Row

HEADER = struct.Struct("<BQIQII")
NOWHERE = Position(0, 0)
LOCK_WAIT_SECONDS = 30.0
# How long a row may wait in the journal process for its batch (shipping.py).
SHIP_SECONDS = 0.1


class Kind(IntEnum):
    """What a frame is; values below 10 go to the journal process, the others come back."""

    CONFIG = 1
    """The JournalConfig, pickled: always the first frame."""
    ROTATE = 3
    """Start a new journal segment after everything sent so far."""
    STOP = 4
    """Append what came before, ship every row, exit."""
    REQUESTS = 5
    """A pickled list of RawRequest for the handler: its kept rows are journaled, DONE carries its Answers."""
    UPDATE = 6
    """A payload for the handler outside any request (the server's salts after they changed)."""
    SHIP = 7
    """Ship the rows held now rather than when due."""
    DONE = 11
    """Every frame up to `seq` is durable; the journal ends at segment/offset; micros is the fdatasync's."""
    FAILED = 12
    """The frames up to `seq` are not durable (or the rotation `seq` failed); the payload says why."""
    ROTATED = 13
    """The rotation `seq` is done: the old segment ended at segment/offset."""
    READY = 14
    """The process holds the journal; sent once."""
    ROWS = 15
    """An Arrow batch of the `seq` rows appended since the previous ROWS, ending at segment/offset."""


class Frame(NamedTuple):
    kind: int
    seq: int
    segment: int
    offset: int
    micros: int
    payload: bytes


def encode(kind: Kind, seq: int = 0, payload: bytes = b"", at: Position = NOWHERE, micros: int = 0) -> bytes:
    return HEADER.pack(kind, seq, at.segment, at.offset, micros, len(payload)) + payload


def decode(buffer: bytearray, limit: int = -1) -> list[Frame]:
    """Remove and return the complete frames at the start of the buffer (at most `limit` of them)."""
    frames: list[Frame] = []
    start = 0
    while len(buffer) - start >= HEADER.size and len(frames) != limit:
        kind, seq, segment, offset, micros, length = HEADER.unpack_from(buffer, start)
        end = start + HEADER.size + length
        if len(buffer) < end:
            break
        frames.append(Frame(kind, seq, segment, offset, micros, bytes(buffer[start + HEADER.size : end])))
        start = end
    del buffer[:start]
    return frames


# One request as the loop forwards it: the peer's address, its headers by lower-case name, its body.
RawRequest = tuple[str | None, dict[str, str], bytes]


class Refusal(NamedTuple):
    """An answer other than 202: its status, JSON body and, for 429, the seconds to wait."""

    status: int
    body: bytes
    retry_after: int = 0


class Answers(NamedTuple):
    """The reply to one REQUESTS frame, once its rows are durable (a tuple: it pickles in C)."""

    refusals: list[Refusal | None]  # per request: None for 202
    report: Report  # rows stored, and the counters since the previous reply


class Handler(Protocol):
    """Runs in the journal process on every REQUESTS frame."""

    def handle(self, payload: bytes) -> tuple[list[Row], bytes]:
        """The rows to journal, and the DONE payload (a dump of Answers) to send once they are durable."""
        ...

    def update(self, payload: bytes) -> None: ...


class HandlerSpec(Protocol):
    """A picklable description of the handler, opened in the journal process.

    `preload` names the module the zygote preloads for it (zygote.py); None for nothing.
    """

    @property
    def preload(self) -> str | None: ...
    def open(self) -> Handler: ...


class HandlerSource(Protocol):
    """The server's side of the handler: what each new journal process gets, and what changes meanwhile."""

    def spec(self) -> HandlerSpec:
        """The handler as it stands, for a journal process about to start."""
        ...

    def changes(self) -> bytes | None:
        """An UPDATE payload if anything changed since the last spec() or changes(), else None."""
        ...


@dataclass(frozen=True, slots=True)
class JournalConfig:
    """What a journal process is told first (CONFIG): never the database key, only the journal's own."""

    folder: Path
    segment_bytes: int
    key: bytes | None
    handler: HandlerSpec
    ship_from: Position = NOWHERE  # the end of the last rows the server received
    ship_seconds: float = SHIP_SECONDS
    lock_wait: float = LOCK_WAIT_SECONDS


def dump(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def dump_requests(requests: list[RawRequest]) -> bytes:
    return dump(requests)


def load_requests(payload: bytes) -> list[RawRequest]:
    requests: list[RawRequest] = pickle.loads(payload)
    return requests


def load_answers(payload: bytes) -> Answers:
    answers: Answers = pickle.loads(payload)
    return answers
