"""A scripted raw-socket HTTP/1.1 server for fault tests: exact bytes, exact timing, abrupt ends.

    with RawServer([[head(), chunk(b"data: x\\n\\n"), 5.0]]) as server:
        ...                                  # talk to server.url
    assert server.requests[0].path == "/chat"
    assert server.wait_closed(server.requests[0].connection, 1.0)

The n-th request is answered with the n-th script (the last one repeats), or with what a
callable returns for the request. A script is an iterable of steps (an iterator, even an
endless one, is played once; a request that gets it again gets its remaining steps):

``bytes``
    sent as they are (``sendall``); chunked framing is written by hand with :func:`chunk`.
``float``/``int``
    a pause of that many seconds, during which a client hang-up is noticed at once.
:data:`CLOSE` / :data:`RESET`
    end the connection now with a FIN, or abort it with an RST.
:data:`HOLD`
    send nothing more and keep the connection open until the client leaves.

A script that runs to its end leaves the connection open for the next request (keep-alive).
Every connection is recorded with the times it was accepted and closed and who closed it, so
a test can prove the client released its socket. The server runs in daemon threads on
127.0.0.1, port 0 (TLS too, given an ``ssl.SSLContext``), and always stops by itself once
``lifetime`` seconds have passed.

Also here: response builders (:func:`head`, :func:`chunk`, :func:`sse`, :func:`reply`),
:func:`chat_ui_site` (the H2o provider's four-request flow, with the generation answer
scripted), TGI events (:func:`tgi_stream`), ``Raw`` (:func:`raw_provider`, a minimal
OpenAI-like provider for faults H2o's flow cannot show), and addresses that refuse
(:func:`closed_port`) or never complete a connect (:func:`backlog_full_listener`).
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import overload

__all__ = [
    "CLOSE",
    "CONVERSATION_ID",
    "HOLD",
    "LAST_CHUNK",
    "RAW_PROVIDER",
    "RESET",
    "Connection",
    "RawServer",
    "Request",
    "Script",
    "Step",
    "backlog_full_listener",
    "chat_ui_site",
    "chunk",
    "closed_port",
    "done_stream",
    "head",
    "is_generation",
    "raw_provider",
    "reply",
    "sse",
    "tgi_event",
    "tgi_stream",
]


class _Action:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


CLOSE = _Action("CLOSE")  # end the connection with a FIN, mid-body or not
RESET = _Action("RESET")  # abort the connection with an RST
HOLD = _Action("HOLD")  # send nothing more; wait for the client to leave

Step = bytes | float | int | _Action
Script = Sequence[Iterable[Step]] | Callable[["Request"], Iterable[Step]]
LAST_CHUNK = b"0\r\n\r\n"


@dataclass(frozen=True)
class Request:
    """One request as the server read it (headers with lower-case names)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    connection: int
    at: float


@dataclass
class Connection:
    """One accepted connection; times are ``time.monotonic()`` values."""

    id: int
    accepted_at: float
    closed_at: float | None = None
    closed_by: str | None = None  # "client", "server" (a CLOSE/RESET step) or "lifetime"
    bytes_sent: int = 0
    requests: int = 0
    tls_failed: bool = False  # the TLS handshake failed (the client refused the certificate)
    closed: threading.Event = field(default_factory=threading.Event, repr=False)


class _ClientLeft(Exception):
    """The client closed or reset the connection."""


class RawServer:
    """A loopback server playing scripts byte for byte; a context manager."""

    def __init__(
        self, script: Script, *, lifetime: float = 10.0, tls: ssl.SSLContext | None = None
    ) -> None:
        self._script = script
        self._lifetime = lifetime
        self._tls = tls
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: dict[int, socket.socket] = {}
        self._listener: socket.socket | None = None
        self._deadline = 0.0
        self.requests: list[Request] = []
        self.connections: list[Connection] = []

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> RawServer:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.settimeout(0.05)
        self._listener = listener
        self._port = int(listener.getsockname()[1])
        self._deadline = time.monotonic() + self._lifetime
        thread = threading.Thread(target=self._accept_loop, name="rawserver-accept", daemon=True)
        self._threads.append(thread)
        thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, end every connection and join every thread (idempotent)."""
        self._stop.set()
        joined: set[threading.Thread] = {threading.current_thread()}
        while True:
            with self._lock:
                sockets = list(self._sockets.values())
                threads = [t for t in self._threads if t not in joined]
            if not threads:
                break
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            for thread in threads:
                thread.join(timeout=5)
                joined.add(thread)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> RawServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._listener is not None, "the server is not started"
        return self._port

    @property
    def url(self) -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    # -- inspection --------------------------------------------------------------------

    @property
    def accepted(self) -> int:
        with self._lock:
            return len(self.connections)

    def connection(self, number: int) -> Connection:
        with self._lock:
            return self.connections[number - 1]

    def wait_closed(self, number: int, timeout: float) -> bool:
        """True once connection ``number`` (1-based) has ended, whoever ended it."""
        return self.connection(number).closed.wait(timeout)

    def wait_client_left(self, number: int, timeout: float) -> bool:
        """True once connection ``number`` (1-based) has ended because the client closed it."""
        return self.wait_closed(number, timeout) and self.connection(number).closed_by == "client"

    def wait_all_closed(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        with self._lock:
            conns = list(self.connections)
        return all(c.closed.wait(max(0.0, end - time.monotonic())) for c in conns)

    def open_connections(self) -> int:
        with self._lock:
            return sum(1 for c in self.connections if not c.closed.is_set())

    def wait_requests(self, count: int, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if len(self.requests) >= count:
                    return True
            time.sleep(0.005)
        return False

    # -- serving -----------------------------------------------------------------------

    def _running(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self._deadline

    def _left(self) -> float:
        return self._deadline - time.monotonic()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while self._running():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                conn = Connection(len(self.connections) + 1, time.monotonic())
                self.connections.append(conn)
                self._sockets[conn.id] = sock
                thread = threading.Thread(
                    target=self._serve, args=(sock, conn), name=f"rawserver-{conn.id}", daemon=True
                )
                self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket, conn: Connection) -> None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(max(self._left(), 0.05))  # a client that stops reading cannot wedge us
        pending = bytearray()
        closed_by = "lifetime"
        try:
            if self._tls is not None:
                try:
                    sock = self._tls.wrap_socket(sock, server_side=True)
                except (ssl.SSLError, OSError):  # the client refused our certificate
                    conn.tls_failed = True
                    raise _ClientLeft from None
                with self._lock:
                    self._sockets[conn.id] = sock
            while self._running():
                request = self._read_request(sock, conn, pending)
                if request is None:
                    break
                ending = self._play(sock, conn, self._steps_for(request), pending)
                if ending is not None:
                    closed_by = ending
                    break
        except _ClientLeft:
            closed_by = "client"
        except OSError:
            closed_by = "client" if self._running() else "lifetime"
        finally:
            if closed_by == "lifetime" and conn.closed_by == "client":
                closed_by = "client"
            with contextlib.suppress(OSError):
                sock.close()
            with self._lock:
                self._sockets.pop(conn.id, None)
                conn.closed_at = conn.closed_at or time.monotonic()
                conn.closed_by = conn.closed_by or closed_by
            conn.closed.set()

    def _steps_for(self, request: Request) -> Iterator[Step]:
        script = self._script
        if callable(script):
            return iter(script(request))
        with self._lock:
            index = len(self.requests) - 1
        return iter(script[min(index, len(script) - 1)])

    def _client_closed(self, conn: Connection) -> None:
        with self._lock:
            if conn.closed_at is None:
                conn.closed_at = time.monotonic()
                conn.closed_by = "client"
        raise _ClientLeft

    def _receive(
        self, sock: socket.socket, conn: Connection, pending: bytearray, wait: float
    ) -> None:
        """Wait up to ``wait`` seconds for bytes; raise _ClientLeft when the client leaves."""
        buffered = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
        if not buffered:
            readable, _, _ = select.select([sock], [], [], max(wait, 0.0))
            if not readable:
                return
        try:
            data = sock.recv(65536)
        except ssl.SSLWantReadError:
            return
        except (ConnectionResetError, ConnectionAbortedError, ssl.SSLError):
            data = b""
        if not data:
            self._client_closed(conn)
        pending += data

    def _read_until(
        self, sock: socket.socket, conn: Connection, pending: bytearray, marker: bytes
    ) -> int | None:
        while marker not in pending:
            if not self._running():
                return None
            self._receive(sock, conn, pending, min(self._left(), 0.05))
        return pending.index(marker)

    def _read_request(
        self, sock: socket.socket, conn: Connection, pending: bytearray
    ) -> Request | None:
        end = self._read_until(sock, conn, pending, b"\r\n\r\n")
        if end is None:
            return None
        head_bytes = bytes(pending[:end])
        del pending[: end + 4]
        lines = head_bytes.decode("latin-1").split("\r\n")
        method, _, rest = lines[0].partition(" ")
        path = rest.rpartition(" ")[0]
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self._read_body(sock, conn, pending, headers)
        if body is None:
            return None
        request = Request(method, path, headers, body, conn.id, time.monotonic())
        with self._lock:
            self.requests.append(request)
            conn.requests += 1
        return request

    def _read_body(
        self, sock: socket.socket, conn: Connection, pending: bytearray, headers: Mapping[str, str]
    ) -> bytes | None:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = bytearray()
            while True:
                end = self._read_until(sock, conn, pending, b"\r\n")
                if end is None:
                    return None
                size = int(bytes(pending[:end]).split(b";")[0] or b"0", 16)
                del pending[: end + 2]
                while len(pending) < size + 2:
                    if not self._running():
                        return None
                    self._receive(sock, conn, pending, 0.05)
                body += pending[:size]
                del pending[: size + 2]
                if size == 0:
                    return bytes(body)
        length = int(headers.get("content-length", "0") or 0)
        while len(pending) < length:
            if not self._running():
                return None
            self._receive(sock, conn, pending, 0.05)
        body_bytes = bytes(pending[:length])
        del pending[:length]
        return body_bytes

    def _play(
        self, sock: socket.socket, conn: Connection, steps: Iterator[Step], pending: bytearray
    ) -> str | None:
        """Play one script; the reason the connection ended, or None to keep it open."""
        for step in steps:
            if not self._running():
                return "lifetime"
            if isinstance(step, bytes):
                try:
                    sock.sendall(step)
                except TimeoutError:
                    return "lifetime"
                except OSError:
                    self._client_closed(conn)
                conn.bytes_sent += len(step)
            elif step is CLOSE:
                self._mark_server_close(conn)
                return "server"
            elif step is RESET:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self._mark_server_close(conn)
                return "server"
            elif step is HOLD:
                while self._running():
                    self._receive(sock, conn, pending, min(self._left(), 0.05))
                return "lifetime"
            elif isinstance(step, int | float):
                end = time.monotonic() + step
                while self._running() and (left := end - time.monotonic()) > 0:
                    self._receive(sock, conn, pending, min(left, 0.05))
        return None

    def _mark_server_close(self, conn: Connection) -> None:
        with self._lock:
            if conn.closed_at is None:
                conn.closed_at = time.monotonic()
                conn.closed_by = "server"


# -- response building ----------------------------------------------------------------


def head(
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    *,
    ctype: str | None = "text/event-stream",
    framing: str = "chunked",
    length: int = 0,
) -> bytes:
    """A response head; ``framing`` is "chunked", "length" (with ``length``) or "close"."""
    lines = [f"HTTP/1.1 {status} Status"]
    if ctype is not None:
        lines.append(f"Content-Type: {ctype}")
    if framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
    elif framing == "length":
        lines.append(f"Content-Length: {length}")
    else:
        lines.append("Connection: close")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk, written by hand."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def sse(*payloads: object, ending: str = "\n", space: bool = False) -> bytes:
    """``data:`` events; a non-str payload is written as compact JSON in raw UTF-8 (as TGI).

    ``space`` writes ``data: `` (with the optional space most servers send) instead.
    """
    prefix = "data: " if space else "data:"
    out = []
    for payload in payloads:
        text = payload if isinstance(payload, str) else _dumps(payload)
        out.append(f"{prefix}{text}{ending}{ending}")
    return "".join(out).encode()


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def reply(
    status: int = 200,
    body: bytes | object = b"",
    *,
    ctype: str | None = "application/json",
    headers: Mapping[str, str] | None = None,
) -> list[Step]:
    """A complete Content-Length response; a non-bytes body is written as JSON."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return [head(status, headers, ctype=ctype, framing="length", length=len(data)) + data]


# -- addresses for connection faults ---------------------------------------------------


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def backlog_full_listener(fill: int = 8) -> Iterator[int]:
    """A loopback port whose accept queue is full, so new connects time out (SYNs dropped).

    ``listen(0)`` and never ``accept()``; a few non-blocking connects fill the queue.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        for _ in range(fill):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            fillers.append(sock)
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect(("127.0.0.1", port))
        time.sleep(0.05)
        yield port
    finally:
        for sock in fillers:
            sock.close()
        listener.close()


# -- a chat-ui site (the H2o provider's server) -----------------------------------------

CONVERSATION_ID = "64b7f0c2a1b2c3d4e5f60718"


def tgi_event(text: str, *, final: str | None = None, special: bool = False) -> dict[str, object]:
    """One text-generation-inference stream event; ``final`` is the whole generated text."""
    token = {"id": 1, "text": text, "logprob": -0.5, "special": special}
    return {"token": token, "generated_text": final, "details": None}


def tgi_stream(*tokens: str, final: bool = True, ending: str = "\n") -> bytes:
    """The SSE body TGI streams for ``tokens``, with its final event (an EOS) unless told not."""
    events: list[object] = [tgi_event(t) for t in tokens]
    if final:
        events.append(tgi_event("<|endoftext|>", final="".join(tokens), special=True))
    return sse(*events, ending=ending)


@overload
def chat_ui_site(
    generate: Sequence[Sequence[Step]], *, conversation: object = None
) -> Callable[[Request], Iterable[Step]]: ...


@overload
def chat_ui_site(
    generate: Callable[[Request], Iterable[Step]], *, conversation: object = None
) -> Callable[[Request], Iterable[Step]]: ...


def chat_ui_site(
    generate: Sequence[Sequence[Step]] | Callable[[Request], Iterable[Step]],
    *,
    conversation: object = None,
) -> Callable[[Request], Iterable[Step]]:
    """A script answering the H2o flow like chat-ui: settings, conversation, generate, delete.

    ``generate`` answers ``POST /conversation/{id}``: the n-th generation gets the n-th
    script (the last one repeats), or a callable decides. ``conversation`` replaces the
    JSON answer to ``POST /conversation``.
    """
    answer = {"conversationId": CONVERSATION_ID} if conversation is None else conversation
    generations = [0]
    lock = threading.Lock()

    def route(request: Request) -> Iterable[Step]:
        # By suffix: a base URL may carry its own path (and even a query) in front.
        if request.method == "POST" and request.path.endswith("/settings"):
            return reply(200, {"type": "redirect", "status": 303, "location": "/"})
        if request.method == "POST" and request.path.endswith("/conversation"):
            return reply(200, answer)
        if request.method == "DELETE":
            return reply(200, b"", ctype=None)
        if callable(generate):
            return generate(request)
        with lock:
            index = generations[0]
            generations[0] += 1
        return generate[min(index, len(generate) - 1)]

    return route


def is_generation(request: Request) -> bool:
    """``POST /conversation/{id}``: the request that carries the prompt."""
    return request.method == "POST" and "/conversation/" in request.path


# -- a minimal provider of the OpenAI-like kind, for faults H2o's flow cannot show -----

RAW_PROVIDER = """
import json

from g4f_core import Client, ProviderConnectionError, ProviderResponseError, current

url = "http://127.0.0.1:9"
models = ["raw-1"]
supports_stream = SUPPORTS_STREAM
needs_auth = NEEDS_AUTH


def _create_completion(model, messages, stream, **kwargs):
    http = Client(current())
    events = None
    try:
        auth = http.context.auth
        headers = {"Authorization": f"Bearer {auth}"} if auth else {}
        body = {"model": model, "messages": messages, "stream": True}
        response = http.request("POST", "/v1/chat", json=body, headers=headers, stream=True)
        events = http.events(response)
        for data in events:
            if data == "[DONE]":
                http.finish(response)
                return
            try:
                event = json.loads(data)
            except (ValueError, RecursionError):
                event = None
            if not isinstance(event, dict):
                raise ProviderResponseError("malformed event", provider="Raw")
            if "error" in event:
                raise ProviderResponseError("the stream reported an error", provider="Raw")
            token = event.get("token")
            if not isinstance(token, str):
                raise ProviderResponseError("an event carried no token", provider="Raw")
            yield token
        raise ProviderConnectionError("the stream ended before [DONE]", provider="Raw")
    finally:
        if events is not None:
            events.close()
        http.close()
"""


def raw_provider(*, needs_auth: bool = False, supports_stream: bool = True) -> str:
    """The source of ``Raw``: POST /v1/chat, ``data: {"token": ...}`` events, ``[DONE]``."""
    source = RAW_PROVIDER.replace("NEEDS_AUTH", repr(needs_auth))
    return source.replace("SUPPORTS_STREAM", repr(supports_stream))


def done_stream(*tokens: str, done: bool = True) -> bytes:
    """What ``Raw`` expects: one ``{"token": t}`` event per token, then ``[DONE]``."""
    body = sse(*({"token": t} for t in tokens))
    return body + (b"data: [DONE]\n\n" if done else b"")
