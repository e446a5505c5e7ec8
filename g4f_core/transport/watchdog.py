"""A backstop for waits the socket timeout cannot bound.

A socket timeout bounds each ``recv``; a server that trickles one byte at a time
inside a single read (a response head, a chunk-size line) satisfies every ``recv``
and can hold a call forever. One daemon thread per process keeps, for each socket
being read, the moment its wait must end, and shuts the socket down at that moment;
the blocked read then fails at once and the transport reports a timeout. Updating
the moment costs a dictionary write, so it can run for every event of a stream.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from contextvars import ContextVar

__all__ = ["expiry", "watchdog"]

#: When the response head of the request being sent must have arrived (monotonic).
expiry: ContextVar[float | None] = ContextVar("g4f_core_expiry", default=None)


class Watchdog:
    def __init__(self) -> None:
        self._reset()
        # After fork() the child has the parent's state but not its thread: start afresh.
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._until: dict[socket.socket, float] = {}
        self._owner: dict[socket.socket, int] = {}  # the thread waiting on each socket
        self._fired: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self._wake = 0.0  # when the thread next looks at the deadlines

    def watch(self, sock: socket.socket, until: float) -> None:
        """Shut ``sock`` down at ``until`` (monotonic) unless cleared or moved first."""
        if self._thread is not None and until >= self._wake and sock in self._until:
            self._until[sock] = until  # atomic under the GIL; the thread wakes in time anyway
            return
        with self._cond:
            earlier = until < self._wake
            self._until[sock] = until
            self._owner[sock] = threading.get_ident()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="g4f-core-watchdog", daemon=True
                )
                self._thread.start()
            elif earlier:
                self._cond.notify()

    def clear(self, sock: socket.socket) -> bool:
        """Stop watching ``sock``; True if the watchdog had already shut it down."""
        with self._cond:
            self._until.pop(sock, None)
            self._owner.pop(sock, None)
            if sock in self._fired:
                self._fired.discard(sock)
                return True
            return False

    def interrupt(self, thread: int) -> int:
        """Shut down the sockets ``thread`` is waiting on now, as if their time had run out.

        The gateway uses it to stop a call whose client left while the upstream is
        silent. It acts once: later waits of the thread (a provider's clean-up) run.
        """
        with self._cond:
            socks = [s for s, owner in self._owner.items() if owner == thread]
            for sock in socks:
                self._until.pop(sock, None)
                del self._owner[sock]
                self._fired.add(sock)
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            return len(socks)

    def _run(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                # Decided and done under the lock, so a re-arm cannot race the shutdown.
                for sock, until in list(self._until.items()):
                    if until <= now:
                        del self._until[sock]
                        self._owner.pop(sock, None)
                        self._fired.add(sock)
                        with contextlib.suppress(OSError):  # already closed: nothing to stop
                            sock.shutdown(socket.SHUT_RDWR)
                self._wake = min(self._until.values(), default=now + 60.0)
                self._cond.wait(timeout=max(self._wake - now, 0.001))


watchdog = Watchdog()
