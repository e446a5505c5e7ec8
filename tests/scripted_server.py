"""A tiny threaded HTTP/1.1 server on loopback whose replies a test scripts.

    with ScriptedServer([Reply(500), Reply.sse("Hel", "lo")]) as server:
        ...  # talk to server.url
    assert server.connections == 1
    assert [r.path for r in server.requests] == ["/chat", "/chat"]

Each request takes the next scripted reply (the last one repeats), or the reply a
callable returns. A reply may wait before its status line, pause between body
chunks, and hold a stream open to see whether the client hangs up. The server
records every request, counts accepted connections, and stops on leaving the
``with`` block or by itself after ``lifetime`` seconds; stopping never waits for a
scripted delay to run out.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Reply", "Request", "Script", "ScriptedServer", "closed_port"]


@dataclass(frozen=True)
class Reply:
    """What the server answers to one request."""

    status: int = 200
    chunks: Sequence[bytes] = (b"ok",)
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line
    chunk_delay: float = 0.0  # seconds before each chunk after the first
    hold: float = 0.0  # keep the body open this long after the last chunk, never ending it

    @property
    def chunked(self) -> bool:
        return len(self.chunks) != 1 or self.hold > 0 or self.chunk_delay > 0

    @classmethod
    def text(cls, body: str, status: int = 200, **kwargs: Any) -> Reply:
        headers = {"Content-Type": "text/plain; charset=utf-8", **kwargs.pop("headers", {})}
        return cls(status, (body.encode(),), headers, **kwargs)

    @classmethod
    def json(cls, obj: object, status: int = 200, **kwargs: Any) -> Reply:
        headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
        return cls(status, (json.dumps(obj).encode(),), headers, **kwargs)

    @classmethod
    def sse(cls, *data: str, **kwargs: Any) -> Reply:
        """One server-sent event per ``data`` string, each in its own chunk."""
        headers = {"Content-Type": "text/event-stream", **kwargs.pop("headers", {})}
        chunks = tuple(f"data: {d}\n\n".encode() for d in data)
        return cls(200, chunks, headers, **kwargs)


@dataclass(frozen=True)
class Request:
    """One request as the server received it."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


Script = Reply | Sequence[Reply] | Callable[[Request], Reply]
_DEFAULT = Reply()


class ScriptedServer:
    """A loopback HTTP/1.1 server answering with scripted replies; a context manager."""

    def __init__(self, script: Script = _DEFAULT, *, lifetime: float = 30.0) -> None:
        self._script = script
        self._lifetime = lifetime
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sockets: list[socket.socket] = []
        self.requests: list[Request] = []
        self.connections = 0
        self.disconnects = 0  # held streams the client hung up on
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "the server is not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ScriptedServer:
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self._timer = threading.Timer(self._lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop accepting, hang up every connection and wait for the handler threads."""
        if self._stopping.is_set() or self._server is None:
            return
        self._stopping.set()
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.cancel()
        self._server.shutdown()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed by the handler
                sock.shutdown(socket.SHUT_RDWR)
        self._server.server_close()  # joins the handler threads
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
        """Poll ``predicate`` until it holds or ``timeout`` runs out."""
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                return False
            time.sleep(0.01)
        return True

    # -- called from the server threads --------------------------------------------------

    def _accepted(self, sock: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self._sockets.append(sock)

    def _reply_for(self, request: Request) -> Reply:
        with self._lock:
            index = len(self.requests)
            self.requests.append(request)
        script = self._script
        if isinstance(script, Reply):
            return script
        if callable(script):
            return script(request)
        return script[min(index, len(script) - 1)]

    def _hung_up(self) -> None:
        with self._lock:
            self.disconnects += 1


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() joins them
    block_on_close = True

    def __init__(self, owner: ScriptedServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        self.owner._accepted(sock)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client hanging up mid-reply is what several tests do on purpose


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # an idle keep-alive connection is closed after this
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(self.command, self.path, dict(self.headers.items()), body)
        reply = owner._reply_for(request)
        if reply.delay and owner._stopping.wait(reply.delay):
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(reply.chunks[0])))
        self.end_headers()
        for index, chunk in enumerate(reply.chunks):
            if index and reply.chunk_delay and owner._stopping.wait(reply.chunk_delay):
                self.close_connection = True
                return
            if not reply.chunked:
                self.wfile.write(chunk)
            elif chunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        if reply.hold:
            if self._client_hangs_up(reply.hold):
                owner._hung_up()
            self.close_connection = True
            return
        if reply.chunked:
            self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def _client_hangs_up(self, seconds: float) -> bool:
        """Whether the client closes the connection within ``seconds``."""
        end = time.monotonic() + seconds
        stopping = self.server.owner._stopping
        while not stopping.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return False
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            if readable:
                try:
                    return bool(self.connection.recv(1) == b"")
                except OSError:
                    return True
        return False


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
