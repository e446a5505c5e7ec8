"""The process-wide connection pool behind every provider call.

One ``requests`` adapter, so sequential calls reuse connections; its pools make
connections whose response heads are read under the watchdog (a server trickling a
head is stopped at the limit), also behind a proxy (see adapter.py); urllib3's debug
lines hide request targets while a g4f-core request is sent; and a forked child starts
a pool of its own.
"""

from __future__ import annotations

import logging
import os
import threading

from requests.adapters import HTTPAdapter

from g4f_core.transport.adapter import RedactTargets, WatchedAdapter

__all__ = ["shared_adapter"]

_adapter: HTTPAdapter | None = None
_adapter_lock = threading.Lock()


def shared_adapter() -> HTTPAdapter:
    """One connection pool for the process, so sequential calls reuse connections."""
    global _adapter
    if _adapter is None:
        with _adapter_lock:
            if _adapter is None:
                logging.getLogger(RedactTargets.logger).addFilter(RedactTargets())
                _adapter = WatchedAdapter(pool_connections=16, pool_maxsize=64, max_retries=0)
    return _adapter


def _forget_pool_after_fork() -> None:
    """A forked child must not share its parent's keep-alive sockets."""
    global _adapter, _adapter_lock
    _adapter, _adapter_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)
