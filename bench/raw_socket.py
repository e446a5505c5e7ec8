"""A reader with no HTTP library: the pace at which the server can hand out a stream.

It runs the same first requests as the clients (settings, conversation, generate) over one
socket, then takes the chunked body in batches of at least 32 KiB (``SO_RCVLOWAT``, so it
does not trade one wake-up per event with the server) and counts events with
``bytes.count`` instead of decoding them, so it costs next to nothing per event. When it
drains a stream at least twice as fast as the raw client, the server is not what limits
the clients' throughput: they are.
"""

from __future__ import annotations

import json
import socket
import urllib.parse

from .protocol import SETTINGS_FORM, UPSTREAM, generate_body

__all__ = ["read_stream"]

_BUF = 1 << 20
_END = b"\r\n0\r\n\r\n"
_BATCH = 32 << 10
_BATCH_WAIT = 0.002


class _Conn:
    """HTTP/1.1 keep-alive on one socket, just enough for the benchmark server's answers."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host = parts.netloc
        self.sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = bytearray()
        self.cookie = ""
        self.view = memoryview(bytearray(_BUF))

    def close(self) -> None:
        self.sock.close()

    def send(self, method: str, path: str, body: bytes, content_type: str) -> None:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nAccept: */*\r\n"
            f"Referer: http://{self.host}/\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n"
        )
        if self.cookie:
            head += f"Cookie: {self.cookie}\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + body)

    def _fill(self) -> None:
        got = self.sock.recv_into(self.view)
        if not got:
            raise ConnectionError("the server closed the connection")
        self.pending += self.view[:got]

    def head(self) -> dict[str, str]:
        while b"\r\n\r\n" not in self.pending:
            self._fill()
        end = self.pending.index(b"\r\n\r\n")
        lines = bytes(self.pending[:end]).decode("latin-1").split("\r\n")
        del self.pending[: end + 4]
        status = int(lines[0].split()[1])
        if status != 200:
            raise ConnectionError(f"HTTP {status}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        cookie = headers.get("set-cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return headers

    def body(self) -> bytes:
        """A Content-Length body."""
        size = int(self.head().get("content-length", "0"))
        while len(self.pending) < size:
            self._fill()
        data = bytes(self.pending[:size])
        del self.pending[:size]
        return data

    def chunked(self) -> int:
        """Read a chunked body to its end; returns how many events it held.

        No de-chunking: event payloads are JSON, which never holds a raw CR or LF, so the
        body ends at the first ``CRLF 0 CRLF CRLF`` and events are counted as ``data:``.
        """
        self.head()
        events = 0
        carry = tail = b""
        data = bytes(self.pending)
        self.pending.clear()
        while True:
            joined = carry + data
            events += joined.count(b"data:")
            tail = (tail + data)[-len(_END) :]
            if tail == _END:
                return events
            carry = joined[-4:]  # a "data:" cut by the read: 4 bytes of it, never all 5
            data = self._batch()

    def _batch(self) -> bytes:
        """What has arrived, waiting (briefly) until a batch of ``_BATCH`` bytes is queued.

        Waking for every small segment would make this reader trade one wake-up per event
        with the server and measure that exchange instead of the server's pace.
        """
        sock, view = self.sock, self.view
        lowat = getattr(socket, "SO_RCVLOWAT", None)
        if lowat is not None:
            sock.setsockopt(socket.SOL_SOCKET, lowat, _BATCH)
        sock.settimeout(_BATCH_WAIT)
        try:
            got = sock.recv_into(view)
        except TimeoutError:  # fewer bytes than a batch: the tail of the body
            sock.settimeout(None)
            if lowat is not None:
                sock.setsockopt(socket.SOL_SOCKET, lowat, 1)
            got = sock.recv_into(view)
        if not got:
            raise ConnectionError("the server closed the connection mid-body")
        return view[:got].tobytes()


def read_stream(url: str, count: int) -> int:
    """Run one generation of ``count`` tokens; returns how many token events arrived."""
    conn = _Conn(url)
    try:
        form = urllib.parse.urlencode(SETTINGS_FORM).encode()
        conn.send("POST", "/settings", form, "application/x-www-form-urlencoded")
        conn.body()
        conn.send(
            "POST", "/conversation", json.dumps({"model": UPSTREAM}).encode(), "application/json"
        )
        conversation = json.loads(conn.body())["conversationId"]
        body = json.dumps(generate_body(count)).encode()
        conn.send("POST", f"/conversation/{conversation}", body, "application/json")
        events = conn.chunked()
        return events - 1  # the last event is the special end-of-sequence token
    finally:
        conn.close()
