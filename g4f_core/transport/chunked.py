"""HTTP/1.1 chunked transfer coding, undone incrementally: bytes as read -> the body's bytes.

No sockets here (the transport reads; see adapter.py), and the output never depends on
where the reads were split. The rules are http.client's, so a body it accepts is
accepted here: a size line is hex up to an optional ``;extension``, at most 64 KiB; the
two bytes after a chunk's data are skipped; after the last (size 0) chunk the trailer
lines are read and dropped, up to an empty line. What it adds is speed: one call takes
every complete chunk of a read at once, where http.client stops at each chunk's end.
"""

from __future__ import annotations

__all__ = ["ChunkedError", "Dechunker"]

MAX_LINE = 65536  # http.client's limit on a chunk-size or trailer line


class ChunkedError(ValueError):
    """The body breaks the chunked framing: a bad or overlong size or trailer line."""


class Dechunker:
    """Feed it what was read, in order; it returns the body bytes those reads complete."""

    def __init__(self) -> None:
        self._pending = b""  # framing a later read completes (a cut size or trailer line)
        self.left = 0  # data bytes of the current chunk still to come
        self._skip = 0  # bytes of the CRLF after a chunk's data still to come
        self.trailers = False  # past the last chunk, reading the trailer lines
        self.done = False  # the whole body has been read

    def feed(self, data: bytes) -> bytes:
        """The body bytes in ``data``; framing cut by the read is kept for the next one."""
        if self._pending:
            data, self._pending = self._pending + data, b""
        n, pos, out = len(data), 0, []
        if self.left:
            if self.left >= n:
                self.left -= n
                self._skip = 0 if self.left else 2  # the CRLF comes once the chunk is done
                return data
            out.append(data[: self.left])
            pos, self.left, self._skip = self.left, 0, 2
        if self._skip:
            taken = min(self._skip, n - pos)
            pos, self._skip = pos + taken, self._skip - taken
        find = data.find
        while pos < n and not self._skip and not self.done:
            if self.trailers:
                self._read_trailers(data, pos)
                break
            eol = find(b"\n", pos)
            if eol < 0 or eol - pos > MAX_LINE:
                self._keep(data[pos:], "chunk size")
                break
            try:
                size = int(data[pos:eol], 16)  # int() allows the CR and spaces around it
            except ValueError:
                size = _chunk_size(data[pos:eol])  # an extension, or no size at all
            if size < 0:
                raise ChunkedError("the chunked body has a negative chunk size")
            start = eol + 1
            if not size:
                self.trailers = True
                pos = start
                continue
            end = start + size
            out.append(data[start:end])
            if end + 2 <= n:  # the whole chunk and its CRLF are here: the common case
                pos = end + 2
                continue
            if end > n:  # the chunk, or its CRLF, runs past this read
                self.left = end - n
            else:
                self._skip = end + 2 - n
            break
        return out[0] if len(out) == 1 else b"".join(out)

    def _read_trailers(self, data: bytes, pos: int) -> None:
        while True:
            eol = data.find(b"\n", pos)
            if eol < 0 or eol - pos > MAX_LINE:
                self._keep(data[pos:], "trailer")
                return
            line, pos = data[pos:eol], eol + 1
            if line in (b"", b"\r"):
                self.done, self.trailers = True, False
                return

    def _keep(self, rest: bytes, what: str) -> None:
        if len(rest) > MAX_LINE:
            raise ChunkedError(f"a {what} line of the chunked body exceeded {MAX_LINE} bytes")
        self._pending = rest


def _chunk_size(line: bytes) -> int:
    try:
        size = int(line.split(b";", 1)[0], 16)
    except ValueError:
        size = -1
    if size < 0:
        raise ChunkedError("the chunked body has an invalid chunk size line")
    return size
