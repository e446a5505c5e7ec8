"""The benchmark's chat-ui/TGI server: H2o's protocol, one event per token, fast.

Real servers flush each token as it is generated, so every figure with a target is measured
against a server that writes every event on its own: one HTTP chunk and one ``sendall`` per
token event, with ``TCP_NODELAY`` (what the shipped emulator does too). What this server
adds is speed: it is a plain socket loop with the event frames built once per reply length,
so a reader with no HTTP library drains it at least twice as fast as the raw ``requests``
client (the headroom figure checks this in every run). Then the client is what limits
throughput, which is what the figures are meant to compare.

The bytes are the shipped emulator's: the events come from its TGI module
(``tests/test_bench_smoke.py`` compares the two bodies), the flow is chat-ui's (a session
cookie, the welcome modal accepted by ``POST /settings`` before anything else, a
conversation per call, ``DELETE`` of it). A generation answers ``max_new_tokens - 1``
tokens of :func:`bench.protocol.tokens`, then the end-of-sequence event with
``generated_text``. Nothing else of chat-ui (faults, validation, pages) is here.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import threading
import urllib.parse
from collections import Counter
from types import TracebackType

from g4f_core_providers.h2o import _emulator_tgi as tgi

from .protocol import tokens

__all__ = ["BenchServer", "kind_of"]

_COOKIE = "hf-chat"
_MAX_HEAD = 64 << 10
_KEPT_REPLIES = 8  # a 100,000-token reply is about 15 MB of frames


def kind_of(method: str, path: str) -> str:
    """The request's role in H2o's flow, for the per-call request counts."""
    if path == "/settings":
        return "settings"
    if path == "/conversation":
        return "conversation"
    if path.startswith("/conversation/"):
        return {"POST": "generate", "DELETE": "delete"}.get(method, method.lower())
    return "other"


class _Reply:
    """The chunked frames of one reply length: one frame per event, built once."""

    def __init__(self, model: str, request: dict[str, object]) -> None:
        params = tgi.decode_request(request)
        if isinstance(params, str):
            raise ValueError(params)
        count = params.max_new_tokens - 1
        plan = tgi.plan_generation(tokens(count), model, params, prefix="", seed=None)
        self.frames = [
            b"%x\r\n%s\r\n" % (len(event), event)
            for event in (tgi.sse_event(e) for e in plan.events)
        ]


class BenchServer:
    """A threaded loopback server: ``start()`` returns its URL, ``stop()`` ends everything."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._listener = socket.create_server((host, 0), backlog=128)
        self.url = f"http://{host}:{self._listener.getsockname()[1]}"
        self._lock = threading.Lock()
        self._accepted: dict[str, bool] = {}  # session -> welcome modal accepted
        self._conversations: dict[str, tuple[str, str]] = {}  # id -> (session, model)
        self._replies: dict[tuple[str, str], _Reply] = {}
        self._open: set[socket.socket] = set()
        self._stopping = threading.Event()
        self.connections = 0
        self.kinds: Counter[str] = Counter()

    def start(self) -> str:
        threading.Thread(target=self._accept, name="bench-server", daemon=True).start()
        return self.url

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> BenchServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                self._open.add(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        pending = b""
        try:
            while True:
                while b"\r\n\r\n" not in pending:
                    data = sock.recv(_MAX_HEAD)
                    if not data:
                        return
                    pending += data
                head, _, pending = pending.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                size = int(headers.get("content-length", "0"))
                while len(pending) < size:
                    data = sock.recv(_MAX_HEAD)
                    if not data:
                        return
                    pending += data
                body, pending = pending[:size], pending[size:]
                self._answer(sock, method, urllib.parse.urlsplit(target).path, headers, body)
        except OSError:
            return
        finally:
            with self._lock:
                self._open.discard(sock)
            sock.close()

    def _answer(
        self, sock: socket.socket, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> None:
        with self._lock:
            self.kinds[kind_of(method, path)] += 1
        session = _session(headers.get("cookie", ""))
        fresh = session is None
        session = session or secrets.token_hex(16)
        cookie = f"{_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax"
        if path == "/settings" and method == "POST":
            with self._lock:
                self._accepted[session] = True
            redirect = {"type": "redirect", "status": 303, "location": headers.get("referer", "/")}
            _send(sock, 200, json.dumps(redirect).encode(), cookie)
            return
        with self._lock:
            accepted = not fresh and self._accepted.get(session, False)
        if not accepted:
            message = {"message": "You need to accept the welcome modal first"}
            _send(sock, 405, json.dumps(message).encode(), cookie)
        elif path == "/conversation" and method == "POST":
            model = json.loads(body)["model"]
            conversation = secrets.token_hex(12)
            with self._lock:
                self._conversations[conversation] = (session, model)
            _send(sock, 200, json.dumps({"conversationId": conversation}).encode(), cookie)
        elif path.startswith("/conversation/") and method == "DELETE":
            with self._lock:
                owner = self._conversations.pop(path.rsplit("/", 1)[1], ("", ""))[0]
            _send(sock, 200 if owner == session else 404, b"", cookie)
        elif path.startswith("/conversation/") and method == "POST":
            with self._lock:
                found = self._conversations.get(path.rsplit("/", 1)[1])
            if found is None or found[0] != session:
                _send(sock, 404, b'{"message":"Conversation not found"}', cookie)
            else:
                self._generate(sock, found[1], json.loads(body), cookie)
        else:
            _send(sock, 404, b'{"message":"Not found"}', cookie)

    def _generate(
        self, sock: socket.socket, model: str, request: dict[str, object], cookie: str
    ) -> None:
        key = (model, json.dumps(request.get("parameters"), sort_keys=True))
        with self._lock:
            reply = self._replies.get(key)
        if reply is None:
            reply = _Reply(model, request)
            with self._lock:
                self._replies[key] = reply
                while len(self._replies) > _KEPT_REPLIES:
                    del self._replies[next(iter(self._replies))]
        sock.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\nSet-Cookie: %s\r\n\r\n" % cookie.encode()
        )
        send = sock.sendall
        for frame in reply.frames:  # one write per event, as a server flushing tokens does
            send(frame)
        send(b"0\r\n\r\n")


def _session(cookies: str) -> str | None:
    for part in cookies.split(";"):
        name, _, value = part.strip().partition("=")
        if name == _COOKIE and value:
            return value
    return None


def _send(sock: socket.socket, status: int, body: bytes, cookie: str) -> None:
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}[status]
    sock.sendall(
        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nSet-Cookie: %s\r\n"
        b"Content-Length: %d\r\n\r\n%s"
        % (status, reason.encode(), cookie.encode(), len(body), body)
    )


def main() -> None:
    """``python -m bench.server``: serve on 127.0.0.1, driven by JSON lines on stdin.

    Prints ``{"url": ...}``, then answers each command: ``{"op": "stats"}`` with the
    cumulative ``{"connections", "requests", "kinds", "cpu"}`` (cpu: this process's CPU
    seconds), ``{"op": "stop"}`` (or the end of stdin) by stopping.
    """
    import sys
    import time

    with BenchServer() as server:
        print(json.dumps({"url": server.url}), flush=True)
        for line in sys.stdin:
            if json.loads(line).get("op") != "stats":
                break
            with server._lock:
                kinds = dict(server.kinds)
                connections = server.connections
            stats = {"connections": connections, "kinds": kinds, "cpu": time.process_time()}
            print(json.dumps({**stats, "requests": sum(kinds.values())}), flush=True)


if __name__ == "__main__":
    main()
