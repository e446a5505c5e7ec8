"""Opening a connection within a bound: name resolution and every address tried share it.

``socket.create_connection`` (and urllib3's copy of it) applies the connect timeout to
each address a name resolves to, so a host with five unreachable addresses waits five
timeouts, and ``getaddrinfo`` has no timeout at all. Here the whole of it ends by one
moment (the request's ``expiry``, which is the timeout cut by the call's deadline): each
address gets what is left, and a name is resolved in a worker thread that is waited
for only until then. A resolver that hangs keeps its thread (it cannot be interrupted),
so at most :data:`MAX_LOOKUPS` lookups run at once; a call finding them all stuck waits
for one to free up, again only until its bound.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["MAX_LOOKUPS", "ResolveTimeout", "connect", "resolve"]

MAX_LOOKUPS = 8
AddrInfo = tuple[Any, ...]
_lookups = threading.BoundedSemaphore(MAX_LOOKUPS)


def _fresh_lookups() -> None:
    """A forked child has none of its parent's lookup threads: all slots are free."""
    global _lookups
    _lookups = threading.BoundedSemaphore(MAX_LOOKUPS)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_lookups)


class ResolveTimeout(TimeoutError):
    """Name resolution did not finish in time."""


def resolve(host: str, port: int, family: int, until: float) -> list[AddrInfo]:
    """``getaddrinfo(host, port)`` for a stream socket, given up at ``until`` (monotonic)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:  # a literal address needs no resolver: answered at once, no thread
        return socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    if not _lookups.acquire(timeout=max(until - time.monotonic(), 0.0)):
        raise ResolveTimeout(f"every resolver slot is taken by a lookup that hangs ({host})")
    slots = _lookups
    box: list[Any] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            box.append(socket.getaddrinfo(host, port, family, socket.SOCK_STREAM))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box.append(exc)
        finally:
            slots.release()
            done.set()

    threading.Thread(target=lookup, name="g4f-core-resolve", daemon=True).start()
    if not done.wait(max(until - time.monotonic(), 0.0)):
        raise ResolveTimeout("resolving the host name did not finish in time")
    result = box[0]
    if isinstance(result, BaseException):
        raise result
    return list(result)


def connect(
    address: tuple[str, int],
    timeout: float | None,
    until: float,
    *,
    family: int = socket.AF_UNSPEC,
    source_address: tuple[str, int] | None = None,
    options: Sequence[tuple[int, int, Any]] | None = None,
) -> socket.socket:
    """A connected socket to one of ``address``'s addresses, all tried by ``until``.

    Each address gets ``timeout`` or what is left, the lesser; the socket leaves with
    ``timeout`` set, as ``socket.create_connection`` leaves it.
    """
    host, port = address
    host = host.strip("[]")
    error: OSError | None = None
    for af, socktype, proto, _name, sockaddr in resolve(host, port, family, until):
        left = until - time.monotonic()
        if left <= 0:
            break
        sock = socket.socket(af, socktype, proto)
        try:
            for option in options or ():
                sock.setsockopt(*option)
            sock.settimeout(left if timeout is None else min(timeout, left))
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
        except OSError as exc:
            error = exc
            sock.close()
            continue
        sock.settimeout(timeout)
        return sock
    if time.monotonic() >= until:
        raise TimeoutError("connecting did not finish in time (every address tried shares it)")
    raise error or OSError(f"{host} resolved to no address")
