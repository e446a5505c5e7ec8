"""The process-wide connection pool behind every provider call.

One ``requests`` adapter, so sequential calls reuse connections; its pools make
connections whose response heads are read under the watchdog (a server trickling a
head is stopped at the limit), also behind a proxy; urllib3's debug lines hide request
targets while a g4f-core request is sent; and a forked child starts a pool of its own.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

import urllib3
from requests.adapters import HTTPAdapter

from g4f_core.transport.abort import abort_scope
from g4f_core.transport.watchdog import expiry, watchdog

__all__ = ["shared_adapter"]

_Response = urllib3.response.HTTPResponse
_adapter: HTTPAdapter | None = None
_adapter_lock = threading.Lock()


def _watched_head(sock: socket.socket | None, read: Callable[[], _Response]) -> _Response:
    """Read a response head with the socket under the watchdog (see watchdog.py).

    The socket is also attached to the call's abort, so closing the call from another
    thread ends this wait at once (see abort.py).
    """
    until = expiry.get()
    if until is None or sock is None:
        return read()
    abort = abort_scope.get()
    if abort is not None:
        abort.attach(sock)
    watchdog.watch(sock, until)
    try:
        response = read()
    finally:
        fired = watchdog.clear(sock)
        if abort is not None:
            abort.detach(sock)
    if fired:  # the head was cut short: http.client may have taken the cut for its end
        response.close()
        raise TimeoutError("the response head did not arrive in time")
    return response


class _HTTPConnection(urllib3.connection.HTTPConnection):
    def getresponse(self) -> _Response:  # type: ignore[override]  # as urllib3 declares it
        return _watched_head(self.sock, super().getresponse)


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    def getresponse(self) -> _Response:  # type: ignore[override]  # as urllib3 declares it
        return _watched_head(self.sock, super().getresponse)


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _RedactTargets(logging.Filter):
    """Hide request targets in urllib3's debug lines while a g4f-core request is sent.

    urllib3 logs ``"POST /path?query HTTP/1.1"``; a base URL may carry a key in its
    path or query. Other users of urllib3 in the process keep their full lines.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if expiry.get() is not None and isinstance(record.args, tuple):
            record.args = tuple(
                "<target>" if isinstance(a, str) and (a.startswith("/") or "://" in a) else a
                for a in record.args
            )
        return True


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}
_MAX_PROXIES = 8


class _Adapter(HTTPAdapter):
    """requests' adapter with watched pools, also behind a proxy, and few proxy pools."""

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if hasattr(manager, "pool_classes_by_scheme"):
            manager.pool_classes_by_scheme = _POOLS
        while len(self.proxy_manager) > _MAX_PROXIES:  # e.g. rotating proxy credentials
            oldest = next(iter(self.proxy_manager))
            self.proxy_manager.pop(oldest).clear()
        return manager


def shared_adapter() -> HTTPAdapter:
    """One connection pool for the process, so sequential calls reuse connections."""
    global _adapter
    if _adapter is None:
        with _adapter_lock:
            if _adapter is None:
                logging.getLogger("urllib3.connectionpool").addFilter(_RedactTargets())
                adapter = _Adapter(pool_connections=16, pool_maxsize=64, max_retries=0)
                adapter.poolmanager.pool_classes_by_scheme = _POOLS
                _adapter = adapter
    return _adapter


def _forget_pool_after_fork() -> None:
    """A forked child must not share its parent's keep-alive sockets."""
    global _adapter, _adapter_lock
    _adapter, _adapter_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)
