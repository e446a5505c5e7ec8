"""Stopping one call from any thread: the single abort entry point of the transport.

A generator cannot be closed while another thread is stepping it, and a thread blocked
in ``recv`` cannot be woken by a flag. So each call carries an :class:`Abort`; the
transport attaches to it every socket the call is waiting on (a response head, a body,
an event stream), and :meth:`Abort.abort` shuts those sockets down. The blocked read
then fails at once on its own thread, the provider's ``finally`` (H2o's DELETE) runs
there, and the core ends the call quietly. Later waits of the call are cut the same
way the moment they attach; clean-up requests run without the abort.

Importing this module is cheap: no HTTP library here.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from contextvars import ContextVar
from typing import Any

__all__ = ["Abort", "abort_scope"]

#: The abort of the call whose provider is running (None outside a call and during clean-up).
abort_scope: ContextVar[Abort | None] = ContextVar("g4f_core_abort", default=None)


class Abort:
    """One call's stop switch. Never blocks: safe from an event loop or a finalizer."""

    __slots__ = ("_event", "_socks", "aborted")

    def __init__(self) -> None:
        #: Read lock-free on every chunk; only ever goes from False to True.
        self.aborted = False
        self._event = threading.Event()
        # socket -> its urllib3 response (None while the head is read). Lock-free: a
        # dict copy, set or pop is atomic under the GIL, and socket keys hash in C.
        self._socks: dict[socket.socket, Any] = {}

    def abort(self) -> bool:
        """Stop the call: shut down what it waits on. True the first time only."""
        if self.aborted:
            return False
        self.aborted = True
        for sock, raw in self._socks.copy().items():
            _shut(sock, raw)
        # Set last: a thread woken by wait() must find the flag already set.
        self._event.set()
        return True

    def attach(self, sock: socket.socket | None, raw: Any = None) -> None:
        """``sock`` is being waited on for this call; shut at once if already aborted.

        None (a response with no socket to reach) is nothing to attach.
        """
        if sock is None:
            return
        self._socks[sock] = raw
        if self.aborted:  # abort() ran before the socket was in the map
            _shut(sock, raw)

    def detach(self, sock: socket.socket | None) -> None:
        if sock is not None:
            self._socks.pop(sock, None)

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds`` (a retry's backoff); True if the call was aborted."""
        return self._event.wait(seconds)


def _shut(sock: socket.socket, raw: Any) -> None:
    """Shut ``sock`` down unless its response is complete and its connection pooled.

    urllib3 hands a connection back to the pool inside the read that reaches the end
    of the body; that response is ``closed`` (and has no ``connection``) from then on,
    and its socket, now possibly another call's, must be left alone.
    """
    if raw is not None and (raw.closed or raw.connection is None):
        return
    with contextlib.suppress(OSError):  # closed already: nothing to stop
        sock.shutdown(socket.SHUT_RDWR)
