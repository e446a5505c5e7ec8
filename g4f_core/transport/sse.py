"""Incremental, byte-level stream decoding: bytes -> lines -> server-sent events.

No sockets here: the transport feeds whatever chunks arrive, and the output never
depends on where the chunks were split. Lines end at LF, CRLF or a lone CR (a CR at
the end of a chunk may be the first half of a CRLF, so the LF that may follow is
remembered, not guessed). Text is decoded as strict UTF-8 one complete line at a
time, so multibyte characters split across chunks survive and U+2028 inside JSON
is not a line break. Work is linear in the input: each byte is copied a bounded
number of times, however the line is chunked (``requests.iter_lines`` is quadratic
on long lines and splits CRLF across chunks into an extra blank line).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

__all__ = ["DecodeError", "LineDecoder", "LineTooLongError", "SSEDecoder", "ServerSentEvent"]

_BOM = b"\xef\xbb\xbf"


class DecodeError(ValueError):
    """The byte stream is not valid UTF-8 text or not valid framing."""


class LineTooLongError(DecodeError):
    """A line grew past the configured limit; raised as soon as the limit is passed."""


class LineDecoder:
    """Splits a byte stream into lines, whatever the chunking."""

    def __init__(self, max_line_bytes: int | None = None) -> None:
        self._buf = bytearray()
        self._max = max_line_bytes
        self._skip_lf = False  # the previous chunk ended in CR: a leading LF belongs to it
        self._started = False  # a BOM is stripped only at the very start
        self._error: LineTooLongError | None = None  # raised after the lines before it
        self.bytes_fed = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        """Return the lines completed by ``chunk``, without their terminators.

        When a line passes the limit, the lines before it are returned first and the
        error is raised by the next call, so what is delivered never depends on chunking.
        """
        if self._error is not None:
            raise self._error
        self.bytes_fed += len(chunk)
        if not self._started:
            if len(self._buf) + len(chunk) < len(_BOM) and _BOM.startswith(self._buf + chunk):
                self._buf += chunk  # too short to tell whether a BOM starts here
                return []
            self._started = True
            chunk = bytes(self._buf) + chunk
            self._buf.clear()
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM) :]
        if self._skip_lf and chunk:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\n" not in chunk and b"\r" not in chunk:
            self._buf += chunk
            self._check(len(self._buf))
            return []
        if self._buf:
            data = bytes(self._buf) + chunk
            self._buf.clear()
        else:
            data = chunk
        if b"\r" in data:
            if data.endswith(b"\r"):
                self._skip_lf = True
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = data.split(b"\n")
        tail = lines.pop()
        self._buf += tail
        if self._max is not None:
            for index, line in enumerate(lines):
                if len(line) > self._max:
                    return self._stop_before(lines[:index])
            if len(tail) > self._max:
                return self._stop_before(lines)
        return lines

    def _stop_before(self, good: list[bytes]) -> list[bytes]:
        """Deliver the lines before an over-long one; the error follows on the next call."""
        if not good:
            raise self._too_long()
        self._error = self._too_long()
        return good

    def end(self) -> bytes:
        """At end of stream: the unterminated remainder (b"" if the stream ended cleanly)."""
        if self._error is not None:
            raise self._error
        rest = bytes(self._buf)
        self._buf.clear()
        return rest

    def _check(self, size: int) -> None:
        if self._max is not None and size > self._max:
            raise self._too_long()

    def _too_long(self) -> LineTooLongError:
        return LineTooLongError(f"a line exceeded the limit of {self._max} bytes")


class ServerSentEvent(NamedTuple):
    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    """Turns lines into events following the WHATWG rules.

    Comments (``:`` lines) are skipped, ``data`` lines accumulate until a blank line
    dispatches them, an event with no data is not dispatched, and an event cut off
    by the end of the stream is discarded rather than guessed at.
    """

    def __init__(self, max_line_bytes: int | None = None) -> None:
        self.lines = LineDecoder(max_line_bytes)
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self.line_number = 0
        #: True when the stream ended inside an event (its data was discarded).
        self.truncated = False

    def feed(self, chunk: bytes) -> Iterator[ServerSentEvent]:
        """The events ``chunk`` completes, one at a time: a bad line later in the chunk
        raises only after every event before it was delivered."""
        for raw in self.lines.feed(chunk):
            self.line_number += 1
            event = self._line(raw)
            if event is not None:
                yield event

    def feed_data(self, chunk: bytes) -> tuple[list[str], Exception | None]:
        """The data of the events ``chunk`` completes, and the error that stopped it, if any.

        One loop over the lines: plain ``data:`` lines and blank lines never leave it; any
        other line takes the general path. Events before a bad line are still returned.
        """
        out: list[str] = []
        lines = self.lines.feed(chunk)
        base = self.line_number
        for index, raw in enumerate(lines, start=1):
            if raw[:5] == b"data:":
                try:
                    value = raw[5:].decode("utf-8")
                except UnicodeDecodeError:
                    pass  # the general path reports it with its line number
                else:
                    self._data.append(value[1:] if value[:1] == " " else value)
                    continue
            elif not raw and not self._event and self._id is None:
                data = self._data
                if data:
                    out.append(data[0] if len(data) == 1 else "\n".join(data))
                    self._data = []
                continue
            self.line_number = base + index
            try:
                event = self._line(raw)
            except DecodeError as exc:
                return out, exc
            if event is not None:
                out.append(event.data)
        self.line_number = base + len(lines)
        return out, None

    def end(self) -> list[ServerSentEvent]:
        """Finish the stream; returns nothing, but records an unfinished event."""
        rest = self.lines.end()
        self.truncated = bool(rest.strip()) or bool(self._data)
        self._data.clear()
        return []

    def _line(self, raw: bytes) -> ServerSentEvent | None:
        if not raw:
            return self._dispatch()
        if raw[:1] == b":":
            return None
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(
                f"line {self.line_number} is not valid UTF-8 (byte {exc.start})"
            ) from None
        name, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = ServerSentEvent("\n".join(self._data), self._event or "message", self._id)
        self._data = []
        self._event = ""
        return event
