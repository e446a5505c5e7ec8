"""The H2o emulator's HTTP side: chat-ui's hook and routes, and TGI's stream written by hand.

Written on http.server because the stream must be byte-exact and fault-injectable: chunk
boundaries, delays, stalls and abrupt closes are decided here, one ``sendall`` per chunk.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import socket
import socketserver
import time
import urllib.parse
import uuid
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any

from . import _emulator_tgi as tgi
from . import _emulator_web as web
from ._emulator_state import Conversation, EmulatorState, Faults, RecordedRequest, StoredMessage

MAX_BODY = 8 * 1024 * 1024
BULK_CHUNK = 64 * 1024  # bytes per HTTP chunk in bulk mode
_CONVERSATION_PATH = re.compile(r"/conversation/([^/]+)")
_PAUSE_STEP = 0.02
_Chunk = tuple[bytes, bool]  # (bytes, is a token event)


class Aborted(Exception):
    """Stop serving this connection: the emulator stops, the peer left, or a drop fault fired."""


class EmulatorHandler(BaseHTTPRequestHandler):
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
    ) -> None:
        self.state = state
        self.connection_id = connection
        self.session: str | None = None  # set once past the hook: responses then carry a cookie
        self.request_headers: dict[str, str] = {}
        super().__init__(request, client_address, server)

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
        body = self._read_body()
        path = urllib.parse.urlsplit(self.path).path or "/"
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            joiner = "; " if key == "cookie" else ", "
            headers[key] = f"{headers[key]}{joiner}{value}" if key in headers else value
        self.request_headers = headers
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
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self._read_exact(size)
                self.rfile.readline(1024)
                if len(data) > MAX_BODY:
                    raise Aborted("request body too large")
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 <= length <= MAX_BODY:
            raise Aborted("unacceptable Content-Length")
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

    def _generate(self, raw_id: str, body: bytes, session: str) -> None:
        """``POST /conversation/{id}``: chat-ui's checks in order, then the TGI pass-through."""
        if web.routes_to_page(self.request_headers.get("accept")):
            message = "POST method not allowed. No actions exist for this page"
            self._send(405, web.error_page(405, message), web.HTML_TYPE, [("Allow", "GET")])
            return
        conversation_id = raw_id.lower()
        conversation = self.state.owned(conversation_id, session)
        refusal = _refusal(raw_id, conversation)
        if refusal is not None:
            self._kit_error(*refusal)
            return
        assert conversation is not None
        canned = self.state.pop_canned()
        faults = copy.copy(self.state.faults)
        limit = faults.rate_limit
        try:
            data = web.parse_json(body)
        except ValueError:
            data = None
        request = _chat_request(data, faults.post_refactor)
        if canned is not None:
            status, content_type, payload = canned
            self._send(status, payload, content_type or None)
            return
        if limit is not None and not self.state.admit_generation(session, limit):
            self._kit_error(429, "You are sending too many messages. Try again later.")
            return
        if not self.state.model_available(conversation.model):
            self._kit_error(410, "Model not available anymore")
            return
        if request is None:
            self._kit_error(500, "Internal Error")
            return
        inputs, message_id, response_id, retry = request
        history = conversation.messages
        if retry and message_id is not None:
            ids = [m.id for m in history]
            history = history[: ids.index(message_id)] if message_id in ids else history
        prompt = web.build_prompt([(m.role, m.content) for m in history], inputs)
        if faults.script is not None:
            tokens = list(faults.script)
        else:
            tokens = tgi.reply_tokens(inputs, conversation.model)
        text: str | None = None
        if faults.post_refactor:
            text = self._ndjson(tokens, faults)
        else:
            assert isinstance(data, dict)
            text = self._tgi(data, tokens, conversation.model, prompt, faults)
        if text is not None:
            exchange = [
                StoredMessage("user", inputs, message_id),
                StoredMessage("assistant", text, response_id),
            ]
            self.state.save_exchange(conversation_id, history, exchange)

    # --- the TGI pass-through --------------------------------------------------------------

    def _tgi(
        self, data: dict[str, Any], tokens: list[str], model: str, prompt: str, faults: Faults
    ) -> str | None:
        """Answer as TGI's compat route would; the generated text, or None if none was."""
        params = tgi.decode_request(data)
        if isinstance(params, str):
            self._send(422, params.encode(), "text/plain; charset=utf-8")
            return None
        seed = faults.details_seed
        raw_seed = params.get("seed")
        if seed is None and params.sampling and isinstance(raw_seed, int):
            seed = raw_seed
        full = params.get("return_full_text")  # compat default: the text-generation pipeline's
        prefix = prompt if full is not False else ""
        error: tuple[str, str] | None = None
        if message := tgi.precheck(params):
            error = (f"Input validation error: {message}", "validation")
        elif faults.overloaded:
            error = ("Model is overloaded", "overloaded")
        elif message := tgi.validate(params, self.state.max_input_length):
            error = (f"Input validation error: {message}", "validation")
        elif faults.generation_error is not None:
            error = (f"Request failed during generation: {faults.generation_error}", "generation")
        compute = [("x-compute-type", "gpu+optimized"), ("x-compute-characters", str(len(prompt)))]
        headers = [
            ("Content-Type", "text/event-stream"),
            ("Cache-Control", "no-cache"),
            *compute,
            ("x-accel-buffering", "no"),
        ]
        bulk = _bulk_key(faults, params, tokens, model, prefix, seed) if error is None else None
        if bulk is not None and (cached := self.state.cached_stream(bulk)) is not None:
            self._stream_bulk(headers, cached[0])
            return cached[1]
        plan = None
        if error is None:
            plan = tgi.plan_generation(tokens, model, params, prefix=prefix, seed=seed)
        if plan is not None and faults.incomplete_after is not None:
            error = ("Incomplete generation", "incomplete_generation")
        if not params.stream:
            return self._tgi_json(plan, error, compute)
        events = [] if plan is None else plan.events
        if error is not None:
            kept = min(faults.incomplete_after or 0, len(events) - 1) if events else 0
            events = [*events[:kept], tgi.error_event(*error)]
        eol = faults.line_ending
        keepalive = f":{eol}{eol}".encode() if faults.keepalive else b""
        chunks = [(keepalive + tgi.sse_event(event, eol), "token" in event) for event in events]
        if bulk is not None and plan is not None and error is None:
            wire = _chunked(b"".join(data for data, _ in chunks))
            self.state.cache_stream(bulk, wire, plan.text)
            self._stream_bulk(headers, wire)
            return plan.text
        self._stream(headers, chunks, faults)
        return plan.text if plan is not None and error is None else None

    def _tgi_json(
        self,
        plan: tgi.Plan | None,
        error: tuple[str, str] | None,
        compute: list[tuple[str, str]],
    ) -> str | None:
        """``stream: false`` (or absent): TGI's non-streaming compat answer, a JSON array."""
        if error is not None or plan is None:
            message, kind = error or ("Incomplete generation", "incomplete_generation")
            status = {"validation": 422, "overloaded": 429, "generation": 424}.get(kind, 500)
            payload = tgi.dumps(tgi.error_event(message, kind)).encode()
            self._send(status, payload, web.JSON_TYPE)
            return None
        final = plan.events[-1]
        answer: dict[str, object] = {"generated_text": final["generated_text"]}
        details = final["details"]
        if isinstance(details, dict):
            tokens = [event["token"] for event in plan.events]
            answer["details"] = {**details, "prefill": [], "tokens": tokens}
        self._send(200, tgi.dumps([answer]).encode(), web.JSON_TYPE, compute)
        return plan.text

    def _ndjson(self, tokens: list[str], faults: Faults) -> str:
        """chat-ui after its 2023-09-20 refactor: its own newline-delimited JSON updates."""
        text = "".join(tokens)
        updates: list[dict[str, str]] = [{"type": "status", "status": "started"}]
        updates += [{"type": "stream", "token": token} for token in tokens]
        updates.append({"type": "finalAnswer", "text": text})
        chunks = [((tgi.dumps(u) + "\n").encode(), u["type"] == "stream") for u in updates]
        self._stream([], chunks, faults)  # new Response(stream): no content type at all
        return text

    # --- writing ---------------------------------------------------------------------------

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
        self, headers: Sequence[tuple[str, str]], chunks: Sequence[_Chunk], faults: Faults
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

    def _stream_bulk(self, headers: Sequence[tuple[str, str]], wire: bytes) -> None:
        """Bulk mode: the whole pre-framed chunked body (terminator included) in one write."""
        self.send_response(200)
        for name, value in headers:
            self.send_header(name, value)
        if self.session is not None:
            self.send_header("Set-Cookie", web.session_cookie(self.session))
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(wire)

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


def _bulk_key(
    faults: Faults,
    params: tgi.Parameters,
    tokens: list[str],
    model: str,
    prefix: str,
    seed: int | None,
) -> tuple[object, ...] | None:
    """What a bulk-mode stream depends on; None when bulk mode does not apply to it."""
    if not faults.bulk or not params.stream:
        return None
    timing = (faults.drop_after, faults.stall_after, faults.incomplete_after, faults.chunk_size)
    if faults.token_delay > 0 or any(value is not None for value in timing):
        return None
    values = json.dumps(dict(params.values), sort_keys=True, default=repr)
    return (tuple(tokens), model, values, prefix, seed, faults.line_ending, faults.keepalive)


def _chunked(body: bytes) -> bytes:
    """``body`` framed as HTTP chunks of at most 64 KiB, then the last-chunk terminator."""
    frames = [
        b"%x\r\n%s\r\n" % (len(body[i : i + BULK_CHUNK]), body[i : i + BULK_CHUNK])
        for i in range(0, len(body), BULK_CHUNK)
    ]
    return b"".join(frames) + b"0\r\n\r\n"


def _refusal(raw_id: str, conversation: Conversation | None) -> tuple[int, str] | None:
    """The first two checks: ``new ObjectId(id)`` throws (500), then ownership (404)."""
    if not web.OBJECT_ID.fullmatch(raw_id):
        return 500, "Internal Error"
    if conversation is None:
        return 404, "Conversation not found"
    return None


def _chat_request(data: object, flat: bool) -> tuple[str, str | None, str | None, bool] | None:
    """chat-ui's zod schema for the body: (inputs, id, response_id, is_retry), None if invalid.

    Before the refactor ids live under ``options``; after it (``flat``) at the top level.
    """
    if not isinstance(data, dict):
        return None
    inputs = data.get("inputs")
    options = data if flat else data.get("options")
    if not isinstance(inputs, str) or not inputs.strip() or not isinstance(options, dict):
        return None
    ids: list[str | None] = []
    for key in ("id", "response_id"):
        value = options.get(key, "")
        if key in options and not (isinstance(value, str) and web.UUID.fullmatch(value)):
            return None
        ids.append(value if key in options else None)
    retry = options.get("is_retry", False)
    extra, extra_type = ("web_search", bool) if flat else ("web_search_id", str)
    if not isinstance(retry, bool) or not isinstance(options.get(extra, extra_type()), extra_type):
        return None
    return inputs, ids[0], ids[1], retry
