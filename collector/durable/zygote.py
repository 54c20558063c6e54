"""A warm parent for journal processes: it preloads what their handler needs once and forks one on demand.

The handler may take seconds to load (the pipeline's device rules take about 3 s of CPU), so a freshly
started journal process would make the first requests wait that long: at every server start, and again
whenever a journal process dies and the next write starts another. Forked from this process, a journal
process starts with it all in memory. The zygote is started cleanly (not forked from the server, whose
threads and DuckDB connection must not be copied), forks nothing but journal processes, and exits when
its server's end of the control socket closes.

What it preloads is a module's to say: `preload()` once at start, `idle()` between forks (a bit of
background work at a time; False when none is left). Its HandlerSpec names it (`preload`).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path

PID = 4  # bytes of the pid the zygote answers with


class Zygote:
    """The server's side: one zygote per server process, started on first use and again if it died."""

    def __init__(self, preload: str | None = None) -> None:
        self.preload = preload
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._lock = threading.Lock()

    def fork(self, sock: socket.socket) -> int:
        """A new journal process talking on `sock` (the zygote gets a duplicate of it); its pid."""
        with self._lock:
            for attempt in (1, 2):
                if self._control is None or self._proc is None or self._proc.poll() is not None:
                    self._start()
                assert self._control is not None
                try:
                    socket.send_fds(self._control, [b"F"], [sock.fileno()])
                    answer = b""
                    while len(answer) < PID:
                        part = self._control.recv(PID - len(answer))
                        if not part:
                            raise ConnectionError("the zygote exited")
                        answer += part
                    return int.from_bytes(answer, "little")
                except OSError:
                    self._stop()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def start(self) -> None:
        """Start the zygote now, so that it loads the rules while the server does its own start-up."""
        with self._lock:
            if self._control is None or self._proc is None or self._proc.poll() is not None:
                self._start()

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _start(self) -> None:
        self._stop()
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        with theirs:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from collector.durable.zygote import main; main()",
                    str(theirs.fileno()),
                    self.preload or "",
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        self._control = ours

    def _stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)
            self._proc = None


_zygotes: dict[str | None, Zygote] = {}


def zygote_for(preload: str | None) -> Zygote:
    """The server's zygote for handlers that need `preload` (a module name; None for nothing)."""
    zygote = _zygotes.get(preload)
    if zygote is None:
        zygote = _zygotes[preload] = Zygote(preload)
        atexit.register(zygote.close)
    return zygote


def exited(pid: int, timeout: float) -> bool:
    """Wait for a process that is not our child (the zygote's) to exit."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def main() -> None:
    # Like the journal processes it forks: stopping is its server's call (closing the control socket).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # journal processes are reaped by the kernel
    control = socket.socket(fileno=int(sys.argv[1]))
    idle: Callable[[], bool] | None = None
    if sys.argv[2]:
        preloaded = importlib.import_module(sys.argv[2])
        preloaded.preload()  # no background thread here: only a thread-free process forks safely
        idle = preloaded.idle
    busy = idle is not None
    while True:
        # Between forks, a bit of background work at a time: later journal processes start with it done.
        if busy and idle is not None and not select.select([control], [], [], 0)[0]:
            busy = idle()
            continue
        try:
            message, fds, _, _ = socket.recv_fds(control, 16, 1)
        except OSError:
            return
        if not message:
            return  # the server is gone
        # What the journal process inherits is never collected there: a collection would write to every
        # object's header and so copy every page the two processes share.
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            control.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _journal_process(fds[0])
        for fd in fds:
            os.close(fd)
        control.sendall(pid.to_bytes(PID, "little"))


def _journal_process(fd: int) -> None:
    from collector.durable.process import run

    code = 0
    try:
        run(socket.socket(fileno=fd))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stderr.flush()
        os._exit(code)  # not the zygote's exit path: nothing of it is this process's to clean up
