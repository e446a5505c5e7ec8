"""H2o works against any server speaking the protocol, not only the project's emulator.

The server here is written independently of providers/h2o/server.py and differs from
it wherever the protocol allows: ``/settings`` answers 303, the body is delimited by
closing the connection (HTTP/1.0, no chunking), lines end in CRLF, ``data:`` has a
space after the colon, events carry extra fields, keep-alive comments are interleaved,
and ``DELETE`` answers 204.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

TOKENS = [" Bonjour", ",", " ça", " va", " ?"]
SESSION = "interop-session"


class ChatUi(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # every body ends when the connection closes
    seen: list[tuple[str, str, str | None]]

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a test server prints nothing."""

    def _record(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        cookie = self.headers.get("cookie") or ""
        match = re.search(r"hf-chat=([^;]+)", cookie)
        self.seen.append((self.command, self.path, match.group(1) if match else None))
        return body

    def _send(self, status: int, body: bytes = b"", ctype: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Set-Cookie", f"hf-chat={SESSION}; Path=/; Max-Age=3600; HttpOnly")
        if ctype:
            self.send_header("Content-Type", ctype)
        if status == 303:
            self.send_header("Location", self.headers.get("referer") or "/")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self._record()
        if self.path == "/settings":
            self._send(303)
        elif self.path == "/conversation":
            assert json.loads(body)["model"].startswith("h2oai/")
            self._send(200, b'{"conversationId":"0123456789abcdef01234567"}', "application/json")
        else:
            request = json.loads(body)
            assert request["stream"] is True
            assert request["inputs"].endswith("assistant: ")
            self._send(200, ctype="text/event-stream")
            for number, text in enumerate(TOKENS):
                event = {
                    "token": {"id": number + 100, "text": text, "logprob": -0.5, "special": False},
                    "generated_text": None,
                    "details": None,
                    "top_tokens": [],
                }
                self.wfile.write(b": keep-alive\r\n\r\n")
                self.wfile.write(b"data: " + json.dumps(event).encode() + b"\r\n\r\n")
            final = {
                "token": {"id": 11, "text": "<|endoftext|>", "logprob": -0.1, "special": True},
                "generated_text": "".join(TOKENS),
                "details": {"finish_reason": "eos_token", "generated_tokens": 6, "seed": None},
            }
            self.wfile.write(b"data: " + json.dumps(final).encode() + b"\r\n\r\n")

    def do_DELETE(self) -> None:
        self._record()
        self._send(204)


@pytest.fixture
def chat_ui() -> Iterator[tuple[str, list[tuple[str, str, str | None]]]]:
    seen: list[tuple[str, str, str | None]] = []
    handler = type("Handler", (ChatUi,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_the_cli_chats_with_an_independent_chat_ui_server(
    chat_ui: tuple[str, list[tuple[str, str, str | None]]],
) -> None:
    url, seen = chat_ui
    cli = Path(sys.executable).with_name("g4f-core")
    env = {k: v for k, v in os.environ.items() if not k.startswith("G4F_CORE_")}
    done = subprocess.run(
        [str(cli), "chat", "-p", "H2o", "--base-url", url, "--timeout", "5", "Salut"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "".join(TOKENS) + "\n"
    assert [(method, path) for method, path, _ in seen] == [
        ("POST", "/settings"),
        ("POST", "/conversation"),
        ("POST", "/conversation/0123456789abcdef01234567"),
        ("DELETE", "/conversation/0123456789abcdef01234567"),
    ]
    assert {session for _, _, session in seen[1:]} == {SESSION}
