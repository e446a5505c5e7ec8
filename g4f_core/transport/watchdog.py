"""A backstop for waits the socket timeout cannot bound.

A socket timeout bounds each ``recv``; a server that trickles one byte at a time
inside a single read (a response head, a chunk-size line) satisfies every ``recv``
and can hold a call forever. One daemon thread per process keeps, for each socket
being read, the moment its wait must end, and shuts the socket down at that moment;
the blocked read then fails at once and the transport reports a timeout.

Every read the transport makes goes through :func:`watched_read`: arm, read, disarm,
and say whether the watchdog fired. Arming costs a dictionary write and disarming one
uncontended lock, so it runs around every read of a stream.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TypeVar

__all__ = ["Expired", "expiry", "watchdog", "watched_read"]

T = TypeVar("T")

#: When the response head of the request being sent must have arrived (monotonic).
expiry: ContextVar[float | None] = ContextVar("g4f_core_expiry", default=None)


class Watchdog:
    def __init__(self) -> None:
        self._reset()
        # After fork() the child has the parent's state but not its thread: start afresh.
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()  # a C lock: taken around every read, it must be cheap
        self._cond = threading.Condition(self._lock)
        self._until: dict[socket.socket, float] = {}
        self._fired: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self._wake = 0.0  # when the thread next looks at the deadlines

    def watch(self, sock: socket.socket, until: float) -> None:
        """Shut ``sock`` down at ``until`` (monotonic) unless cleared or moved first."""
        if self._thread is not None and until >= self._wake:
            # Atomic under the GIL, and the thread wakes before ``until`` anyway: it only ever
            # removes a socket it found expired, under the lock, and clear() takes the lock.
            self._until[sock] = until
            return
        with self._lock:
            earlier = until < self._wake
            self._until[sock] = until
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="g4f-core-watchdog", daemon=True
                )
                self._thread.start()
            elif earlier:
                self._cond.notify()

    def clear(self, sock: socket.socket) -> bool:
        """Stop watching ``sock``; True if the watchdog had already shut it down."""
        with self._lock:
            self._until.pop(sock, None)
            if sock in self._fired:
                self._fired.discard(sock)
                return True
            return False

    def _run(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                # Decided and done under the lock, so a re-arm cannot race the shutdown.
                for sock, until in list(self._until.items()):
                    if until <= now:
                        del self._until[sock]
                        self._fired.add(sock)
                        with contextlib.suppress(OSError):  # already closed: nothing to stop
                            sock.shutdown(socket.SHUT_RDWR)
                self._wake = min(self._until.values(), default=now + 60.0)
                self._cond.wait(timeout=max(self._wake - now, 0.001))


watchdog = Watchdog()


class Expired(TimeoutError):
    """The watchdog shut the socket down: the wait outlived its limit."""


def watched_read(
    sock: socket.socket | None, until: float, read: Callable[..., T], *args: object
) -> tuple[T, bool]:
    """``read(*args)`` with ``sock`` shut down at ``until`` (monotonic) if it is still waiting.

    Returns what ``read`` returned and whether the watchdog fired (what was read may then
    be cut short). A read that fails after the watchdog fired raises :class:`Expired`
    from its own error. Without a socket there is nothing to watch: ``read`` runs alone.
    """
    if sock is None:
        return read(*args), False
    watchdog.watch(sock, until)
    try:
        result = read(*args)
    except Exception as exc:
        if watchdog.clear(sock):
            raise Expired("the watchdog stopped a read that outlived its limit") from exc
        raise
    except BaseException:  # KeyboardInterrupt and the like: disarm, never translate
        watchdog.clear(sock)
        raise
    return result, watchdog.clear(sock)
