"""Starting a journal process (process.py): forked by the zygote, configured, ready once it holds the journal."""

from __future__ import annotations

import socket
from collections.abc import Callable

from collector.durable.commits import WriteFailed
from collector.durable.wire import Frame, JournalConfig, Kind, decode, dump, encode
from collector.durable.zygote import kill, zygote_for


def start_journal_process(
    config: JournalConfig, on_rows: Callable[[Frame], None], timeout: float
) -> tuple[int, socket.socket, bytearray]:
    """Its pid, the server's end of its socket (non-blocking) and what it sent after READY.

    Before READY it ships what a predecessor appended after the last rows the server received (ROWS);
    those go to `on_rows`. Raises WriteFailed when it cannot start (its own error is in the log).
    """
    ours, theirs = socket.socketpair()
    with theirs:
        try:
            pid = zygote_for(config.handler.preload).fork(theirs)
        except OSError as exc:
            ours.close()
            raise WriteFailed(f"the journal process could not be started: {exc}") from None
    received = bytearray()
    ready: list[Frame] = []
    ours.settimeout(timeout)
    try:
        ours.sendall(encode(Kind.CONFIG, payload=dump(config)))
        while not ready:
            data = ours.recv(1 << 16)
            if not data:
                break
            received += data
            while (first := decode(received, limit=1)) and first[0].kind == Kind.ROWS:
                on_rows(first[0])
            ready = first
    except OSError:
        pass
    if not ready or ready[0].kind != Kind.READY:
        ours.close()
        kill(pid)
        raise WriteFailed(f"the journal process did not start (its error is logged above): {config.folder}")
    ours.setblocking(False)
    return pid, ours, received
