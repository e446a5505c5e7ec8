"""Incremental, byte-level stream decoding: bytes -> lines -> the data of server-sent events.

No sockets here: the transport feeds whatever chunks arrive, and the output never
depends on where the chunks were split. Lines end at LF, CRLF or a lone CR (a CR at
the end of a chunk may be the first half of a CRLF, so the LF that may follow is
remembered, not guessed). Text is decoded as strict UTF-8, only ever in complete
lines, so multibyte characters split across chunks survive and U+2028 inside JSON
is not a line break. Work is linear in the input and batched: every line a chunk
completes is decoded in one call and split in another, then one loop turns the lines
into events (``requests.iter_lines`` is quadratic on long lines and splits CRLF across
chunks into an extra blank line).

What the decoder returns is the data of each event, which is all any reader here uses:
``event:``, ``id:`` and ``retry:`` lines are fields a reader may ignore, and are.
"""

from __future__ import annotations

__all__ = ["DecodeError", "EventTooLargeError", "LineDecoder", "LineTooLongError", "SSEDecoder"]

_BOM = b"\xef\xbb\xbf"


class DecodeError(ValueError):
    """The byte stream is not valid UTF-8 text or not valid framing."""


class LineTooLongError(DecodeError):
    """A line grew past the configured limit; raised as soon as the limit is passed."""


class EventTooLargeError(DecodeError):
    """An event's data (its lines together) grew past the line limit."""


class LineDecoder:
    """Splits a byte stream into lines, whatever the chunking.

    A line that passes the limit stops it: the lines before it are returned first, and
    the error is kept in :attr:`error` and raised by the next call, so what is delivered
    never depends on chunking.
    """

    def __init__(self, max_line_bytes: int | None = None) -> None:
        self._buf = bytearray()
        self._max = max_line_bytes
        self._skip_lf = False  # the previous chunk ended in CR: a leading LF belongs to it
        self._started = False  # a BOM is stripped only at the very start
        self.error: LineTooLongError | None = None

    def feed(self, chunk: bytes) -> bytes:
        """The lines ``chunk`` completes as one block, each line ending in LF (b"" if none)."""
        if self.error is not None:
            raise self.error
        if not self._started:
            if len(self._buf) + len(chunk) < len(_BOM) and _BOM.startswith(self._buf + chunk):
                self._buf += chunk  # too short to tell whether a BOM starts here
                return b""
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
            if self._max is not None and len(self._buf) > self._max:
                raise self._too_long()
            return b""
        if self._buf:
            data = bytes(self._buf) + chunk
            self._buf.clear()
        else:
            data = chunk
        if b"\r" in data:
            if data.endswith(b"\r"):
                self._skip_lf = True
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = data.rfind(b"\n") + 1
        if end < len(data):
            self._buf += data[end:]
            data = data[:end]
        if self._max is not None and (len(data) > self._max or len(self._buf) > self._max):
            return self._up_to_the_long_line(data)
        return data

    def _up_to_the_long_line(self, block: bytes) -> bytes:
        """The lines before the first one over the limit; the error follows on the next call."""
        assert self._max is not None
        good = 0
        for line in block.split(b"\n")[:-1]:
            if len(line) > self._max:
                break
            good += len(line) + 1
        else:
            if len(self._buf) <= self._max:
                return block
        if not good:
            raise self._too_long()
        self.error = self._too_long()
        return block[:good]

    def end(self) -> bytes:
        """At end of stream: the unterminated remainder (b"" if the stream ended cleanly)."""
        if self.error is not None:
            raise self.error
        rest = bytes(self._buf)
        self._buf.clear()
        return rest

    def _too_long(self) -> LineTooLongError:
        return LineTooLongError(f"a line exceeded the limit of {self._max} bytes")


class SSEDecoder:
    """Turns a byte stream into the data of its events, following the WHATWG rules.

    Comments (``:`` lines) are skipped, ``data`` lines accumulate until a blank line
    dispatches them, an event with no data is not dispatched, and an event cut off
    by the end of the stream is discarded rather than guessed at (:attr:`truncated`).
    A bad line (invalid UTF-8, or too long) stops a chunk: the events before it are
    returned, and the error is kept in :attr:`error` and raised by the next call.

    ``max_line_bytes`` also limits a whole event: an event is one data line as servers
    send tokens, and one made of many short lines must not grow without bound either
    (the data kept, counted in characters, plus one per line). An event of several
    lines is measured when it is dispatched, and one still growing at the end of each
    chunk, so it is refused within one read (64 KiB) past the limit, whatever the
    chunking; the work is linear, and nothing is added per line or to one-line events.
    """

    def __init__(self, max_line_bytes: int | None = None) -> None:
        self.lines = LineDecoder(max_line_bytes)
        self._max = max_line_bytes
        self._data: list[str] = []  # the data lines of the event being read
        self._counted = 0  # how many of them ``_size`` counts
        self._size = 0
        self.line_number = 0
        self.error: DecodeError | None = None
        #: True when the stream ended inside an event (its data was discarded).
        self.truncated = False

    def feed(self, chunk: bytes) -> list[str]:
        """The data of every event ``chunk`` completes, in order."""
        if self.error is not None:
            raise self.error
        block = self.lines.feed(chunk)
        self.error = self.lines.error
        if not block:
            return []
        try:
            lines = block.decode("utf-8").split("\n")
            lines.pop()  # the block ends with LF: what follows it is no line
        except UnicodeDecodeError:
            lines = self._decodable(block)
        out: list[str] = []
        data = self._data
        for line in lines:
            if not line:
                if len(data) == 1:  # one line: the line limit bounds it already
                    out.append(data[0])
                    data.clear()
                elif data:
                    event = "\n".join(data)
                    data.clear()
                    if self._max is not None and len(event) > self._max:
                        self.error = self._too_large()
                        break
                    out.append(event)
            elif line[:5] == "data:":
                data.append(line[6:] if line[5:6] == " " else line[5:])
            elif line[0] != ":":
                name, _, value = line.partition(":")
                if name == "data":  # "data" alone: a data line with an empty value
                    data.append(value)
        self.line_number += len(lines)
        if data:
            if self._max is not None:
                self._check_event_size(data, dispatched=bool(out))
        elif self._counted:
            self._counted = self._size = 0
        return out

    def _check_event_size(self, data: list[str], *, dispatched: bool) -> None:
        """Keep :attr:`error` for an event over the limit (the events before it go out)."""
        if dispatched:  # the pending event began in this chunk
            self._counted = self._size = 0
        fresh = data[self._counted :]
        self._size += sum(map(len, fresh)) + len(fresh)
        self._counted = len(data)
        assert self._max is not None
        if self._size > self._max and self.error is None:
            self.error = self._too_large()

    def _too_large(self) -> EventTooLargeError:
        return EventTooLargeError(f"an event's data exceeded the limit of {self._max} bytes")

    def _decodable(self, block: bytes) -> list[str]:
        """The lines of ``block`` before its first line that is not UTF-8 (comments aside)."""
        lines: list[str] = []
        for raw in block.split(b"\n")[:-1]:
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                if raw[:1] == b":":
                    lines.append(":")  # a comment is skipped, whatever it holds
                    continue
                number = self.line_number + len(lines) + 1
                self.error = DecodeError(f"line {number} is not valid UTF-8 (byte {exc.start})")
                break
        return lines

    def end(self) -> None:
        """Finish the stream, recording in :attr:`truncated` whether it ended inside an event."""
        if self.error is not None:
            raise self.error
        rest = self.lines.end()
        self.truncated = bool(rest.strip()) or bool(self._data)
        self._data.clear()
