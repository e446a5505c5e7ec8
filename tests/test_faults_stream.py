"""Stream framing and parsing faults F14-F25, end to end through ``g4f_core.stream``.

The H2o provider reads text-generation-inference events that a scripted chat-ui site
writes byte for byte (each piece in its own HTTP chunk, so the client sees exactly those
splits); the emulator supplies the protocol's own stalls, drops and error events. The
small ``Raw`` provider checks the ``[DONE]`` framing of OpenAI-like servers.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from promises import (  # noqa: F401
    Promises,
    consume,
    fault,
    hang,
    promise_fixture,
    released,
)
from rawserver import (
    CLOSE,
    HOLD,
    LAST_CHUNK,
    RESET,
    RawServer,
    Request,
    Step,
    chat_ui_site,
    chunk,
    done_stream,
    head,
    is_generation,
    raw_provider,
    sse,
    tgi_event,
    tgi_stream,
)

import g4f_core
from g4f_core.errors import (
    ProviderConnectionError,
    ProviderResponseError,
    ProviderTimeoutError,
)
from g4f_core.plugins.registry import Registry
from g4f_core_providers.h2o.server import H2oEmulator

PROMPT = "Hello, stream"
SLACK = 0.5  # overrun allowed on a loaded 2-core machine; P1 reports the real one


@pytest.fixture
def h2o(use_registry: Callable[[Registry], Registry]) -> Registry:
    """This project's own distribution only (H2o), never the developer's other plugins."""
    return use_registry(Registry([metadata.distribution("g4f-core")], environ={}))


@pytest.fixture
def emu() -> Iterator[H2oEmulator]:
    with H2oEmulator() as server:
        yield server


def h2o_stream(url: str, **options: Any) -> Callable[[], g4f_core.ChatStream]:
    return lambda: g4f_core.stream(PROMPT, provider="H2o", base_url=url, **options)


def partial(*tokens: str) -> bytes:
    """Token events with no final event: a stream still in progress."""
    return tgi_stream(*tokens, final=False)


def generation_connection(server: RawServer) -> int:
    return next(r.connection for r in server.requests if is_generation(r))


def emulator_generation_connection(emu: H2oEmulator) -> int:
    return next(r.connection for r in emu.requests if "/conversation/" in r.path)


# -- F14 a stall after some tokens ----------------------------------------------------------


def test_a_stall_mid_stream_is_an_idle_timeout_carrying_exactly_the_text_delivered(
    h2o: Registry, promise: Promises
) -> None:
    script: list[list[Step]] = [[head(), chunk(partial(" a", " b")), HOLD]]
    with RawServer(chat_ui_site(script), lifetime=5) as site:
        out = consume(h2o_stream(site.url, timeout=0.5))
        closed = released(
            promise,
            "F14 stall mid-stream",
            lambda t: site.wait_closed(generation_connection(site), t),
            out.ended_at,
        )
    fault(promise, "F14 stall mid-stream", out.error, ProviderTimeoutError)
    hang(promise, "F14 stall after two tokens (timeout 0.5 s)", 0.5, out.elapsed)
    promise("P3").record(
        "F14 partial_text equals what was yielded",
        compared=1,
        mismatches=int(getattr(out.error, "partial_text", None) != out.text),
    )
    assert out.chunks == [" a", " b"]
    assert isinstance(out.error, ProviderTimeoutError)
    assert out.error.phase == "idle"
    assert out.error.provider == "H2o"
    assert out.error.partial_text == out.text == " a b"
    assert out.elapsed < 0.5 + SLACK
    assert closed


def test_a_stall_mid_stream_is_never_retried(h2o: Registry, promise: Promises) -> None:
    script: list[list[Step]] = [[head(), chunk(partial(" a")), HOLD]]
    with RawServer(chat_ui_site(script), lifetime=5) as site:
        out = consume(h2o_stream(site.url, timeout=0.4, max_retries=3))
    sent = sum(map(is_generation, site.requests))
    promise("P9").record(
        "F14 stall after a token, max_retries=3",
        kind="after-token",
        retries_after_token=sent - 1,
        passed=sent == 1,
    )
    assert isinstance(out.error, ProviderTimeoutError)
    assert len(out.error.attempts) == 1
    assert sent == 1


def test_the_emulators_stall_is_an_idle_timeout_and_the_connection_is_closed(
    h2o: Registry, emu: H2oEmulator, promise: Promises
) -> None:
    emu.faults.stall_after = 2
    emu.faults.stall_seconds = 4.0
    out = consume(h2o_stream(emu.url, timeout=0.5))
    hang(promise, "F14 emulator stall after two tokens (timeout 0.5 s)", 0.5, out.elapsed)
    closed = released(
        promise,
        "F14 emulator stall",
        lambda t: emu.wait_for_close(emulator_generation_connection(emu), t),
        out.ended_at,
    )
    assert isinstance(out.error, ProviderTimeoutError)
    assert out.error.partial_text == out.text
    assert len(out.chunks) == 2
    assert out.elapsed < 0.5 + SLACK
    assert closed


# -- F15 the server closes mid-stream ----------------------------------------------------------

CUT_SHORT: dict[str, list[Step]] = {
    "chunked-then-close": [head(), chunk(partial(" a")), b"20\r\ndata: partial", CLOSE],
    "content-length-short": [
        head(framing="length", length=4000),
        partial(" a"),
        CLOSE,
    ],
    "close-delimited-no-final-event": [head(framing="close"), partial(" a"), CLOSE],
    "unterminated-last-event": [
        head(framing="close"),
        partial(" a"),
        b'data:{"token":{"id":2,"text":" b","logprob":0,"special":false},"generated_text":" a b"}',
        CLOSE,
    ],
    "reset": [head(), chunk(partial(" a")), RESET],
}


@pytest.mark.parametrize("script", CUT_SHORT.values(), ids=CUT_SHORT.keys())
def test_a_stream_cut_short_is_a_connection_error_keeping_only_complete_events(
    h2o: Registry, script: list[Step], promise: Promises
) -> None:
    with RawServer(chat_ui_site([script]), lifetime=5) as site:
        out = consume(h2o_stream(site.url, timeout=2, max_retries=2))
    fault(promise, "F15 stream cut short", out.error, ProviderConnectionError)
    promise("P3").record(
        "F15 partial_text equals what was yielded",
        compared=1,
        mismatches=int(getattr(out.error, "partial_text", None) != out.text),
    )
    assert out.chunks == [" a"]  # an unterminated line is never taken as data
    assert isinstance(out.error, ProviderConnectionError)
    assert out.error.partial_text == " a"
    assert out.error.provider == "H2o"
    assert len(out.error.attempts) == 1
    assert sum(map(is_generation, site.requests)) == 1  # nothing is retried after a token


def test_the_emulators_drop_is_a_connection_error_with_the_tokens_received(
    h2o: Registry, emu: H2oEmulator
) -> None:
    emu.faults.drop_after = 3
    out = consume(h2o_stream(emu.url))
    assert isinstance(out.error, ProviderConnectionError)
    assert len(out.chunks) == 3
    assert out.error.partial_text == out.text


def test_a_raw_stream_ending_without_done_is_an_error(
    install: Callable[..., Registry], promise: Promises
) -> None:
    install(Raw=raw_provider())
    script: list[Step] = [head(framing="close"), done_stream("x", "y", done=False), CLOSE]
    with RawServer([script], lifetime=5) as site:
        out = consume(lambda: g4f_core.stream(PROMPT, provider="Raw", base_url=site.url))
    fault(promise, "F15 stream without [DONE]", out.error, ProviderConnectionError)
    assert out.chunks == ["x", "y"]
    assert isinstance(out.error, ProviderConnectionError)
    assert out.error.partial_text == "xy"


# -- F16 malformed data --------------------------------------------------------------------

MALFORMED = {
    "cut-json": b'data:{"token": \n\n',
    "unclosed-array": b"data: [1,2\n\n",
    "deep-nesting": b"data:" + b"[" * 5000 + b"\n\n",
    "huge-number": b"data:" + b"9" * 5000 + b"\n\n",
    "token-not-object": b'data:{"token": 5}\n\n',
    "text-not-str": b'data:{"token": {"text": 5}}\n\n',
    "not-an-object": b'data:"just a string"\n\n',
}


@pytest.mark.parametrize("bad", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_event_data_is_a_response_error_after_the_good_tokens(
    h2o: Registry, bad: bytes, promise: Promises
) -> None:
    script: list[list[Step]] = [[head(), chunk(partial(" a")), chunk(bad), HOLD]]
    with RawServer(chat_ui_site(script), lifetime=5) as site:
        out = consume(h2o_stream(site.url, timeout=2))
        closed = released(
            promise,
            "F16 malformed data",
            lambda t: site.wait_closed(generation_connection(site), t),
            out.ended_at,
        )
    fault(promise, "F16 malformed data", out.error, ProviderResponseError)
    assert out.chunks == [" a"]
    assert isinstance(out.error, ProviderResponseError)
    assert out.error.partial_text == " a"
    assert out.error.provider == "H2o"
    assert len(str(out.error)) < 300
    assert closed


# -- F17-F19, F24, F25 the same text under any chunking -----------------------------------------

SIMPLE = [" Hello", ",", " world", "!"]
MULTIBYTE = [" h\u00e9llo", " \u2713", " \U0001f600", " \u4e2d\u6587"]
SEPARATORS = [" a\u2028b", " \u2029", " \x85c", " d"]


def mixed_endings() -> bytes:
    events = [tgi_event(t) for t in SIMPLE]
    events.append(tgi_event("</s>", final="".join(SIMPLE), special=True))
    endings = ["\n", "\r\n", "\r", "\n\r\n"]
    out = b""
    for event, ending in zip(events, itertools.cycle(endings), strict=False):
        data = sse(event).rstrip(b"\n")
        if ending == "\n\r\n":
            out += data + b"\n\r\n"
        else:
            out += data + (ending * 2).encode()
    return out


def multi_line_data() -> bytes:
    """Each event's JSON split over two ``data:`` lines (joined with a newline: still JSON)."""
    out = b""
    for event in [*(tgi_event(t) for t in SIMPLE), tgi_event("", final="", special=True)]:
        line = sse(event).split(b"\n")[0][len(b"data:") :]
        cut = line.index(b",")
        out += b"data:" + line[:cut] + b"\r\ndata: " + line[cut:] + b"\r\n\r\n"
    return out


def with_comments() -> bytes:
    out = b": hello\n\nretry: 3000\n"
    for index, event in enumerate(tgi_event(t) for t in SIMPLE):
        out += b": keep-alive\n\n \n" + f"id: {index}\nevent: message\n".encode() + sse(event)
    return out + sse(tgi_event("</s>", final="".join(SIMPLE), special=True)) + b": bye\n\n"


FIXTURES: dict[str, tuple[bytes, list[str]]] = {
    "lf": (tgi_stream(*SIMPLE), SIMPLE),
    "crlf": (tgi_stream(*SIMPLE, ending="\r\n"), SIMPLE),
    "cr": (tgi_stream(*SIMPLE, ending="\r"), SIMPLE),
    "mixed-endings": (mixed_endings(), SIMPLE),
    "multi-line-data": (multi_line_data(), SIMPLE),
    "comments-and-fields": (with_comments(), SIMPLE),
    "multibyte-utf8": (tgi_stream(*MULTIBYTE, ending="\r\n"), MULTIBYTE),
    "bom": (b"\xef\xbb\xbf" + tgi_stream(*MULTIBYTE), MULTIBYTE),
    "line-separators": (tgi_stream(*SEPARATORS), SEPARATORS),
}


class Splitter:
    """A chat-ui site whose generation answer is ``body`` cut into the pieces set last."""

    def __init__(self) -> None:
        self.pieces: Sequence[bytes] = ()
        self.server = RawServer(chat_ui_site(self._answer), lifetime=60)

    def _answer(self, request: Request) -> list[Step]:
        return [head(), *(chunk(piece) for piece in self.pieces if piece), LAST_CHUNK]

    def text(self, pieces: Sequence[bytes]) -> list[str]:
        self.pieces = pieces
        return list(g4f_core.stream(PROMPT, provider="H2o", base_url=self.server.url))


@pytest.fixture(scope="module")
def splitter() -> Iterator[Splitter]:
    site = Splitter()
    site.server.start()
    yield site
    site.server.stop()


@pytest.mark.parametrize("name", FIXTURES)
def test_every_split_offset_gives_the_same_tokens(
    h2o: Registry, splitter: Splitter, name: str, promise: Promises
) -> None:
    body, expected = FIXTURES[name]
    rec = promise("P3").record(f"F17-F19/F24/F25 {name}: every split offset", compared=0)
    mismatches = []
    chunkings: list[list[bytes]] = [[body], [body[i : i + 1] for i in range(len(body))]]
    chunkings += [[body[:cut], body[cut:]] for cut in range(1, len(body))]
    for pieces in chunkings:
        got = splitter.text(pieces)
        if got != expected:
            mismatches.append((len(pieces), got))
    rec.update(compared=len(chunkings), mismatches=len(mismatches))
    assert mismatches == []


def test_random_chunkings_of_random_token_streams_give_the_same_tokens(
    h2o: Registry, splitter: Splitter, promise: Promises
) -> None:
    rec = promise("P3").record("F17 Hypothesis: random tokens, random chunkings", examples=0)
    alphabet = st.characters(codec="utf-8", exclude_characters="\x00")
    tokens = st.lists(st.text(alphabet, min_size=1, max_size=6), min_size=1, max_size=8)
    endings = st.sampled_from(["\n", "\r\n", "\r"])

    @settings(max_examples=80, deadline=None, database=None)
    @given(tokens=tokens, ending=endings, cuts=st.lists(st.integers(0, 4000), max_size=12))
    def check(tokens: list[str], ending: str, cuts: list[int]) -> None:
        body = tgi_stream(*tokens, ending=ending)
        points = sorted({c % (len(body) + 1) for c in cuts} | {0, len(body)})
        pieces = [body[a:b] for a, b in itertools.pairwise(points)]
        rec["examples"] += 1
        assert splitter.text(pieces) == tokens

    check()
    rec.update(compared=rec["examples"], mismatches=0)


@pytest.mark.parametrize("ctype", ["text/event-stream", "text/event-stream; charset=iso-8859-1"])
def test_utf8_is_decoded_as_utf8_whatever_charset_is_declared(h2o: Registry, ctype: str) -> None:
    script: list[list[Step]] = [[head(ctype=ctype), chunk(tgi_stream(*MULTIBYTE)), LAST_CHUNK]]
    with RawServer(chat_ui_site(script), lifetime=5) as site:
        assert list(h2o_stream(site.url)()) == MULTIBYTE


def test_invalid_utf8_is_a_response_error_naming_the_byte(h2o: Registry, promise: Promises) -> None:
    bad = b'data:{"token":{"id":1,"text":"\xff","logprob":0,"special":false}}\n\n'
    with RawServer(chat_ui_site([[head(), chunk(partial(" a")), chunk(bad), HOLD]])) as site:
        out = consume(h2o_stream(site.url, timeout=2))
    fault(promise, "F18 invalid UTF-8", out.error, ProviderResponseError)
    assert out.chunks == [" a"]
    assert isinstance(out.error, ProviderResponseError)
    assert "UTF-8" in str(out.error) and "byte" in str(out.error)
    assert out.error.partial_text == " a"


def test_the_emulators_framings_all_give_the_same_text(h2o: Registry, emu: H2oEmulator) -> None:
    emu.faults.script = MULTIBYTE + SEPARATORS
    texts = set()
    for ending, size in itertools.product(["\n", "\r\n", "\r"], [None, 1, 3]):
        emu.faults.line_ending = ending
        emu.faults.chunk_size = size
        emu.faults.keepalive = size == 3
        texts.add(g4f_core.complete(PROMPT, provider="H2o", base_url=emu.url))
    assert texts == {"".join(MULTIBYTE + SEPARATORS)}


# -- F20 keep-alives --------------------------------------------------------------------------


def test_keep_alive_comments_between_tokens_are_ignored(h2o: Registry) -> None:
    body = b"".join(b": ping\n\n" + sse(tgi_event(t)) for t in SIMPLE)
    body += b":\n\n" + sse(tgi_event("</s>", final="x", special=True))
    with RawServer(chat_ui_site([[head(), chunk(body), LAST_CHUNK]]), lifetime=5) as site:
        assert list(h2o_stream(site.url)()) == SIMPLE


def test_keep_alives_alone_are_not_progress(h2o: Registry, promise: Promises) -> None:
    def pings(request: Request) -> Iterator[Step]:
        yield head()
        yield chunk(partial(" a"))
        while True:
            yield chunk(b": keep-alive\n\n")
            yield 0.05

    with RawServer(chat_ui_site(pings), lifetime=5) as site:
        out = consume(h2o_stream(site.url, timeout=0.5))
        closed = released(
            promise,
            "F20 keep-alives only",
            lambda t: site.wait_closed(generation_connection(site), t),
            out.ended_at,
        )
    fault(promise, "F20 keep-alives only", out.error, ProviderTimeoutError)
    hang(promise, "F20 keep-alives every 50 ms, no token (timeout 0.5 s)", 0.5, out.elapsed)
    assert isinstance(out.error, ProviderTimeoutError)
    assert out.error.phase == "idle"
    assert out.error.partial_text == " a"
    assert out.elapsed < 0.5 + SLACK
    assert closed


def test_the_emulators_keep_alives_do_not_change_the_text(h2o: Registry, emu: H2oEmulator) -> None:
    plain = g4f_core.complete(PROMPT, provider="H2o", base_url=emu.url)
    emu.faults.keepalive = True
    assert g4f_core.complete(PROMPT, provider="H2o", base_url=emu.url) == plain


# -- F21 an error event mid-stream ----------------------------------------------------------


def test_an_error_event_after_tokens_is_a_response_error_with_type_and_partial_text(
    h2o: Registry, promise: Promises
) -> None:
    error = sse({"error": "CUDA out of memory", "error_type": "generation"})
    script: list[list[Step]] = [[head(), chunk(partial(" a", " b", " c")), chunk(error), HOLD]]
    with RawServer(chat_ui_site(script), lifetime=5) as site:
        out = consume(h2o_stream(site.url, max_retries=2))
        closed = released(
            promise,
            "F21 error event",
            lambda t: site.wait_closed(generation_connection(site), t),
            out.ended_at,
        )
    fault(promise, "F21 error event mid-stream", out.error, ProviderResponseError)
    promise("P3").record(
        "F21 partial_text equals what was yielded",
        compared=1,
        mismatches=int(getattr(out.error, "partial_text", None) != out.text),
    )
    assert isinstance(out.error, ProviderResponseError)
    assert out.error.error_type == "generation"
    assert "CUDA out of memory" in str(out.error)
    assert out.error.partial_text == " a b c"
    assert sum(map(is_generation, site.requests)) == 1
    assert closed


def test_the_emulators_incomplete_generation_after_tokens_is_not_retried(
    h2o: Registry, emu: H2oEmulator
) -> None:
    emu.faults.incomplete_after = 2
    out = consume(h2o_stream(emu.url, max_retries=2))
    assert isinstance(out.error, ProviderResponseError)
    assert out.error.error_type == "incomplete_generation"
    assert len(out.chunks) == 2 and out.error.partial_text == out.text
    assert sum(1 for r in emu.requests if r.method == "POST" and "/conversation/" in r.path) == 1


def test_the_emulators_generation_error_before_any_token_names_it(
    h2o: Registry, emu: H2oEmulator
) -> None:
    emu.faults.generation_error = "CUDA out of memory"
    out = consume(h2o_stream(emu.url, max_retries=0))
    assert isinstance(out.error, ProviderResponseError)
    assert out.error.error_type == "generation"
    assert "CUDA out of memory" in str(out.error)
    assert out.error.partial_text == ""


# -- F22 endless streams ----------------------------------------------------------------------


def test_an_endless_stream_stops_at_the_deadline(h2o: Registry, promise: Promises) -> None:
    def endless(request: Request) -> Iterator[Step]:
        yield head()
        for n in itertools.count():
            yield chunk(partial(f" t{n}"))
            yield 0.05

    with RawServer(chat_ui_site(endless), lifetime=6) as site:
        out = consume(h2o_stream(site.url, deadline=1.0))
        closed = released(
            promise,
            "F22 endless stream",
            lambda t: site.wait_closed(generation_connection(site), t),
            out.ended_at,
        )
    fault(promise, "F22 endless stream", out.error, ProviderTimeoutError)
    hang(promise, "F22 a token every 50 ms forever (deadline 1 s)", 1.0, out.elapsed)
    assert isinstance(out.error, ProviderTimeoutError)
    assert out.error.phase == "deadline"
    assert out.error.partial_text == out.text and len(out.chunks) > 5
    assert out.elapsed < 1.0 + SLACK
    assert closed


def test_a_byte_trickle_that_never_completes_an_event_is_an_idle_timeout(
    h2o: Registry, promise: Promises
) -> None:
    def trickle(request: Request) -> Iterator[Step]:
        yield head()
        yield chunk(partial(" a"))
        for byte in itertools.cycle(b"data:xxxx"):
            yield chunk(bytes([byte]))
            yield 0.2

    with RawServer(chat_ui_site(trickle), lifetime=6) as site:
        out = consume(h2o_stream(site.url, timeout=0.5, deadline=5.0))
        closed = released(
            promise,
            "F22 byte trickle",
            lambda t: site.wait_closed(generation_connection(site), t),
            out.ended_at,
        )
    hang(promise, "F22 one byte every 0.2 s, no event (timeout 0.5 s)", 0.5, out.elapsed)
    assert isinstance(out.error, ProviderTimeoutError)
    assert out.error.partial_text == " a"
    assert out.elapsed < 0.5 + SLACK
    assert closed


def test_a_response_head_trickling_forever_is_a_timeout(h2o: Registry, promise: Promises) -> None:
    def trickle(request: Request) -> Iterator[Step]:
        for byte in itertools.cycle(b"HTTP/1.1 200 OK\r\nX-Slow: "):
            yield bytes([byte])
            yield 0.1

    with RawServer(chat_ui_site(trickle), lifetime=6) as site:
        out = consume(h2o_stream(site.url, timeout=0.5, max_retries=0))
    hang(promise, "F22 response head, one byte every 0.1 s (timeout 0.5 s)", 0.5, out.elapsed)
    assert isinstance(out.error, ProviderTimeoutError)
    assert out.elapsed < 0.5 + SLACK


def test_a_fast_endless_stream_stops_at_max_reply_bytes(h2o: Registry, promise: Promises) -> None:
    def flood(request: Request) -> Iterator[Step]:
        yield head()
        block = chunk(partial(*[" flood"] * 200))
        while True:
            yield block

    with RawServer(chat_ui_site(flood), lifetime=6) as site:
        out = consume(h2o_stream(site.url, max_reply_bytes=256 << 10, timeout=2))
    fault(promise, "F22 endless fast stream over max_reply_bytes", out.error, ProviderResponseError)
    promise("P8").record(
        "F22 max_reply_bytes 256 KiB: text delivered before the stop",
        delivered_bytes=len(out.text.encode()),
        passed=len(out.text.encode()) <= 256 << 10,
    )
    assert isinstance(out.error, ProviderResponseError)
    assert "max_reply_bytes" in str(out.error)
    assert out.error.partial_text == out.text
    assert len(out.text.encode()) <= 256 << 10


# -- F23 one gigantic line ---------------------------------------------------------------


@pytest.fixture
def bytes_read(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Bytes this thread reads from sockets from now on (what the client took in)."""
    me = threading.get_ident()
    count = [0]
    real = socket.socket.recv_into

    def recv_into(self: socket.socket, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        got = real(self, buffer, nbytes, flags)
        if threading.get_ident() == me:
            count[0] += got
        return got

    monkeypatch.setattr(socket.socket, "recv_into", recv_into)
    return lambda: count[0]


def test_a_64_mib_line_is_refused_soon_after_max_line_bytes_with_bounded_cpu_and_memory(
    h2o: Registry, bytes_read: Callable[[], int], promise: Promises
) -> None:
    limit = 1 << 20

    def giant(request: Request) -> Iterator[Step]:
        yield head()
        yield chunk(partial(" a"))
        yield chunk(b"data: ")
        block = chunk(b"x" * 65536)
        for _ in range(1024):  # 64 MiB, never a newline
            yield block

    with RawServer(chat_ui_site(giant), lifetime=10) as site:
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            cpu = time.thread_time()
            out = consume(h2o_stream(site.url, max_line_bytes=limit, timeout=2))
            cpu = time.thread_time() - cpu
            peak = tracemalloc.get_traced_memory()[1] - before
        finally:
            tracemalloc.stop()
        closed = released(
            promise,
            "F23 64 MiB line",
            lambda t: site.wait_closed(generation_connection(site), t),
            out.ended_at,
        )
        sent = site.connection(generation_connection(site)).bytes_sent
    read = bytes_read()
    fault(promise, "F23 64 MiB line", out.error, ProviderResponseError)
    hang(promise, "F23 64 MiB line (timeout 2 s)", 2.0, out.elapsed)
    promise("P8").record(
        "F23 64 MiB line, max_line_bytes 1 MiB",
        limit_bytes=limit,
        client_read_bytes=read,
        server_sent_bytes=sent,
        cpu_s=round(cpu, 3),
        peak_heap_growth_bytes=peak,
        passed=read <= limit + (64 << 10) + 8192 and cpu < 1.0 and peak < 3 * limit,
    )
    assert isinstance(out.error, ProviderResponseError)
    assert "max_line_bytes" in str(out.error)
    assert out.error.partial_text == " a"
    assert read <= limit + (64 << 10) + 8192  # the limit, one read, and the small requests
    assert cpu < 1.0
    assert peak < 3 * limit
    assert closed


# -- F24, F25 (also covered under every chunking above) ---------------------------------------


def test_a_leading_bom_does_not_lose_the_first_token(h2o: Registry) -> None:
    body = b"\xef\xbb\xbf" + tgi_stream(*SIMPLE)
    with RawServer(chat_ui_site([[head(), chunk(body), LAST_CHUNK]]), lifetime=5) as site:
        out = consume(h2o_stream(site.url))
    assert out.error is None
    assert out.chunks == SIMPLE


def test_unicode_line_separators_inside_tokens_arrive_intact(h2o: Registry) -> None:
    body = tgi_stream(*SEPARATORS)
    with RawServer(chat_ui_site([[head(), chunk(body), LAST_CHUNK]]), lifetime=5) as site:
        assert list(h2o_stream(site.url)()) == SEPARATORS
