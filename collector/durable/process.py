"""The journal process: runs the server's handler on each frame of requests, journals the rows, fdatasyncs, answers.

It runs beside the server, forked by the zygote (zygote.py), on a socket pair; wire.py is the protocol.
A thread in the server would need the GIL after every fdatasync, and under load the event loop holds
it: each commit then waited up to the interpreter's 5 ms switch interval, and every request with it.
Here nothing on the commit path shares a GIL with the event loop.

Each run of REQUESTS frames taken from the socket together costs one fdatasync; every frame of it is
then answered DONE with its Answers. ROWS carries the rows of everything appended since the previous
ROWS, for the server's DuckDB loader (shipping.py): when SHIP_ROWS are waiting, ship_seconds after the
first, on SHIP, and before ROTATED and before exiting.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from collector.durable.journal import Journal, Sealer
from collector.durable.wire import LOCK_WAIT_SECONDS, Frame, Handler, JournalConfig, Kind, decode, encode
from collector.storage.rows import Row

if TYPE_CHECKING:
    from collector.durable.shipping import Shipper

LOCK_NAME = ".lock"


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
    with journal_lock(config.folder, config.lock_wait):
        journal = Journal(config.folder, config.segment_bytes)
        journal.truncate_torn_tail()  # an append cut short by a crash was never acknowledged
        from collector.durable.shipping import Shipper  # Arrow: loaded here, never in the thread-free zygote

        sealer, shipper = Sealer.from_key(config.key), Shipper(config.ship_seconds)
        # What a predecessor appended after the last rows the server received (nothing on a first start).
        for _, record in journal.read_from(config.ship_from):
            shipper.add(orjson.loads(sealer.open(record)))
        sock.sendall(_ship(shipper, journal))
        sock.sendall(encode(Kind.READY, at=journal.end))
        handler = config.handler.open()
        try:
            _run(sock, buffer, journal, sealer, shipper, handler)
        finally:
            journal.close()


def _read_config(sock: socket.socket, buffer: bytearray) -> JournalConfig:
    while True:
        frames = decode(buffer, limit=1)
        if frames:
            if frames[0].kind != Kind.CONFIG:
                raise SystemExit("the journal process expects its configuration first")
            config: JournalConfig = pickle.loads(frames[0].payload)  # from the server that started it
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
    handler: Handler,
) -> None:
    while _handle(sock, decode(buffer), journal, sealer, shipper, handler):
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
    handler: Handler,
) -> bool:
    """Append each run of REQUESTS frames with one fdatasync; False after STOP."""
    run = _Run()
    ship = False
    for f in frames:
        if f.kind == Kind.REQUESTS:
            rows, answers = handler.handle(f.payload)
            if rows:
                run.payloads.append(sealer.seal(orjson.dumps(rows)))
                run.rows.extend(rows)
            run.answers.append((f.seq, answers))
            run.last = f.seq
        elif f.kind == Kind.UPDATE:
            handler.update(f.payload)
        elif f.kind == Kind.SHIP:
            ship = True
        else:
            sock.sendall(run.append(journal, shipper))
            run = _Run()
            if f.kind in (Kind.ROTATE, Kind.STOP):
                sock.sendall(_ship(shipper, journal))
            if f.kind == Kind.ROTATE:
                sock.sendall(_rotate(journal, f.seq))
            elif f.kind == Kind.STOP:
                return False
            else:
                sock.sendall(encode(Kind.FAILED, f.seq, f"unexpected frame kind {f.kind}".encode()))
    sock.sendall(run.append(journal, shipper))
    if ship or shipper.due():
        sock.sendall(_ship(shipper, journal))
    return True


def _ship(shipper: Shipper, journal: Journal) -> bytes:
    """The ROWS frame for the rows appended since the last one (b"" when there are none)."""
    if not shipper.rows:
        return b""
    count, payload = shipper.take()
    return encode(Kind.ROWS, count, payload, journal.end)


class _Run:
    """Frames made durable by one fdatasync, and the answers to send once they are."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.rows: list[Row] = []
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
            return encode(Kind.FAILED, self.last, f"journal write failed: {exc}".encode())
        micros = int((time.perf_counter() - started) * 1e6)
        shipper.add(self.rows)
        return b"".join([encode(Kind.DONE, seq, answers, end, micros) for seq, answers in self.answers])


def _rotate(journal: Journal, seq: int) -> bytes:
    try:
        ended = journal.rotate()
    except OSError as exc:
        return encode(Kind.FAILED, seq, f"journal rotation failed: {exc}".encode())
    return encode(Kind.ROTATED, seq, at=ended)


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
