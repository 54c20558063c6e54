"""The journal process: appends the server's event groups to the journal, fdatasyncs, acknowledges.

It runs beside the server as a child process (`python -m collector.journald FD`) on a socket pair.
A thread in the server would need the GIL after every fdatasync, and under load the event loop holds
it: each commit then waited up to the interpreter's 5 ms switch interval, and every request with it.
Here nothing on the commit path shares a GIL with the event loop.

Frames both ways are `kind (u8) | seq (u64) | segment (u32) | offset (u64) | micros (u32) | length (u32)`
and `length` bytes of payload. The server sends CONFIG once, then EVENTS (a JSON array of rows),
ROTATE and STOP; the process answers DONE (every frame up to `seq` is durable, the journal ends at
segment/offset), FAILED (those frames are not; the payload says why) and ROTATED (the old segment
ended at segment/offset); READY once, when it holds the journal.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import orjson

from collector.journal import Journal, Position, Sealer

FRAME = struct.Struct("<BQIQII")
CONFIG, EVENTS, ROTATE, STOP = 1, 2, 3, 4
DONE, FAILED, ROTATED, READY = 11, 12, 13, 14
LOCK_NAME = ".lock"
LOCK_WAIT_SECONDS = 30.0


class Frame(NamedTuple):
    kind: int
    seq: int
    segment: int
    offset: int
    micros: int
    payload: bytes


NOWHERE = Position(0, 0)


def frame(kind: int, seq: int = 0, payload: bytes = b"", at: Position = NOWHERE, micros: int = 0) -> bytes:
    return FRAME.pack(kind, seq, at.segment, at.offset, micros, len(payload)) + payload


def take_frames(buffer: bytearray, limit: int = -1) -> list[Frame]:
    """Remove and return the complete frames at the start of the buffer (at most `limit` of them)."""
    frames: list[Frame] = []
    start = 0
    while len(buffer) - start >= FRAME.size and len(frames) != limit:
        kind, seq, segment, offset, micros, length = FRAME.unpack_from(buffer, start)
        end = start + FRAME.size + length
        if len(buffer) < end:
            break
        frames.append(Frame(kind, seq, segment, offset, micros, bytes(buffer[start + FRAME.size : end])))
        start = end
    del buffer[:start]
    return frames


@contextlib.contextmanager
def journal_lock(folder: Path, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Held by whoever appends to the journal: a journal process left over from a killed server
    finishes its last append before a new server replays the journal."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the journal in {folder} is still held by another process") from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # releases the lock


def serve(sock: socket.socket) -> None:
    buffer = bytearray()
    config = _read_config(sock, buffer)
    folder = Path(str(config["folder"]))
    key = bytes.fromhex(str(config["key"])) if config["key"] else None
    with journal_lock(folder):
        journal = Journal(folder, int(str(config["segment_bytes"])))
        journal.truncate_torn_tail()  # an append cut short by a crash was never acknowledged
        sock.sendall(frame(READY, at=journal.end))
        try:
            _run(sock, buffer, journal, Sealer.from_key(key))
        finally:
            journal.close()


def _read_config(sock: socket.socket, buffer: bytearray) -> dict[str, object]:
    while True:
        frames = take_frames(buffer, limit=1)
        if frames:
            if frames[0].kind != CONFIG:
                raise SystemExit("the journal process expects its configuration first")
            return dict(orjson.loads(frames[0].payload))
        data = sock.recv(1 << 16)
        if not data:
            raise SystemExit(0)
        buffer += data


def _run(sock: socket.socket, buffer: bytearray, journal: Journal, sealer: Sealer) -> None:
    while _handle(sock, take_frames(buffer), journal, sealer):
        data = sock.recv(1 << 20)
        if not data:
            return  # the server is gone: nobody waits for an acknowledgement
        buffer += data
        sock.setblocking(False)  # take everything sent meanwhile: one fdatasync for all of it
        with contextlib.suppress(BlockingIOError):
            while data := sock.recv(1 << 20):
                buffer += data
        sock.setblocking(True)


def _handle(sock: socket.socket, frames: list[Frame], journal: Journal, sealer: Sealer) -> bool:
    """Append runs of EVENTS frames with one fdatasync each; False after STOP."""
    payloads: list[bytes] = []
    last = 0
    for f in frames:
        if f.kind == EVENTS:
            if f.payload:
                payloads.append(sealer.seal(f.payload))
            last = f.seq
            continue
        if last:
            sock.sendall(_append(journal, payloads, last))
            payloads, last = [], 0
        if f.kind == ROTATE:
            sock.sendall(_rotate(journal, f.seq))
        elif f.kind == STOP:
            return False
    if last:
        sock.sendall(_append(journal, payloads, last))
    return True


def _append(journal: Journal, payloads: list[bytes], seq: int) -> bytes:
    started = time.perf_counter()
    try:
        end = journal.append(payloads)
    except OSError as exc:
        return frame(FAILED, seq, f"journal write failed: {exc}".encode())
    return frame(DONE, seq, at=end, micros=int((time.perf_counter() - started) * 1e6))


def _rotate(journal: Journal, seq: int) -> bytes:
    try:
        ended = journal.rotate()
    except OSError as exc:
        return frame(FAILED, seq, f"journal rotation failed: {exc}".encode())
    return frame(ROTATED, seq, at=ended)


def main() -> None:
    # Stopping is the server's call (STOP, or the socket closing), after it has drained: a Ctrl-C or a
    # SIGTERM sent to the whole process group must not cut the commits the server is still waiting for.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock = socket.socket(fileno=int(sys.argv[1]))
    try:
        serve(sock)
    finally:
        sock.close()


if __name__ == "__main__":
    main()
