"""Loopback stand-ins the conformance suite puts between a provider and its upstream.

One :class:`Relay` class, three modes, all on ``127.0.0.1`` and served by one thread:

- a **pass-through** in front of an emulator (``target=(host, port)``): it sees every
  connection the provider opens, notices when the provider lets one go, and can
  :meth:`~Relay.hold` the server's bytes to simulate an upstream that stalls mid-reply;
- a **silent server** (no target, no reply): it accepts connections, reads whatever
  arrives and never answers, so it is both a stalled upstream and a tripwire that counts
  connections ("bad input must open none");
- a **canned reply** (``reply=b"HTTP/1.1 500 ..."``): every request gets the same answer.

Working at the TCP level keeps the suite independent of each emulator's own knobs: any
emulator can be stalled, counted and watched, whatever protocol it speaks.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

__all__ = ["Link", "Relay", "closed_port_url", "http_reply"]

_TICK = 0.02
_READ = 64 << 10
_SEND_TIMEOUT = 5.0


class Link:
    """One client connection through the relay, with what the relay saw of it."""

    def __init__(self, number: int, client: socket.socket, upstream: socket.socket | None) -> None:
        self.number = number
        self.client = client
        self.upstream = upstream
        self.opened = time.monotonic()
        self.last_down: float | None = None  # when the server last sent bytes to the client
        self.held = False
        self.request = b""  # what the client sent, kept only in canned-reply mode
        self.client_closed = threading.Event()  # the client hung up (or reset)
        self.closed_at: float | None = None  # time.monotonic() when the client hung up
        self.ended = threading.Event()  # either side ended it

    def __repr__(self) -> str:
        return f"<Link {self.number} ended={self.ended.is_set()} held={self.held}>"


class Relay:
    """A loopback TCP server: pass-through, silent server or canned reply (see module doc)."""

    def __init__(
        self, target: tuple[str, int] | None = None, *, reply: bytes | None = None
    ) -> None:
        self.target = target
        self.reply = reply
        self._links: list[Link] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._selector: selectors.BaseSelector | None = None
        self.port = 0

    @classmethod
    def before(cls, url: str) -> Relay:
        """A started pass-through in front of the server at ``url``."""
        parts = urlsplit(url)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"cannot relay to {url!r}: it names no host and port")
        relay = cls((parts.hostname, parts.port))
        relay.start()
        return relay

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.setblocking(False)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._serve, name="g4f-relay", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        """Stop serving and close every socket; blocked clients see the connection end."""
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join(_SEND_TIMEOUT + 1)
        self._thread = None

    def __enter__(self) -> Relay:
        if self._thread is None:
            self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- what the tests read -------------------------------------------------------------

    def url(self, like: str | None = None) -> str:
        """The relay's URL; with ``like``, that URL with its port swapped for the relay's.

        Keeping the host name (``localhost``) keeps cookies and same-origin checks working.
        """
        if like is None:
            return f"http://127.0.0.1:{self.port}"
        parts = urlsplit(like)
        host = parts.hostname or "127.0.0.1"
        netloc = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    @property
    def links(self) -> list[Link]:
        with self._lock:
            return list(self._links)

    @property
    def connections(self) -> int:
        """How many connections clients have opened so far."""
        return len(self.links)

    def busiest(self) -> Link | None:
        """The open link the server wrote to last: the one carrying a stream in progress."""
        live = [link for link in self.links if not link.ended.is_set() and link.last_down]
        return max(live, key=lambda link: link.last_down or 0.0, default=None)

    def hold(self) -> None:
        """Stop passing the server's bytes on open links: an upstream stalled mid-reply.

        Connections opened later are not held, so clean-up requests still get through.
        """
        with self._lock:
            for link in self._links:
                link.held = True

    # -- the serving thread --------------------------------------------------------------

    def _serve(self) -> None:
        selector = self._selector
        assert selector is not None
        try:
            while not self._stopping.is_set():
                for key, _ in selector.select(_TICK):
                    if key.data is None:
                        self._accept()
                    else:
                        link, from_client = key.data
                        self._pump(link, from_client)
                self._apply_holds()
        finally:
            for link in self.links:
                self._end(link, client_closed=False)
            selector.close()
            if self._listener is not None:
                self._listener.close()

    def _accept(self) -> None:
        assert self._listener is not None and self._selector is not None
        try:
            client, _ = self._listener.accept()
        except OSError:
            return
        client.setblocking(True)
        client.settimeout(_SEND_TIMEOUT)
        with contextlib.suppress(OSError):
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        upstream = None
        if self.target is not None:
            try:
                upstream = socket.create_connection(self.target, timeout=_SEND_TIMEOUT)
                upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                client.close()
                return
        with self._lock:
            link = Link(len(self._links) + 1, client, upstream)
            self._links.append(link)
        self._selector.register(client, selectors.EVENT_READ, (link, True))
        if upstream is not None:
            self._selector.register(upstream, selectors.EVENT_READ, (link, False))

    def _apply_holds(self) -> None:
        assert self._selector is not None
        for link in self.links:
            upstream = link.upstream
            if link.held and upstream is not None and not link.ended.is_set():
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(upstream)

    def _pump(self, link: Link, from_client: bool) -> None:
        source = link.client if from_client else link.upstream
        assert source is not None
        try:
            data = source.recv(_READ)
        except OSError:
            data = b""
        if not data:
            self._end(link, client_closed=from_client)
            return
        try:
            if from_client:
                self._from_client(link, data)
            elif not link.held:
                link.last_down = time.monotonic()
                link.client.sendall(data)
        except OSError:
            self._end(link, client_closed=not from_client)

    def _from_client(self, link: Link, data: bytes) -> None:
        if link.upstream is not None:
            link.upstream.sendall(data)
        elif self.reply is not None:
            link.request += data
            if _request_complete(link.request):
                link.client.sendall(self.reply)
                self._end(link, client_closed=False)
        # a silent server reads and drops what arrives

    def _end(self, link: Link, *, client_closed: bool) -> None:
        if link.ended.is_set():
            return
        if client_closed:
            link.closed_at = time.monotonic()
            link.client_closed.set()
        link.ended.set()
        for sock in (link.client, link.upstream):
            if sock is None:
                continue
            if self._selector is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(sock)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def _request_complete(data: bytes) -> bool:
    """Whether ``data`` holds a whole HTTP request (headers, and a Content-Length body)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return len(body) >= int(value.strip())
            except ValueError:
                return True
    return True


def http_reply(status: int, reason: str, body: bytes, content_type: str) -> bytes:
    """A whole HTTP/1.1 response that closes the connection."""
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connecting to it is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
