"""How the H2o emulator's answers reach the wire, apart from what they say.

Byte-exact, fault-injectable writing lives here: chunk boundaries, delays, stalls and abrupt
closes are decided in one place, one ``sendall`` per chunk.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler

from . import _emulator_tgi as tgi
from . import _emulator_web as web
from ._emulator_state import EmulatorState, Faults

_PAUSE_STEP = 0.02
Chunk = tuple[bytes, bool]  # (bytes, is a token event)


class Aborted(Exception):
    """Stop serving this connection: the emulator stops, the peer left, or a drop fault fired."""


class Responder(BaseHTTPRequestHandler):
    """The writing half of the handler; :class:`EmulatorHandler` sets these attributes."""

    state: EmulatorState
    session: str | None  # set once past the hook: responses then carry a cookie
    request_headers: dict[str, str]

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        """A complete response with Content-Length, so the connection stays reusable."""
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        if self.session is not None:
            self.send_header("Set-Cookie", web.session_cookie(self.session))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _kit_error(self, status: int, message: str) -> None:
        """A SvelteKit ``error()``: ``{"message"}`` JSON if Accept negotiates JSON, else HTML."""
        if web.error_as_json(self.request_headers.get("accept")):
            self._send(status, tgi.dumps({"message": message}).encode(), web.JSON_TYPE)
        else:
            self._send(status, web.error_page(status, message), web.HTML_TYPE)

    def _stream(
        self, headers: Sequence[tuple[str, str]], chunks: Sequence[Chunk], faults: Faults
    ) -> None:
        """A chunked 200 body with the timing faults applied between token events."""
        self.send_response(200)
        for name, value in headers:
            self.send_header(name, value)
        if self.session is not None:
            self.send_header("Set-Cookie", web.session_cookie(self.session))
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        written = 0
        stalled = False
        for data, is_token in chunks:
            if is_token:
                if faults.drop_after is not None and written >= faults.drop_after:
                    raise Aborted("drop_after fault")
                if faults.stall_after is not None and written == faults.stall_after:
                    stalled = True
                    self._pause(faults.stall_seconds)
                if faults.token_delay > 0:
                    self._pause(faults.token_delay)
            self._write_chunked(data, faults.chunk_size)
            written += is_token
        if faults.stall_after is not None and not stalled and written <= faults.stall_after:
            self._pause(faults.stall_seconds)
        if faults.drop_after is not None:
            raise Aborted("drop_after fault")  # every event sent, but never the last chunk
        self.wfile.write(b"0\r\n\r\n")

    def _write_chunked(self, data: bytes, chunk_size: int | None) -> None:
        step = chunk_size if chunk_size is not None and chunk_size > 0 else max(len(data), 1)
        for start in range(0, len(data), step):
            piece = data[start : start + step]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))

    def _pause(self, seconds: float) -> None:
        """Sleep, but notice the peer leaving or the emulator stopping, like a real server."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            if self.state.stopping.wait(min(remaining, _PAUSE_STEP)):
                raise Aborted("the emulator is stopping")
            if self._peer_closed():
                raise Aborted("the client closed the connection")

    def _peer_closed(self) -> bool:
        dontwait: int = getattr(socket, "MSG_DONTWAIT", 0)
        if not dontwait:
            return False  # no non-blocking peek on this platform: rely on write errors
        flags = socket.MSG_PEEK | dontwait
        try:
            data: bytes = self.connection.recv(1, flags)
        except BlockingIOError:
            return False
        except OSError:
            return True
        return data == b""
