"""Every internal of requests, urllib3 and http.client that g4f-core relies on, in one module.

The rest of the transport uses these only through the names below, and
``tests/test_adapter.py`` pins each internal with a test named after it, so an upgrade
that moves one fails a test that says which. The internals:

1. urllib3 ``HTTPResponse.connection.sock``: the socket a response is read from (for the
   watchdog), in :func:`socket_of`.
2. requests ``Response._content``: where ``.content``, ``.text`` and ``.json()`` find a
   body; :func:`store_body` puts a body read here (bounded) there.
3. urllib3 ``HTTPResponse._fp`` is the ``http.client.HTTPResponse``, whose ``fp`` is the
   buffered socket reader, whose ``chunked`` and ``chunk_left`` say how the body is framed
   and how much of it was read, and whose ``_close_conn()`` marks the body read; urllib3's
   ``release_conn()`` then returns the connection to the pool. :func:`body_of` reads a
   chunked body with them (see :class:`_Chunked` for why; chunked.py undoes the framing).
4. urllib3 ``HTTPConnection.getresponse``, the pools' ``ConnectionCls`` and the pool
   manager's ``pool_classes_by_scheme``: connections whose response heads are read under
   the watchdog and attached to the call's abort (:class:`WatchedAdapter`).
5. requests ``HTTPAdapter.proxy_manager`` (a dict by proxy URL) and ``proxy_manager_for``:
   proxy pools, watched too, and few.
6. urllib3's debug log: logger ``urllib3.connectionpool``, the request target among
   ``record.args`` (:class:`RedactTargets`).
7. http.client ``HTTPConnection.response_class``, ``HTTPResponse._read_status`` and
   ``http.client._read_headers``: responses that skip every interim (1xx) head, where
   http.client skips only ``100 Continue`` (:class:`_FinalResponse`).
8. http.client ``HTTPConnection.getresponse`` sets ``sock`` to None when the reply says
   ``Connection: close``: the socket is kept from before, for the watchdog (:func:`socket_of`).
9. urllib3 ``HTTPConnection._new_conn`` with ``_dns_host``, ``port``, ``timeout``,
   ``source_address`` and ``socket_options``: connections opened within the request's
   bound (connect.py), mapping failures to the errors urllib3 raises there.
10. urllib3 ``HTTPResponse.CONTENT_DECODERS`` (and ``util.request.ACCEPT_ENCODING`` for
    br/zstd): the content codings urllib3 undoes; it passes any other through as if it
    were identity (:func:`unknown_coding`).
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import sys
import weakref
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.util.connection import allowed_gai_family

from g4f_core.transport.abort import abort_scope
from g4f_core.transport.chunked import ChunkedError, Dechunker
from g4f_core.transport.connect import connect
from g4f_core.transport.watchdog import expiry, watched_read

__all__ = [
    "Body",
    "RedactTargets",
    "WatchedAdapter",
    "body_of",
    "socket_of",
    "store_body",
    "unknown_coding",
]

_Response = urllib3.response.HTTPResponse
_IDENTITY = ("", "identity")


#: The socket each response head was read from: http.client drops it from the connection
#: when the reply says ``Connection: close``, yet the body still arrives on it.
_sockets: weakref.WeakKeyDictionary[_Response, socket.socket] = weakref.WeakKeyDictionary()


def socket_of(response: requests.Response) -> socket.socket | None:
    """The socket the response's body arrives on, or None (then nothing can watch it)."""
    sock = _sockets.get(response.raw) if isinstance(response.raw, _Response) else None
    if sock is None:
        sock = getattr(getattr(response.raw, "connection", None), "sock", None)
    return sock if isinstance(sock, socket.socket) else None


def unknown_coding(response: requests.Response) -> bool:
    """Whether the reply names a content coding urllib3 would pass through undecoded."""
    value = response.headers.get("content-encoding", "")
    if not value:
        return False
    known = (*_Response.CONTENT_DECODERS, *_IDENTITY, *_optional_decoders())
    return any(part.strip().lower() not in known for part in value.split(","))


def _optional_decoders() -> tuple[str, ...]:
    """``br`` and ``zstd`` are decoded only when their packages are installed."""
    return tuple(urllib3.util.request.ACCEPT_ENCODING.replace(" ", "").split(","))


def store_body(response: requests.Response, body: bytes) -> None:
    """Make ``body`` the response's content, as requests' own non-streamed read would."""
    response._content = body


class Body:
    """A streamed body, read as the transport reads it: ``read(size)`` gives what has
    arrived (decoded, at most ``size`` bytes, b"" at the end); ``release()`` after the end
    returns the connection to the pool. This one is urllib3's ``read1``."""

    def __init__(self, response: requests.Response) -> None:
        self.sock = socket_of(response)
        self._raw: _Response = response.raw

    def read(self, size: int) -> bytes:
        data: bytes = self._raw.read1(size, decode_content=True)
        return data

    def release(self) -> None:
        """urllib3 has released the connection when read1 reached the end."""


class _Chunked(Body):
    """A chunked body read straight from http.client's buffer, every chunk of a read at once.

    Servers flush one chunk per token event, and http.client's ``read1`` stops at the end
    of each chunk, so urllib3's ``read1`` would cost one pass through urllib3 and
    http.client per event. Here one read takes everything that has arrived and
    :class:`~g4f_core.transport.chunked.Dechunker` strips the framing of all its chunks
    (with http.client's rules); failures are raised as urllib3 raises them.
    """

    def __init__(self, response: requests.Response, http_response: http.client.HTTPResponse):
        super().__init__(response)
        self._http = http_response
        self._fp: Any = http_response.fp
        self._chunks = Dechunker()
        self._released = False

    def read(self, size: int) -> bytes:
        chunks = self._chunks
        while not chunks.done:
            try:
                data = self._fp.read1(size)
            except TimeoutError as exc:
                raise ReadTimeoutError(None, None, "Read timed out.") from exc  # type: ignore[arg-type]
            except ssl.SSLError as exc:
                raise urllib3.exceptions.SSLError(exc) from exc
            except (OSError, http.client.HTTPException) as exc:
                raise ProtocolError(f"Connection broken: {exc!r}", exc) from exc
            if not data:
                if chunks.trailers:  # as http.client: some servers end without the last CRLF
                    chunks.done = True
                    break
                raise ProtocolError(
                    "Connection broken: IncompleteRead(the chunked body ended early)",
                    http.client.IncompleteRead(b"", chunks.left or None),
                )
            try:
                payload = chunks.feed(data)
            except ChunkedError as exc:
                raise ProtocolError(str(exc)) from exc
            if payload:
                return payload
        return b""

    def release(self) -> None:
        if self._chunks.done and not self._released:
            self._released = True
            self._http._close_conn()  # type: ignore[attr-defined]
            self._raw.release_conn()


_bodies: weakref.WeakKeyDictionary[requests.Response, Body] = weakref.WeakKeyDictionary()


def body_of(response: requests.Response) -> Body:
    """The reader of a streamed response's body: the same one each time it is asked for."""
    body = _bodies.get(response)
    if body is None:
        raw = response.raw
        http_response = getattr(raw, "_fp", None)
        encoding = raw.headers.get("content-encoding", "").strip().lower()
        fresh = (
            isinstance(http_response, http.client.HTTPResponse)
            and http_response.chunked
            and http_response.chunk_left is None
            and http_response.fp is not None
            and raw.tell() == 0
        )
        if fresh and encoding in _IDENTITY:
            assert isinstance(http_response, http.client.HTTPResponse)
            body = _Chunked(response, http_response)
        else:  # compressed, not chunked, or already partly read: urllib3 reads it
            body = Body(response)
        _bodies[response] = body
    return body


# --- connections whose heads are read under the watchdog ----------------------------------


MAX_INTERIM = 32  # interim heads skipped before a reply; more is a server gone wrong


class _FinalResponse(http.client.HTTPResponse):
    """http.client's response, skipping every interim head (RFC 9110 section 15.2).

    http.client skips only ``100 Continue`` and takes ``103 Early Hints`` (or any other
    1xx) for the whole reply, with no body: the connection would go back to the pool with
    the real reply still on it, for the next caller to read. ``101`` is never asked for;
    it is kept as the reply (an error to the caller) and its connection is never reused.
    """

    def _read_status(self) -> tuple[str, int, str]:
        for _ in range(MAX_INTERIM):
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if not 100 <= status < 200 or status == 101:
                return version, status, reason
            http.client._read_headers(self.fp)  # type: ignore[attr-defined]
        raise http.client.HTTPException(f"more than {MAX_INTERIM} interim (1xx) responses")

    def begin(self) -> None:
        super().begin()
        if self.status == 101:  # the connection speaks another protocol now
            self.will_close = True


def _watched_head(sock: socket.socket | None, read: Any) -> _Response:
    """Read a response head with the socket under the watchdog, until ``expiry``.

    The socket is attached to the call's abort meanwhile, so closing the call from
    another thread ends this wait at once (abort.py).
    """
    until = expiry.get()
    if until is None:
        response: _Response = read()
        return _remember(sock, response)
    abort = abort_scope.get()
    if abort is None:
        response, fired = watched_read(sock, until, read)
    else:
        abort.attach(sock)
        try:
            response, fired = watched_read(sock, until, read)
        finally:
            abort.detach(sock)
    if fired:  # the head was cut short: http.client may have taken the cut for its end
        response.close()
        raise TimeoutError("the response head did not arrive in time")
    return _remember(sock, response)


def _remember(sock: socket.socket | None, response: _Response) -> _Response:
    """Keep the socket the head was read from: the body arrives on it (see socket_of)."""
    if sock is not None:
        _sockets[response] = sock
    return response


def _new_conn(conn: urllib3.connection.HTTPConnection) -> socket.socket:
    """urllib3's ``_new_conn``, with resolution and every address within ``expiry``."""
    until = expiry.get()
    if until is None:  # not a g4f-core request: urllib3's own way
        return urllib3.connection.HTTPConnection._new_conn(conn)
    timeout = conn.timeout if isinstance(conn.timeout, int | float) else None
    try:
        sock = connect(
            (conn._dns_host, conn.port),
            timeout,
            until,
            family=allowed_gai_family(),
            source_address=conn.source_address,
            options=conn.socket_options,
        )
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    except TimeoutError as exc:
        raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out. ({exc})") from exc
    except OSError as exc:
        raise NewConnectionError(conn, f"Failed to establish a new connection: {exc}") from exc
    sys.audit("http.client.connect", conn, conn.host, conn.port)
    return sock


class _HTTPConnection(urllib3.connection.HTTPConnection):
    response_class = _FinalResponse

    def _new_conn(self) -> socket.socket:
        return _new_conn(self)

    def getresponse(self) -> _Response:  # type: ignore[override]  # as urllib3 declares it
        return _watched_head(self.sock, super().getresponse)


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    response_class = _FinalResponse

    def _new_conn(self) -> socket.socket:
        return _new_conn(self)

    def getresponse(self) -> _Response:  # type: ignore[override]  # as urllib3 declares it
        return _watched_head(self.sock, super().getresponse)


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


POOLS = {"http": _HTTPPool, "https": _HTTPSPool}
_MAX_PROXIES = 8


class WatchedAdapter(HTTPAdapter):
    """requests' adapter with watched pools, also behind a proxy, and few proxy pools."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.poolmanager.pool_classes_by_scheme = POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if hasattr(manager, "pool_classes_by_scheme"):
            manager.pool_classes_by_scheme = POOLS
        while len(self.proxy_manager) > _MAX_PROXIES:  # e.g. rotating proxy credentials
            oldest = next(iter(self.proxy_manager))
            self.proxy_manager.pop(oldest).clear()
        return manager


class RedactTargets(logging.Filter):
    """Hide request targets in urllib3's debug lines while a g4f-core request is sent.

    urllib3 logs ``"POST /path?query HTTP/1.1"``; a base URL may carry a key in its
    path or query. Other users of urllib3 in the process keep their full lines.
    """

    logger = "urllib3.connectionpool"

    def filter(self, record: logging.LogRecord) -> bool:
        if expiry.get() is not None and isinstance(record.args, tuple):
            record.args = tuple(
                "<target>" if isinstance(a, str) and (a.startswith("/") or "://" in a) else a
                for a in record.args
            )
        return True
