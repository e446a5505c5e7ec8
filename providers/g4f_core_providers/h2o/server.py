"""A local stand-in for gpt-gm.h2o.ai, the chat-ui site gpt4free's H2o provider talked to.

The site is gone, so the provider is built and tested against this emulator. It speaks the
protocol of ``shared/h2o-protocol.md`` section 5: Hugging Face chat-ui (mid-2023) in front of
text-generation-inference, whose server-sent events it passed through byte for byte.

Standard library only. Usage::

    with H2oEmulator() as emulator:          # serves http://localhost:<free port>
        emulator.faults.token_delay = 0.05   # faults may change between requests
        ...

Layout: ``_emulator_state`` (records, sessions, conversations), ``_emulator_web`` (chat-ui and
SvelteKit rules), ``_emulator_tgi`` (TGI validation, tokens and SSE encoding), and the HTTP
side: ``_emulator_wire`` (writing responses and streams, timing faults),
``_emulator_generate`` (the generation endpoint) and ``_emulator_handler`` (one handler per
connection: hook checks and the other routes). This module wires them into a threaded server.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from . import _emulator_tgi as tgi
from . import _emulator_web as web
from ._emulator_handler import Aborted, EmulatorHandler
from ._emulator_state import (
    DEFAULT_MODELS,
    Conversation,
    EmulatorState,
    Faults,
    RecordedRequest,
    StoredMessage,
)

__all__ = [
    "DEFAULT_MODELS",
    "Conversation",
    "Faults",
    "H2oEmulator",
    "RecordedRequest",
    "StoredMessage",
]

_JOIN_TIMEOUT = 5.0
HEAD_TIMEOUT = 20.0  # seconds a connection may take to send a request's head and body
MAX_CONNECTIONS = 256  # connections served at once (one thread each); more get a 503
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class _Server(socketserver.TCPServer):
    """A TCP server with one daemon thread per connection and every socket tracked.

    Tracking lets :meth:`H2oEmulator.stop` end idle keep-alive connections at once, and
    gives every connection a serial number for the request log. It is a server users run,
    so what a client can hold is bounded: at most ``max_connections`` threads (more are
    answered 503 at once), and ``head_timeout`` seconds for each request's head and body
    (an idle keep-alive connection included), after which the connection is shut.
    """

    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        family: socket.AddressFamily,
        state: EmulatorState,
        *,
        head_timeout: float = HEAD_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.address_family = family
        self.state = state
        self.head_timeout = head_timeout
        self.max_connections = max_connections
        self._lock = threading.Lock()
        self._sockets: dict[int, socket.socket] = {}
        self._threads: set[threading.Thread] = set()
        self._intake: dict[int, tuple[socket.socket, float]] = {}
        self.refused = 0  # connections answered 503 because max_connections were busy
        # The handler class is built per connection in process_request, not by TCPServer.
        super().__init__(address, socketserver.BaseRequestHandler)

    # -- the intake deadline (the Intake protocol of _emulator_handler) ------------------------

    def arm(self, connection: int, sock: socket.socket) -> None:
        with self._lock:
            self._intake[connection] = (sock, time.monotonic() + self.head_timeout)

    def disarm(self, connection: int) -> bool:
        with self._lock:
            return self._intake.pop(connection, None) is not None

    def service_actions(self) -> None:
        """Called by serve_forever between polls: shut connections past their intake deadline."""
        now = time.monotonic()
        with self._lock:
            late = [c for c, (_, until) in self._intake.items() if until <= now]
            socks = [self._intake.pop(c)[0] for c in late]
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def process_request(self, request: Any, client_address: Any) -> None:
        sock: socket.socket = request
        if self.state.stopping.is_set():
            self.shutdown_request(sock)
            return
        with self._lock:
            busy = len(self._threads) >= self.max_connections
        if busy:
            self.refused += 1
            with contextlib.suppress(OSError):
                sock.settimeout(0.5)
                sock.sendall(_BUSY)
            self.shutdown_request(sock)
            return
        connection = self.state.connection_opened()
        with contextlib.suppress(OSError):  # Nagle would hold back small SSE chunks
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        thread = threading.Thread(
            target=self._serve_connection,
            args=(sock, client_address, connection),
            name=f"h2o-emulator-connection-{connection}",
            daemon=True,
        )
        with self._lock:
            self._sockets[connection] = sock
            self._threads.add(thread)
        thread.start()

    def _serve_connection(self, sock: socket.socket, address: Any, connection: int) -> None:
        try:
            EmulatorHandler(
                sock, address, self, state=self.state, connection=connection, intake=self
            )
        except (OSError, Aborted):
            pass  # the peer left, the emulator stopped, or a drop fault fired: just close
        except Exception:  # noqa: BLE001 - a handler bug must not kill the serving thread
            self.handle_error(sock, address)
        finally:
            self.shutdown_request(sock)
            with self._lock:
                self._sockets.pop(connection, None)
                self._threads.discard(threading.current_thread())
            self.disarm(connection)
            self.state.connection_closed(connection)

    def close_connections(self) -> None:
        """Shut down every open connection so blocked reads and writes return at once."""
        with self._lock:
            sockets = list(self._sockets.values())
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def join_connections(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:  # stragglers past the deadline: close their sockets for them
            leftovers = list(self._sockets.values())
        for sock in leftovers:
            with contextlib.suppress(OSError):
                sock.close()


class H2oEmulator:
    """gpt-gm.h2o.ai on loopback: start it, point a client at :attr:`url`, inspect, stop."""

    def __init__(
        self,
        host: str = "localhost",
        port: int = 0,
        *,
        models: Sequence[str] = DEFAULT_MODELS,
        max_input_length: int = 2048,
        faults: Faults | None = None,
        head_timeout: float = HEAD_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self._host = host
        self._port = port
        self._head_timeout, self._max_connections = head_timeout, max_connections
        self._state = EmulatorState(tuple(models), max_input_length, faults or Faults())
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://<host>:<port>``, with the host name as given (cookies need a name)."""
        if self._url is None:
            raise RuntimeError("the emulator has no address until start()")
        return self._url

    def _bind(self) -> _Server:
        with self._lock:
            if self._server is not None:
                raise RuntimeError("the emulator is already running")
            bind_host = "127.0.0.1" if self._host == "localhost" else self._host
            family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
            self._state.stopping.clear()
            server = _Server(
                (bind_host, self._port),
                family,
                self._state,
                head_timeout=self._head_timeout,
                max_connections=self._max_connections,
            )
            port = server.server_address[1]
            shown = f"[{self._host}]" if ":" in self._host else self._host
            self._url = f"http://{shown}:{port}"
            self._state.origin = web.origin_of(self._url)
            self._server = server
            return server

    def start(self) -> str:
        """Serve from a daemon thread; returns the URL."""
        server = self._bind()
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="h2o-emulator",
            daemon=True,
        )
        with self._lock:
            self._thread = thread
        thread.start()
        return self.url

    def stop(self) -> None:
        """Stop accepting, end open connections (even idle keep-alive ones) and join threads."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        self._state.stopping.set()
        if thread is not None:
            server.shutdown()
            thread.join(_JOIN_TIMEOUT)
        server.close_connections()
        server.server_close()
        server.join_connections(_JOIN_TIMEOUT)

    def __enter__(self) -> H2oEmulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- inspection and control ------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        """The live fault switches; each request reads them when it arrives."""
        return self._state.faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self._state.faults = value

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in arrival order (the live list; appended under a lock)."""
        return self._state.requests

    @property
    def models(self) -> tuple[str, ...]:
        return self._state.models

    @property
    def connections_refused(self) -> int:
        """Connections answered 503 because ``max_connections`` were being served."""
        server = self._server
        return server.refused if server is not None else 0

    @property
    def connections_opened(self) -> int:
        return self._state.counts()[0]

    @property
    def connections_closed(self) -> int:
        return self._state.counts()[1]

    def wait_for_close(self, connection: int, timeout: float) -> bool:
        """True once the server saw that connection end: proof a client released its socket."""
        return self._state.wait_for_close(connection, timeout)

    def reply_for(self, inputs: str, model: str) -> list[str]:
        """The tokens a generation would stream before any max_new_tokens cut: the scripted
        tokens if :attr:`Faults.script` is set, else the deterministic echo reply."""
        script = self._state.faults.script
        return list(script) if script is not None else tgi.reply_tokens(inputs, model)

    @property
    def conversations(self) -> dict[str, Conversation]:
        """A snapshot of the live conversations by id."""
        return self._state.conversations()

    def conversation_ids(self) -> list[str]:
        return list(self._state.conversations())

    def reset(self) -> None:
        """Forget requests, sessions and conversations; faults back to defaults (in place)."""
        self._state.reset()
