"""The journal process: appends the server's event groups to the journal, fdatasyncs, acknowledges.

It runs beside the server, forked by the zygote (zygote.py), on a socket pair.
A thread in the server would need the GIL after every fdatasync, and under load the event loop holds
it: each commit then waited up to the interpreter's 5 ms switch interval, and every request with it.
Here nothing on the commit path shares a GIL with the event loop.

Frames both ways are `kind (u8) | seq (u64) | segment (u32) | offset (u64) | micros (u32) | length (u32)`
and `length` bytes of payload. The server sends CONFIG once, then EVENTS (a JSON array of rows),
REQUESTS (raw ingest requests, when the process runs the pipeline: ingestd.py), SALTS, SHIP, ROTATE
and STOP; the process answers DONE (every frame up to `seq` is durable, the journal ends at
segment/offset; for REQUESTS, one DONE per frame carrying its answers), FAILED (those frames are
not; the payload says why) and ROTATED (the old segment ended at segment/offset); READY once, when
it holds the journal. ROWS carries the rows of everything appended since the previous ROWS, for the
server's DuckDB loader (`seq` rows, ending at segment/offset; shipping.py): when SHIP_ROWS are
waiting, SHIP_SECONDS after the first, on SHIP, and before ROTATED and before exiting.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pickle
import signal
import socket
import struct
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from collector.durable.journal import Journal, Position, Sealer

if TYPE_CHECKING:
    from collector.durable.shipping import Shipper
    from collector.ingest.handler import IngestSide

FRAME = struct.Struct("<BQIQII")
CONFIG, EVENTS, ROTATE, STOP, REQUESTS, SALTS, SHIP = 1, 2, 3, 4, 5, 6, 7
DONE, FAILED, ROTATED, READY, ROWS = 11, 12, 13, 14, 15
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
    folder = Path(config["folder"])
    with journal_lock(folder, float(config.get("lock_wait", LOCK_WAIT_SECONDS))):
        journal = Journal(folder, int(config["segment_bytes"]))
        journal.truncate_torn_tail()  # an append cut short by a crash was never acknowledged
        from collector.durable.shipping import Shipper  # Arrow: loaded here, never in the thread-free zygote

        sealer, shipper = Sealer.from_key(config["key"]), Shipper(config["ship_seconds"])
        # What a predecessor appended after the last rows the server received (nothing on a first start).
        for _, record in journal.read_from(Position(*config["ship_from"])):
            shipper.add(orjson.loads(sealer.open(record)))
        sock.sendall(_ship(shipper, journal))
        sock.sendall(frame(READY, at=journal.end))
        ingest: IngestSide | None = None
        if config.get("ingest") is not None:
            from collector.ingest.handler import IngestSide
            from collector.logs import configure_logging

            configure_logging(config["ingest"][0].log_level)  # JSON lines on the server's stderr, like its own
            ingest = IngestSide(*config["ingest"])
            ingest.warm()  # forked from the zygote, which loaded the rules: this only finishes the model rules
            logging.getLogger("collector.journald").info("journal process ready", extra={"pid": os.getpid()})
        try:
            _run(sock, buffer, journal, sealer, shipper, ingest)
        finally:
            journal.close()


def _read_config(sock: socket.socket, buffer: bytearray) -> dict[str, Any]:
    while True:
        frames = take_frames(buffer, limit=1)
        if frames:
            if frames[0].kind != CONFIG:
                raise SystemExit("the journal process expects its configuration first")
            config: dict[str, Any] = pickle.loads(frames[0].payload)  # from the server that started it
            return config
        data = sock.recv(1 << 16)
        if not data:
            raise SystemExit(0)
        buffer += data


def _run(
    sock: socket.socket,
    buffer: bytearray,
    journal: Journal,
    sealer: Sealer,
    shipper: Shipper,
    ingest: IngestSide | None,
) -> None:
    while _handle(sock, take_frames(buffer), journal, sealer, shipper, ingest):
        wait = shipper.wait()
        if wait == 0.0:  # due since _handle looked: settimeout(0.0) would make recv non-blocking, not wait
            sock.sendall(_ship(shipper, journal))
            continue
        sock.settimeout(wait)
        try:
            data = sock.recv(1 << 20)
        except TimeoutError:  # quiet: the waiting rows are due
            sock.settimeout(None)
            sock.sendall(_ship(shipper, journal))
            continue
        if not data:
            return  # the server is gone: nobody waits for an acknowledgement
        buffer += data
        sock.setblocking(False)  # take everything sent meanwhile: one fdatasync for all of it
        with contextlib.suppress(BlockingIOError):
            while data := sock.recv(1 << 20):
                buffer += data
        sock.setblocking(True)


def _handle(
    sock: socket.socket,
    frames: list[Frame],
    journal: Journal,
    sealer: Sealer,
    shipper: Shipper,
    ingest: IngestSide | None,
) -> bool:
    """Append runs of EVENTS and REQUESTS frames with one fdatasync each; False after STOP."""
    run = _Run()
    ship = False
    for f in frames:
        if f.kind == EVENTS:
            if f.payload:
                run.payloads.append(sealer.seal(f.payload))
                run.rows.extend(orjson.loads(f.payload))
            run.last = f.seq
        elif f.kind == REQUESTS and ingest is not None:
            rows, answers = ingest.handle(f.payload)
            if rows:
                run.payloads.append(sealer.seal(orjson.dumps(rows)))
                run.rows.extend(rows)
            run.answers.append((f.seq, answers))
            run.last = f.seq
        elif f.kind == SALTS and ingest is not None:
            ingest.set_salts(f.payload)
        elif f.kind == SHIP:
            ship = True
        else:
            sock.sendall(run.append(journal, shipper))
            run = _Run()
            if f.kind in (ROTATE, STOP):
                sock.sendall(_ship(shipper, journal))
            if f.kind == ROTATE:
                sock.sendall(_rotate(journal, f.seq))
            elif f.kind == STOP:
                return False
            else:
                sock.sendall(frame(FAILED, f.seq, f"unexpected frame kind {f.kind}".encode()))
    sock.sendall(run.append(journal, shipper))
    if ship or shipper.due():
        sock.sendall(_ship(shipper, journal))
    return True


def _ship(shipper: Shipper, journal: Journal) -> bytes:
    """The ROWS frame for the rows appended since the last one (b"" when there are none)."""
    if not shipper.rows:
        return b""
    count, payload = shipper.take()
    return frame(ROWS, count, payload, journal.end)


class _Run:
    """Frames made durable by one fdatasync, and the answers to send once they are."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.rows: list[Sequence[Any]] = []
        self.answers: list[tuple[int, bytes]] = []
        self.last = 0

    def append(self, journal: Journal, shipper: Shipper) -> bytes:
        """Append, fdatasync; the frames to send back (DONE or FAILED), b"" when there was nothing."""
        if not self.last:
            return b""
        started = time.perf_counter()
        try:
            end = journal.append(self.payloads)
        except OSError as exc:
            return frame(FAILED, self.last, f"journal write failed: {exc}".encode())
        micros = int((time.perf_counter() - started) * 1e6)
        shipper.add(self.rows)
        out = [frame(DONE, seq, answers, end, micros) for seq, answers in self.answers]
        if not self.answers or self.answers[-1][0] != self.last:
            out.append(frame(DONE, self.last, at=end, micros=micros))
        return b"".join(out)


def _rotate(journal: Journal, seq: int) -> bytes:
    try:
        ended = journal.rotate()
    except OSError as exc:
        return frame(FAILED, seq, f"journal rotation failed: {exc}".encode())
    return frame(ROTATED, seq, at=ended)


def run(sock: socket.socket) -> None:
    """The journal process's life, on its socket to the server (forked by the zygote, zygote.py)."""
    # Stopping is the server's call (STOP, or the socket closing), after it has drained: a Ctrl-C or a
    # SIGTERM sent to the whole process group must not cut the commits the server is still waiting for.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        serve(sock)
    except TimeoutError as exc:
        raise SystemExit(f"collector journal process: {exc}") from None
    finally:
        sock.close()
