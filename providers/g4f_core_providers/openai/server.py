"""A loopback emulator of the OpenAI chat-completions API, for tests, the conformance suite,
benchmarks and trying a configured endpoint offline (``g4f-core emulate NAME``).

Standard library only. It serves ``POST /v1/chat/completions`` (also without ``/v1``)
and ``GET /v1/models``; streams are chunked HTTP/1.1 with one write per event, as real
servers flush them, and connections are kept alive. :attr:`OpenAIEmulator.behaviour`
switches the variants and failures (see ``_emulator_replies.Behaviour``)::

    with OpenAIEmulator(models=["m"]) as emulator:      # http://localhost:<port>/v1
        emulator.behaviour.framing = "crlf"
        ...
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import socketserver
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from ._emulator_replies import (
    Behaviour,
    Reply,
    RequestError,
    check_request,
    error_body,
    stream_events,
    whole,
)

__all__ = ["Behaviour", "OpenAIEmulator", "Recorded"]

_MAX_BODY = 8 << 20
_KEEP = 200  # recorded requests kept


@dataclass(frozen=True)
class Recorded:
    """One request as the emulator saw it (headers lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class _State:
    models: tuple[str, ...]
    require_auth: bool
    behaviour: Behaviour = field(default_factory=Behaviour)
    requests: list[Recorded] = field(default_factory=list)
    serial: int = 0
    failures: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, entry: Recorded) -> int:
        with self.lock:
            self.requests.append(entry)
            del self.requests[:-_KEEP]
            self.serial += 1
            return self.serial

    def should_fail(self) -> bool:
        behaviour = self.behaviour
        if behaviour.fail_status is None:
            return False
        with self.lock:
            if behaviour.fail_times is not None and self.failures >= behaviour.fail_times:
                return False
            self.failures += 1
            return True


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: an emulator prints nothing per request."""

    def do_GET(self) -> None:
        state = self.server.state
        state.record(Recorded("GET", self.path, _lower(self.headers), None))
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            data = [
                {"id": m, "object": "model", "owned_by": "g4f-core-emulator"} for m in state.models
            ]
            self._send(
                200, json.dumps({"object": "list", "data": data}).encode(), "application/json"
            )
        else:
            self._error(404, f"no route GET {self.path.split('?')[0]}", "invalid_request_error")

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("content-length") or 0)
        if length > _MAX_BODY:
            self._error(413, "the request body is too large", "invalid_request_error")
            self.close_connection = True
            return
        raw = self.rfile.read(length)
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        serial = state.record(Recorded("POST", self.path, _lower(self.headers), body))
        if self.path.split("?")[0].rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._error(404, f"no route POST {self.path.split('?')[0]}", "invalid_request_error")
            return
        behaviour = state.behaviour
        if state.require_auth and not _bearer(self.headers.get("authorization")):
            self._error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
            return
        if state.should_fail():
            status = behaviour.fail_status or 500
            self._error(
                status, behaviour.error_message, "server_error", shape=behaviour.error_shape
            )
            return
        try:
            reply = check_request(body, state.models, behaviour)
        except RequestError as exc:
            self._error(exc.status, exc.message, exc.kind, exc.code, shape=behaviour.error_shape)
            return
        if reply.stream:
            self._stream(reply, serial, behaviour)
        else:
            self._send(200, whole(reply, serial), "application/json")

    def _stream(self, reply: Reply, serial: int, behaviour: Behaviour) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        send, stopping, delay = (
            self.connection.sendall,
            self.server.state.stopping,
            behaviour.token_delay,
        )
        chunked: dict[bytes, bytes] = {}
        for kind, data in stream_events(reply, serial, behaviour):
            if kind == "abort":
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if kind == "token" and delay and stopping.wait(delay):
                return
            out = chunked.get(data)
            if out is None:
                out = chunked[data] = b"%x\r\n%s\r\n" % (len(data), data)
            send(out)  # one event, one write: as real servers flush them
        send(b"0\r\n\r\n")

    def _send(
        self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(
        self,
        status: int,
        message: str,
        kind: str,
        code: str | None = None,
        *,
        shape: str = "openai",
    ) -> None:
        body, ctype = error_body(shape, status, message, kind, code)
        retry = self.server.state.behaviour.retry_after
        headers = {"Retry-After": retry} if retry and status in (429, 503) else {}
        self._send(status, body, ctype, headers)


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _bearer(value: str | None) -> bool:
    return bool(value and value.startswith("Bearer ") and value[len("Bearer ") :].strip())


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """One daemon thread per connection; every socket tracked so stop() can end them."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], family: socket.AddressFamily, state: _State
    ) -> None:
        self.address_family = family
        self.state = state
        self.sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with contextlib.suppress(OSError):  # Nagle would hold back small events
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.sockets_lock:
            self.sockets.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.sockets_lock:
                self.sockets.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that left mid-reply is normal here; nothing is printed."""

    def close_connections(self) -> None:
        with self.sockets_lock:
            sockets = list(self.sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class OpenAIEmulator:
    """The chat-completions API on loopback: start it, point a provider at :attr:`url`."""

    def __init__(
        self,
        host: str = "localhost",
        port: int = 0,
        *,
        models: Sequence[str] = ("gpt-4o-mini",),
        token_delay: float = 0.0,
        require_auth: bool = False,
        behaviour: Behaviour | None = None,
    ) -> None:
        self._host, self._port = host, port
        self._state = _State(tuple(models), require_auth, behaviour or Behaviour())
        if token_delay:
            self._state.behaviour.token_delay = token_delay
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """``http://<host>:<port>/v1``: the base URL a provider is pointed at."""
        if self._url is None:
            raise RuntimeError("the emulator has no address until start() or serve_forever()")
        return self._url

    @property
    def behaviour(self) -> Behaviour:
        return self._state.behaviour

    @behaviour.setter
    def behaviour(self, value: Behaviour) -> None:
        self._state.behaviour = value

    @property
    def requests(self) -> list[Recorded]:
        """The last requests received, oldest first."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def models(self) -> tuple[str, ...]:
        return self._state.models

    def _bind(self) -> _Server:
        with self._lock:
            if self._server is not None:
                raise RuntimeError("the emulator is already running")
            bind = "127.0.0.1" if self._host == "localhost" else self._host
            family = socket.AF_INET6 if ":" in bind else socket.AF_INET
            self._state.stopping.clear()
            server = _Server((bind, self._port), family, self._state)
            shown = f"[{self._host}]" if ":" in self._host else self._host
            self._url = f"http://{shown}:{server.server_address[1]}/v1"
            self._server = server
            return server

    def start(self) -> str:
        """Serve from a daemon thread; returns :attr:`url`."""
        server = self._bind()
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
            name="openai-emulator",
        )  # fmt: skip
        self._thread = thread
        thread.start()
        return self.url

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        server = self._bind()
        try:
            server.serve_forever(poll_interval=0.05)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop accepting and end every open connection, idle keep-alive ones included."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        self._state.stopping.set()
        if thread is not None:
            server.shutdown()
            thread.join(5.0)
        server.close_connections()
        server.server_close()

    def __enter__(self) -> OpenAIEmulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
