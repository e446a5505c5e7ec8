"""The chunked-body decoder fed reads directly (no sockets), as the transport feeds it.

``adapter._Chunked.read`` hands every read to ``Dechunker.feed`` and returns what it gives;
:func:`dechunk` does exactly that. The body must never depend on where the reads were split:
each fixture is decoded whole, one byte at a time and split at every offset (in two and, for
short ones, in three), and Hypothesis adds random bodies and splits. The reference for what
is accepted is http.client itself, reading the same bytes from a socket pair.
"""

from __future__ import annotations

import http.client
import itertools
import socket
import threading
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from g4f_core.transport.chunked import MAX_LINE, ChunkedError, Dechunker


def dechunk(reads: Iterable[bytes]) -> tuple[bytes, bool]:
    """Feed the reads in order; (the body, whether its end was seen)."""
    decoder = Dechunker()
    body = b""
    for data in reads:
        if data and not decoder.done:  # a read is never empty until the end of the stream
            body += decoder.feed(data)
    return body, decoder.done


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]


def framed(*chunks: bytes, trailers: bytes = b"") -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n" + trailers + b"\r\n"


FIXTURES = {
    "events": (framed(b"data: a\n\n", b"data: b\n\n"), b"data: a\n\ndata: b\n\n"),
    "one-byte-chunks": (framed(*(bytes([c]) for c in b"hello")), b"hello"),
    "big-chunk": (framed(b"x" * 70_000), b"x" * 70_000),
    "extensions": (b"5;name=value\r\nhello\r\n0;last\r\n\r\n", b"hello"),
    "upper-hex-and-spaces": (b"A \r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
    "lf-only-size-lines": (b"3\nabc\r\n0\n\n", b"abc"),
    "trailers": (framed(b"abc", trailers=b"X-A: 1\r\nX-B: 2\r\n"), b"abc"),
    "crlf-inside-data": (framed(b"a\r\nb\r\n", b"\r\n"), b"a\r\nb\r\n\r\n"),
    "empty-body": (b"0\r\n\r\n", b""),
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_each_body_split_at_every_offset_decodes_the_same(name: str) -> None:
    wire, body = FIXTURES[name]
    assert dechunk([wire]) == (body, True)
    assert dechunk([wire[i : i + 1] for i in range(len(wire))]) == (body, True)
    step = max(len(wire) // 300, 1)  # the 70 KB body: every 233rd offset
    for cut in range(0, len(wire) + 1, step):
        assert dechunk(split_at(wire, [cut])) == (body, True), cut


@pytest.mark.parametrize("name", [n for n, (wire, _) in FIXTURES.items() if len(wire) < 60])
def test_each_short_body_split_three_ways_decodes_the_same(name: str) -> None:
    wire, body = FIXTURES[name]
    for i in range(len(wire) + 1):
        for j in range(i, len(wire) + 1):
            assert dechunk(split_at(wire, [i, j])) == (body, True), (i, j)


def test_a_body_cut_short_is_not_done_and_gives_only_what_arrived() -> None:
    wire = framed(b"hello", b"world")
    assert dechunk([wire[:-5]]) == (b"helloworld", False)  # the last chunk's line is missing
    assert dechunk([wire[:12]]) == (b"hello", False)  # inside the second chunk's size line
    assert dechunk([wire[:6]]) == (b"hel", False)  # inside the first chunk


@pytest.mark.parametrize("line", [b"zz", b"", b"-5", b"5 5"])
def test_an_invalid_chunk_size_line_is_a_chunked_error(line: bytes) -> None:
    with pytest.raises(ChunkedError, match="chunk size"):
        Dechunker().feed(line + b"\r\nhello\r\n0\r\n\r\n")


def test_a_chunk_size_line_over_64_kib_is_refused_without_waiting_for_its_end() -> None:
    decoder = Dechunker()
    decoder.feed(b"1" * MAX_LINE)  # long, but within the limit: kept
    with pytest.raises(ChunkedError, match="exceeded"):
        decoder.feed(b"1" * 10)


def test_a_trailer_line_over_64_kib_is_refused() -> None:
    with pytest.raises(ChunkedError, match="trailer"):
        Dechunker().feed(b"0\r\nX: " + b"a" * (MAX_LINE + 1))


def test_bytes_after_the_end_of_the_body_are_not_body() -> None:
    decoder = Dechunker()
    assert decoder.feed(framed(b"abc") + b"HTTP/1.1 200 OK\r\n") == b"abc"
    assert decoder.done


# -- against http.client -------------------------------------------------------------------


def http_client_body(wire: bytes) -> bytes:
    """What http.client reads from a response with this chunked body (the reference)."""
    ours, theirs = socket.socketpair()
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    writer = threading.Thread(target=lambda: (theirs.sendall(head + wire), theirs.close()))
    writer.start()
    try:
        response = http.client.HTTPResponse(ours)
        response.begin()
        return response.read()
    finally:
        writer.join()
        ours.close()


@st.composite
def chunked_bodies(draw: st.DrawFn) -> tuple[bytes, bytes]:
    chunks = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=8))
    wire = b""
    for chunk in chunks:
        extension = b";x=y" if draw(st.booleans()) else b""
        wire += b"%x%s\r\n%s\r\n" % (len(chunk), extension, chunk)
    trailers = draw(st.sampled_from([b"", b"X-T: 1\r\n"]))
    return wire + b"0\r\n" + trailers + b"\r\n", b"".join(chunks)


@settings(max_examples=200, deadline=None)
@given(case=chunked_bodies(), data=st.data())
def test_any_body_in_any_split_decodes_as_http_client_reads_it(
    case: tuple[bytes, bytes], data: st.DataObject
) -> None:
    wire, body = case
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=10))
    assert dechunk(split_at(wire, cuts)) == (body, True)
    assert http_client_body(wire) == body
