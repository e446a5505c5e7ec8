"""The H2o emulator's request handler: intake, chat-ui's hook, routing and its small routes.

One class per connection, as http.server wants; the generation endpoint (``_emulator_generate``)
and byte-exact response writing (``_emulator_wire``) are mixed in from their own modules.
"""

from __future__ import annotations

import contextlib
import re
import socket
import socketserver
import urllib.parse
import uuid
from typing import Any, Protocol

from . import _emulator_tgi as tgi
from . import _emulator_web as web
from ._emulator_generate import GenerationRoute
from ._emulator_state import EmulatorState, RecordedRequest
from ._emulator_wire import Aborted

__all__ = ["MAX_BODY", "Aborted", "EmulatorHandler", "Intake"]

MAX_BODY = 8 * 1024 * 1024
_MAX_TRAILERS = 64
_CONVERSATION_PATH = re.compile(r"/conversation/([^/]+)")


class Intake(Protocol):
    """Bounds the time a connection may take to send one request's head and body."""

    def arm(self, connection: int, sock: socket.socket) -> None: ...

    def disarm(self, connection: int) -> bool:
        """Stop the clock; False if the deadline had already passed (the socket is shut)."""
        ...


class _TooLarge(Exception):
    """The request body is over MAX_BODY: answered 413 without reading it."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class EmulatorHandler(GenerationRoute):
    """One connection's requests; state lives in the shared :class:`EmulatorState`."""

    protocol_version = "HTTP/1.1"

    def __init__(
        self,
        request: socket.socket,
        client_address: Any,
        server: socketserver.BaseServer,
        *,
        state: EmulatorState,
        connection: int,
        intake: Intake,
    ) -> None:
        self.state = state
        self.connection_id = connection
        self.intake = intake
        self.session = None
        self.request_headers = {}
        super().__init__(request, client_address, server)

    def handle_one_request(self) -> None:
        """One request; its head and body must arrive within the intake deadline."""
        self.intake.arm(self.connection_id, self.connection)
        try:
            super().handle_one_request()
        finally:
            self.intake.disarm(self.connection_id)

    def version_string(self) -> str:
        return "h2o-emulator"

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the default logs every request to stderr, and tests run thousands."""

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_DELETE = do_PUT = do_PATCH = do_OPTIONS = do_GET

    # --- request intake --------------------------------------------------------------------

    def _dispatch(self) -> None:
        self.session = None
        path = urllib.parse.urlsplit(self.path).path or "/"
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            joiner = "; " if key == "cookie" else ", "
            headers[key] = f"{headers[key]}{joiner}{value}" if key in headers else value
        self.request_headers = headers
        try:
            body = self._read_body()
        except _TooLarge as exc:  # SvelteKit's BODY_SIZE_LIMIT answer; the body stays unread
            self.close_connection = True
            message = f"Content-length of {exc.size} exceeds limit of {MAX_BODY} bytes."
            self._kit_error(413, message)
            return
        if not self.intake.disarm(self.connection_id):
            raise Aborted("the request head and body took longer than the intake limit")
        sent = web.read_cookie(headers.get("cookie"))
        self.state.record(
            RecordedRequest(self.command, path, headers, body, sent, self.connection_id)
        )
        session = sent or str(uuid.uuid4())
        if self._hook_rejects(path, session):
            return
        self.session = session
        self._route(path, body, session)

    def _read_body(self) -> bytes:
        try:
            return self._read_framed_body()
        except ValueError as exc:  # a malformed length or chunk size: nothing sane to answer
            raise Aborted("malformed request framing") from exc

    def _read_framed_body(self) -> bytes:
        """The body, never more than MAX_BODY of it read, however it is framed."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size < 0:
                    raise ValueError("negative chunk size")
                if len(data) + size > MAX_BODY:  # refused before a byte of it is read
                    raise _TooLarge(len(data) + size)
                if size == 0:
                    for _ in range(_MAX_TRAILERS):
                        if self.rfile.readline(1024) in (b"\r\n", b"\n", b""):
                            return bytes(data)
                    raise Aborted("too many trailer lines")
                data += self._read_exact(size)
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise Aborted("negative Content-Length")
        if length > MAX_BODY:
            raise _TooLarge(length)
        return self._read_exact(length)

    def _read_exact(self, size: int) -> bytes:
        data = self.rfile.read(size)
        if len(data) != size:
            raise Aborted("the client closed while sending its body")
        return data

    def _hook_rejects(self, path: str, session: str) -> bool:
        """hooks.server.ts: the CSRF referer check, then the welcome-modal check."""
        accept = self.request_headers.get("accept")
        content_type = self.request_headers.get("content-type")
        message = ""
        if self.command == "POST" and (content_type or "").split(";")[0] in web.FORM_TYPES:
            referer = self.request_headers.get("referer")
            if not referer:
                message = "Non-JSON form requests need to have a referer"
            else:
                try:
                    valid = web.origin_of(referer) in self._own_origins()
                except ValueError:  # new URL(referer) throws inside the hook
                    self._kit_error(500, "Internal Error")
                    return True
                message = "" if valid else "Invalid referer for POST request"
            if message:
                self._send(403, *web.hook_error(message, accept, content_type))
                return True
        guarded = self.command not in ("GET", "HEAD", "OPTIONS") and not path.startswith(
            ("/login", "/admin", "/settings")
        )
        if guarded and self.state.faults.require_modal and not self.state.accepted(session):
            message = "You need to accept the welcome modal first"
            self._send(405, *web.hook_error(message, accept, content_type))
            return True
        return False

    def _own_origins(self) -> set[str]:
        origins = {self.state.origin}
        host = self.request_headers.get("host")
        if host:
            with contextlib.suppress(ValueError):
                origins.add(web.origin_of(f"http://{host}"))
        return origins

    def _route(self, path: str, body: bytes, session: str) -> None:
        method = self.command
        reading = method in ("GET", "HEAD")
        match = _CONVERSATION_PATH.fullmatch(path)
        if path == "/settings" and method == "POST":
            self._settings(body, session)
        elif path == "/conversation" and method == "POST":
            self._create(body, session)
        elif path == "/conversation" and reading:
            self._send(302, headers=[("Location", "/")])
        elif match and method == "POST":
            self._generate(urllib.parse.unquote(match.group(1)), body, session)
        elif match and method == "DELETE":
            self._delete(urllib.parse.unquote(match.group(1)), session)
        elif match and reading:  # the conversation page: only its owner may see it
            owned = self.state.owned(urllib.parse.unquote(match.group(1)).lower(), session)
            if owned is None:
                self._kit_error(404, "Conversation not found")
            else:
                self._send(200, web.home_page(self.state.models, owned.model), web.HTML_TYPE)
        elif reading and (path in ("/", "/settings") or (path.startswith("/r/") and path[3:])):
            self._send(200, web.home_page(self.state.models, self.state.models[0]), web.HTML_TYPE)
        elif match or path in ("/settings", "/conversation"):
            allow = [("Allow", "GET")] if not match else [("Allow", "DELETE, PATCH, POST")]
            self._send(405, f"{method} method not allowed".encode(), "text/plain", allow)
        else:
            self._kit_error(404, f"Not found: {path}")

    # --- chat-ui routes --------------------------------------------------------------------

    def _settings(self, body: bytes, session: str) -> None:
        """The settings page's form action, answered as SvelteKit answers actions."""
        as_json = web.action_as_json(self.request_headers.get("accept"))
        form = web.parse_form(self.request_headers.get("content-type"), body)
        model = None if form is None else form.get("activeModel", self.state.models[0])
        if form is None or not self.state.model_available(model):
            if as_json:
                error = {"type": "error", "error": {"message": "Internal Error"}}
                self._send(500, tgi.dumps(error).encode(), web.JSON_TYPE)
            else:
                self._send(500, web.error_page(500, "Internal Error"), web.HTML_TYPE)
            return
        assert isinstance(model, str)
        self.state.apply_settings(session, model, bool(form.get("ethicsModalAccepted")))
        location = self.request_headers.get("referer") or "/"
        if as_json:
            redirect = {"type": "redirect", "status": 303, "location": location}
            self._send(200, tgi.dumps(redirect).encode(), web.JSON_TYPE)
        else:
            self._send(303, headers=[("Location", location)])

    def _create(self, body: bytes, session: str) -> None:
        try:
            data = web.parse_json(body)
        except ValueError:
            data = None
        share = data.get("fromShare") if isinstance(data, dict) else None
        model = data.get("model") if isinstance(data, dict) else None
        if not self.state.model_available(model) or not isinstance(share, (str, type(None))):
            self._kit_error(500, "Internal Error")
        elif share:  # no conversation is ever shared on the emulator
            self._kit_error(404, "Conversation not found")
        else:
            assert isinstance(model, str)
            answer = {"conversationId": self.state.create_conversation(session, model)}
            self._send(200, tgi.dumps(answer).encode(), web.JSON_TYPE)

    def _delete(self, raw_id: str, session: str) -> None:
        if not web.OBJECT_ID.fullmatch(raw_id):
            self._kit_error(500, "Internal Error")
        elif not self.state.delete(raw_id.lower(), session):
            self._kit_error(404, "Conversation not found")
        else:
            self._send(200)
