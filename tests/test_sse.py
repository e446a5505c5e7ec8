"""The byte-level SSE decoder fed chunks directly (no sockets), the way Client.events feeds it.

There is one decoder loop, ``SSEDecoder.feed``, and :func:`decode` drives it exactly as
``Client.events`` does: every chunk read goes to ``feed``, an error the decoder keeps is
raised as soon as that chunk's events are out, and ``end`` closes the stream. The output
must never depend on where the stream was split: every fixture is decoded whole, one byte
at a time, split at every offset into two chunks and (for short fixtures) into three, and
the event lists must be identical. Hypothesis then builds random streams and chunkings.
Limits (line length, strict UTF-8) are checked too.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from g4f_core.transport.sse import DecodeError, LineDecoder, LineTooLongError, SSEDecoder

BOM = b"\xef\xbb\xbf"


class Decoded(NamedTuple):
    events: list[str]
    truncated: bool


def decode(
    chunks: Iterable[bytes], max_line_bytes: int | None = None, into: list[str] | None = None
) -> Decoded:
    """Feed ``chunks`` to a fresh decoder as ``Client.events`` does, and end the stream.

    A read never returns an empty chunk mid-stream (b"" is the end), so none is fed.
    Events delivered before an error are appended to ``into``.
    """
    decoder = SSEDecoder(max_line_bytes=max_line_bytes)
    events: list[str] = [] if into is None else into
    for chunk in chunks:
        if not chunk:
            continue
        events += decoder.feed(chunk)
        if decoder.error is not None:
            raise decoder.error
    decoder.end()
    return Decoded(events, decoder.truncated)


def data_of(decoded: Decoded) -> list[str]:
    return decoded.events


def split_at(stream: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``stream`` cut at the given offsets (duplicates allowed: they give empty chunks)."""
    points = [0, *sorted(cuts), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(points)]


def one_byte_at_a_time(stream: bytes) -> list[bytes]:
    return [stream[i : i + 1] for i in range(len(stream))]


def two_way_splits(stream: bytes) -> Iterator[list[bytes]]:
    for i in range(len(stream) + 1):
        yield split_at(stream, [i])


def three_way_splits(stream: bytes) -> Iterator[list[bytes]]:
    for i in range(len(stream) + 1):
        for j in range(i, len(stream) + 1):
            yield split_at(stream, [i, j])


class Fixture(NamedTuple):
    stream: bytes
    data: list[str]
    truncated: bool = False


JSON_SEPARATORS = '{"t": "a\u2028b\u2029c\x85d"}'

FIXTURES: dict[str, Fixture] = {
    "lf": Fixture(b"data: a\n\ndata: b\n\n", ["a", "b"]),
    "crlf": Fixture(b"data: a\r\n\r\ndata: b\r\n\r\n", ["a", "b"]),
    "lone-cr": Fixture(b"data: a\r\rdata: b\r\r", ["a", "b"]),
    "mixed": Fixture(
        b"data: a\r\n\ndata: b\n\r\ndata: c\r\rdata: d\n\rdata: e\r\n\r",
        ["a", "b", "c", "d", "e"],
    ),
    "multi-line-lf": Fixture(b"data: a\ndata: b\n\n", ["a\nb"]),
    "multi-line-crlf": Fixture(b"data: a\r\ndata: b\r\n\r\n", ["a\nb"]),
    "multi-line-cr": Fixture(b"data: a\rdata: b\r\r", ["a\nb"]),
    "multi-line-mixed": Fixture(b"data: a\r\ndata: b\rdata: c\n\r\n", ["a\nb\nc"]),
    "comments-and-keep-alives": Fixture(
        b":\n\n: ping\ndata: x\n: in the middle\ndata: y\n\n:\n\n: ping\n\n", ["x\ny"]
    ),
    "blank-lines": Fixture(b"\n\n\r\n\rdata: x\n\n\n\n\r\n\r\rdata: y\n\n\n", ["x", "y"]),
    "bom-at-start": Fixture(BOM + b"data: x\n\ndata: y\n\n", ["x", "y"]),
    "bom-later-is-data": Fixture(
        BOM + b"data: " + BOM + b"x\n\ndata: y" + BOM + b"\n\n", ["\ufeffx", "y\ufeff"]
    ),
    "second-bom-at-start-belongs-to-the-field-name": Fixture(
        BOM + BOM + b"data: x\n\ndata: y\n\n", ["y"]
    ),
    "bom-after-an-event-belongs-to-the-field-name": Fixture(
        b"data: x\n\n" + BOM + b"data: y\n\ndata: z\n\n", ["x", "z"]
    ),
    "multibyte-utf8": Fixture(
        "data: é ✓ 😀 ß€𝄞\n\ndata: 日本語\n\n".encode(), ["é ✓ 😀 ß€𝄞", "日本語"]
    ),
    "unicode-separators-inside-json": Fixture(
        f"data: {JSON_SEPARATORS}\n\n".encode(), [JSON_SEPARATORS]
    ),
    "data-without-space": Fixture(b"data:x\n\ndata:\n\n", ["x", ""]),
    "data-with-one-space-dropped-only": Fixture(b"data:  x\n\ndata: \n\n", [" x", ""]),
    "space-before-colon-is-another-field": Fixture(b"data :x\n\ndata: y\n\n", ["y"]),
    "field-without-colon-has-empty-value": Fixture(b"data\n\ndata\ndata\n\n", ["", "\n"]),
    "unknown-field-without-colon-is-ignored": Fixture(b"foo\ndata: x\nbar\n\n", ["x"]),
    "field-names-are-case-sensitive": Fixture(b"Data: x\nDATA: y\ndata: z\n\n", ["z"]),
    "colon-inside-value": Fixture(b'data: {"a": "b:c"}\n\n', ['{"a": "b:c"}']),
    "event-without-data-is-not-dispatched": Fixture(b"event: x\nid: 1\n\ndata: y\n\n", ["y"]),
    "eof-inside-event-line": Fixture(b"data: a\n\ndata: b", ["a"], truncated=True),
    "eof-after-data-line": Fixture(b"data: a\n\ndata: b\n", ["a"], truncated=True),
    "eof-after-data-line-crlf": Fixture(b"data: a\r\n\r\ndata: b\r\n", ["a"], truncated=True),
    "empty-stream": Fixture(b"", []),
    "only-comments": Fixture(b": ping\n\n: ping\n\n", []),
}


@pytest.fixture(params=sorted(FIXTURES), name="fixture")
def fixture_(request: pytest.FixtureRequest) -> Fixture:
    return FIXTURES[request.param]


def test_each_fixture_decoded_whole_gives_its_events(fixture: Fixture) -> None:
    decoded = decode([fixture.stream])
    assert data_of(decoded) == fixture.data
    assert decoded.truncated is fixture.truncated


def test_each_fixture_fed_one_byte_at_a_time_gives_the_same_events(fixture: Fixture) -> None:
    assert decode(one_byte_at_a_time(fixture.stream)) == decode([fixture.stream])


def test_each_fixture_split_at_every_offset_gives_the_same_events(fixture: Fixture) -> None:
    whole = decode([fixture.stream])
    for chunks in two_way_splits(fixture.stream):
        assert decode(chunks) == whole, chunks


def test_each_short_fixture_split_three_ways_gives_the_same_events(fixture: Fixture) -> None:
    if len(fixture.stream) > 80:
        pytest.skip("three-way splits only for short fixtures")
    whole = decode([fixture.stream])
    for chunks in three_way_splits(fixture.stream):
        assert decode(chunks) == whole, chunks


# -- fields other than data ---------------------------------------------------------------


def test_event_id_and_retry_fields_neither_split_nor_join_events() -> None:
    stream = b"event: update\nid: 7\ndata: x\n\nretry: 5\nid: a\x00b\ndata: y\nevent: e\n\n"
    assert decode([stream]).events == ["x", "y"]


def test_end_returns_nothing_and_records_an_unfinished_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: b\n") == ["a"]
    assert decoder.end() is None
    assert decoder.truncated is True


def test_a_complete_stream_is_not_truncated() -> None:
    assert decode([b"data: a\n\n"]).truncated is False


# -- the line decoder on its own ----------------------------------------------------------


def test_line_decoder_holds_a_trailing_cr_until_it_knows_what_follows() -> None:
    lines = LineDecoder()
    assert lines.feed(b"a\r") == b"a\n"
    assert lines.feed(b"\nb\r") == b"b\n"  # the LF completed the CRLF: no blank line
    assert lines.feed(b"\r\n") == b"\n"  # a second CR is a blank line, its LF is swallowed
    assert lines.end() == b""


def test_line_decoder_strips_a_bom_that_arrives_one_byte_at_a_time() -> None:
    lines = LineDecoder()
    assert lines.feed(BOM[:1]) == b""
    assert lines.feed(BOM[1:2]) == b""
    assert lines.feed(BOM[2:] + b"x\n") == b"x\n"


def test_line_decoder_keeps_bytes_that_only_look_like_the_start_of_a_bom() -> None:
    lines = LineDecoder()
    assert lines.feed(BOM[:2]) == b""
    assert lines.feed(b"x\n") == BOM[:2] + b"x\n"


def test_line_decoder_returns_the_unterminated_remainder_at_the_end() -> None:
    lines = LineDecoder()
    assert lines.feed(b"a\nbc") == b"a\n"
    assert lines.end() == b"bc"


def test_line_decoder_gives_every_line_a_chunk_completes_as_one_lf_block() -> None:
    lines = LineDecoder()
    assert lines.feed(b"a\r\nb\rc\nd") == b"a\nb\nc\n"
    assert lines.feed(b"e\n\n") == b"de\n\n"


# -- multibyte characters split at every inner offset ------------------------------------


@pytest.mark.parametrize("char", ["é", "✓", "😀", "\u2028", "\u2029", "\x85"])
def test_a_multibyte_character_split_at_each_inner_offset_survives(char: str) -> None:
    stream = f"data: <{char}>\n\n".encode()
    start = stream.index(b"<") + 1
    for cut in range(start + 1, start + len(char.encode())):
        assert data_of(decode(split_at(stream, [cut]))) == [f"<{char}>"]


# -- invalid UTF-8 ------------------------------------------------------------------------


def test_invalid_utf8_raises_decode_error_naming_the_line() -> None:
    with pytest.raises(DecodeError, match=r"line 3\b"):
        decode([b"data: a\n\ndata: \xff\n\n"])


def test_a_truncated_multibyte_sequence_at_the_end_of_a_line_is_invalid() -> None:
    with pytest.raises(DecodeError, match=r"line 1\b"):
        decode([b"data: \xe2\x9c\n\n"])


def test_invalid_utf8_is_detected_whatever_the_chunking() -> None:
    stream = b"data: ok\n\ndata: \xc3(\n\n"
    for chunks in two_way_splits(stream):
        with pytest.raises(DecodeError, match=r"line 3\b"):
            decode(chunks)


def test_invalid_utf8_in_a_field_name_raises() -> None:
    with pytest.raises(DecodeError):
        decode([b"ev\xffent: x\ndata: y\n\n"])


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(DecodeError, ValueError)
    assert issubclass(LineTooLongError, DecodeError)


# -- line length limit -------------------------------------------------------------------


def test_a_line_of_exactly_max_line_bytes_is_accepted() -> None:
    line = b"data: " + b"x" * 94  # 100 bytes without its terminator
    for chunks in ([line + b"\n\n"], one_byte_at_a_time(line + b"\n\n")):
        assert data_of(decode(chunks, max_line_bytes=100)) == ["x" * 94]


def test_a_line_one_byte_over_max_line_bytes_in_one_chunk_raises() -> None:
    with pytest.raises(LineTooLongError, match="100 bytes"):
        decode([b"data: " + b"x" * 95 + b"\n\n"], max_line_bytes=100)


def test_a_line_over_the_limit_in_one_chunk_without_newline_raises_at_once() -> None:
    decoder = SSEDecoder(max_line_bytes=1024)
    with pytest.raises(LineTooLongError):
        decoder.feed(b"data: " + b"x" * 4096)


def test_a_line_over_the_limit_followed_by_more_lines_in_one_chunk_raises() -> None:
    decoder = SSEDecoder(max_line_bytes=1024)
    events = decoder.feed(b"data: a\n\ndata: " + b"x" * 4096 + b"\n\ndata: b\n\n")
    assert events == ["a"]  # what came before is delivered
    assert isinstance(decoder.error, LineTooLongError)  # kept for the caller to raise now
    with pytest.raises(LineTooLongError):
        decoder.end()


def test_a_long_line_arriving_in_small_chunks_raises_as_soon_as_the_limit_is_passed() -> None:
    limit = 1 << 20
    chunk = b"x" * (64 << 10)
    total_chunks = (20 << 20) // len(chunk)  # a 20 MiB line with no newline
    decoder = SSEDecoder(max_line_bytes=limit)
    decoder.feed(b"data: ")
    fed = 0
    with pytest.raises(LineTooLongError):
        for _ in range(total_chunks):
            fed += 1
            decoder.feed(chunk)
    assert fed * len(chunk) <= limit + len(chunk)  # at most one chunk past the limit
    assert fed < total_chunks


def test_a_long_line_completed_by_a_later_chunk_is_measured_whole() -> None:
    decoder = SSEDecoder(max_line_bytes=1000)
    decoder.feed(b"data: " + b"x" * 500)
    with pytest.raises(LineTooLongError):
        decoder.feed(b"x" * 600 + b"\r")


def test_a_four_mib_line_in_512_byte_chunks_is_decoded() -> None:
    payload = b"y" * (4 << 20)
    chunks = [b"data: "] + [payload[i : i + 512] for i in range(0, len(payload), 512)]
    assert decode([*chunks, b"\n\n"], max_line_bytes=8 << 20).events == [payload.decode()]


# -- property tests ----------------------------------------------------------------------

LINE_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(["\u2028", "\u2029", "\x85", "\ufeff", "\x00", ":", " ", "é", "😀"]),
        st.characters(exclude_categories=("Cs",), exclude_characters="\r\n"),
    ),
    max_size=20,
)
ENDINGS = ["\n", "\r\n", "\r"]


@st.composite
def sse_streams(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """A random stream of events (each one or more data lines) and the expected data."""
    events = draw(st.lists(st.lists(LINE_TEXT, min_size=1, max_size=3), max_size=6))
    mixed = draw(st.booleans())
    fixed_ending = draw(st.sampled_from(ENDINGS))
    lines: list[str] = []
    for event in events:
        for _ in range(draw(st.integers(0, 2))):
            lines.append("")  # extra blank lines between events are no-ops
        for data in event:
            if draw(st.booleans()):
                lines.append(":" + draw(LINE_TEXT))  # a comment, even inside an event
            space = " " if (data[:1] == " " or draw(st.booleans())) else ""
            lines.append(f"data:{space}{data}")
        lines.append("")
    if draw(st.booleans()):
        lines.append(":" + draw(LINE_TEXT))
    out: list[str] = []
    previous = ""
    for line in lines:
        ending = draw(st.sampled_from(ENDINGS)) if mixed else fixed_ending
        if previous == "\r" and line == "" and ending.startswith("\n"):
            ending = "\r"  # CR then LF is one CRLF, not two line ends: keep the stream honest
        out.append(line + ending)
        previous = ending
    prefix = BOM if draw(st.booleans()) else b""
    return prefix + "".join(out).encode(), ["\n".join(event) for event in events]


@st.composite
def chunkings(draw: st.DrawFn, stream: bytes) -> list[bytes]:
    cuts = draw(st.lists(st.integers(0, len(stream)), max_size=12))
    return split_at(stream, cuts)


@settings(max_examples=300, deadline=None)
@given(case=sse_streams(), data=st.data())
def test_random_streams_in_random_chunks_decode_to_exactly_their_payloads(
    case: tuple[bytes, list[str]], data: st.DataObject
) -> None:
    stream, expected = case
    chunks = data.draw(chunkings(stream))
    decoded = decode(chunks)
    assert data_of(decoded) == expected
    assert decoded.truncated is False


@settings(max_examples=100, deadline=None)
@given(case=sse_streams())
def test_random_streams_fed_one_byte_at_a_time_decode_to_their_payloads(
    case: tuple[bytes, list[str]],
) -> None:
    stream, expected = case
    assert data_of(decode(one_byte_at_a_time(stream))) == expected


@settings(max_examples=200, deadline=None)
@given(case=sse_streams(), data=st.data())
def test_a_random_stream_cut_short_never_yields_an_event_it_did_not_finish(
    case: tuple[bytes, list[str]], data: st.DataObject
) -> None:
    stream, expected = case
    cut = data.draw(st.integers(0, len(stream)))
    decoded = decode(split_at(stream[:cut], data.draw(st.lists(st.integers(0, cut)))))
    assert data_of(decoded) == expected[: len(decoded.events)]


def reference_data(stream: bytes) -> list[str]:
    """The WHATWG algorithm written plainly over the whole decoded text."""
    text = stream.decode("utf-8")
    text = text.removeprefix("\ufeff")
    *complete, _unterminated = re.split(r"\r\n|\r|\n", text)
    events: list[str] = []
    data: list[str] = []
    for line in complete:
        if not line:
            if data:
                events.append("\n".join(data))
            data = []
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            if name == "data":
                data.append(value.removeprefix(" "))
    return events


PIECES = ["data", "data:", "data: ", ":", " ", "\r", "\n", "\r\n", "x", "é", "😀", "\u2028"]
PIECES += ["\x85", "event: e", "id: 1", "\ufeff", "Data: y", "data :z"]


@settings(max_examples=500, deadline=None)
@given(
    text=st.lists(st.sampled_from(PIECES), max_size=40).map("".join),
    data=st.data(),
)
def test_any_chunking_of_any_stream_agrees_with_the_plain_algorithm(
    text: str, data: st.DataObject
) -> None:
    stream = text.encode()
    assert data_of(decode(data.draw(chunkings(stream)))) == reference_data(stream)


# -- events before an error ----------------------------------------------------------------


def events_before_the_error(
    chunks: Iterable[bytes], max_line_bytes: int | None = None
) -> list[str]:
    received: list[str] = []
    with pytest.raises(DecodeError):
        decode(chunks, max_line_bytes, into=received)
    return received


def test_an_invalid_comment_line_is_skipped_like_any_comment() -> None:
    assert decode([b"data: a\n\n: \xff\xfe\ndata: b\n\n"]).events == ["a", "b"]


def test_events_in_earlier_chunks_are_delivered_before_an_invalid_line() -> None:
    assert events_before_the_error([b"data: ok\n\n", b"data: \xff\n\n"]) == ["ok"]


def test_an_event_before_an_invalid_line_in_the_same_chunk_is_delivered() -> None:
    assert events_before_the_error([b"data: ok\n\ndata: \xff\n\n"]) == ["ok"]


def test_an_event_before_a_too_long_line_in_the_same_chunk_is_delivered() -> None:
    stream = b"data: ok\n\ndata: " + b"x" * 2000
    assert events_before_the_error([stream], max_line_bytes=1000) == ["ok"]
