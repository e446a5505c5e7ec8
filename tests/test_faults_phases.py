"""Interim responses, every phase of a call bounded by its deadline, and the event size limit.

Each test points a provider at a loopback server (tests/rawserver.py) that misbehaves in
one phase, and records the figure docs/reliability.md reports: P13 for cross-talk through
the shared pool, P14 for the overrun of each phase, P15 for one event's memory (in a child
process), P16 for close() from another thread, P2 for error types.
"""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any

import pytest
from promises import Promises, consume, fault, phase, promise_fixture  # noqa: F401
from rawserver import (
    CLOSE,
    HOLD,
    LAST_CHUNK,
    RawServer,
    Request,
    Step,
    backlog_full_listener,
    chat_ui_site,
    chunk,
    done_stream,
    head,
    raw_provider,
    reply,
    tgi_event,
    tgi_stream,
)

import g4f_core
from g4f_core.errors import (
    ProviderConnectionError,
    ProviderHTTPError,
    ProviderResponseError,
    ProviderTimeoutError,
    RateLimitError,
)
from g4f_core.plugins.registry import Registry

PROMPT = "Hello, phases"
SLACK = 0.5  # overrun allowed on a loaded 2-core machine; P1 reports the real one
EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"


@pytest.fixture
def h2o(use_registry: Callable[[Registry], Registry]) -> Registry:
    return use_registry(Registry([metadata.distribution("g4f-core")], environ={}))


def raw(url: str, **options: Any) -> Callable[[], g4f_core.ChatStream]:
    return lambda: g4f_core.stream(PROMPT, provider="Raw", base_url=url, **options)


def h2o_stream(url: str, **options: Any) -> Callable[[], g4f_core.ChatStream]:
    return lambda: g4f_core.stream(PROMPT, provider="H2o", base_url=url, **options)


def trickle(step: bytes, every: float, seconds: float) -> Iterator[Step]:
    for _ in range(int(seconds / every)):
        yield every
        yield step


# -- 1xx: interim responses are skipped; no pooled connection carries an earlier reply ----


def test_a_103_early_hints_is_skipped_and_the_next_caller_through_the_pool_gets_its_own_reply(
    install: Callable[..., Registry], promise: Promises
) -> None:
    install(Raw=raw_provider())
    first: list[Step] = [EARLY_HINTS, 0.2, head(), chunk(done_stream("first")), LAST_CHUNK]
    second: list[Step] = [head(), chunk(done_stream("second")), LAST_CHUNK]
    with RawServer([first, second], lifetime=8) as site:
        one = consume(raw(site.url, max_retries=0))
        two = consume(raw(site.url, max_retries=0))
        reused = len({r.connection for r in site.requests})
    ok = one.text == "first" and two.text == "second"
    promise("P13").record(
        "103 Early Hints, then a second call through the shared pool",
        first=one.text,
        second=two.text,
        connections=reused,
        cross_talk=0 if ok else 1,
        passed=ok,
    )
    assert one.error is None and one.text == "first"
    assert two.error is None and two.text == "second"
    assert reused == 1  # the second call did go through the pooled connection


def test_several_interim_heads_and_a_100_continue_are_all_skipped(
    install: Callable[..., Registry],
) -> None:
    install(Raw=raw_provider())
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" + EARLY_HINTS + b"HTTP/1.1 102 Processing\r\n\r\n"
    script: list[Step] = [interim, head(), chunk(done_stream("a", "b")), LAST_CHUNK]
    with RawServer([script], lifetime=5) as site:
        out = consume(raw(site.url, max_retries=0))
    assert out.error is None
    assert out.chunks == ["a", "b"]


def test_a_reply_abandoned_mid_body_never_goes_back_to_the_pool(
    install: Callable[..., Registry], promise: Promises
) -> None:
    install(Raw=raw_provider())
    tail = b"".join(chunk(done_stream(f" {n}", done=False)) for n in range(50))
    first: list[Step] = [head(), chunk(done_stream("a", done=False)), 0.2, tail, LAST_CHUNK]
    second: list[Step] = [head(), chunk(done_stream("own")), LAST_CHUNK]
    with RawServer([first, second], lifetime=8) as site:
        with g4f_core.stream(PROMPT, provider="Raw", base_url=site.url) as stream:
            assert next(stream) == "a"  # then the caller walks away mid-body
        time.sleep(0.3)  # the rest of the first body is on the wire by now
        two = consume(raw(site.url, max_retries=0))
        connections = len({r.connection for r in site.requests})
    promise("P13").record(
        "a reply abandoned mid-body, then a second call",
        second=two.text,
        cross_talk=0 if two.text == "own" else 1,
        passed=two.text == "own" and connections == 2,
    )
    assert two.error is None and two.text == "own"
    assert connections == 2


# -- every phase within the deadline -----------------------------------------------------


def test_finish_after_the_last_event_ends_within_the_deadline_when_the_server_trickles(
    install: Callable[..., Registry], promise: Promises
) -> None:
    install(Raw=raw_provider())
    script = [head(framing="close"), done_stream("x"), *trickle(b" ", 0.05, 6.0)]
    with RawServer([script], lifetime=8) as site:
        out = consume(raw(site.url, deadline=1.5, timeout=1.0, max_retries=0))
    phase(promise, "finish(): bytes trickle after [DONE] (deadline 1.5 s)", 1.5, out.elapsed)
    assert out.error is None and out.text == "x"
    assert out.elapsed < 1.5 + SLACK


def test_a_connection_close_stream_trickling_a_chunk_size_line_ends_at_the_deadline(
    install: Callable[..., Registry], promise: Promises
) -> None:
    install(Raw=raw_provider())
    start = head(headers={"Connection": "close"}) + chunk(done_stream("a", done=False))
    with RawServer([[start, *trickle(b"1", 0.05, 6.0)]], lifetime=8) as site:
        out = consume(raw(site.url, deadline=1.0, timeout=5.0, max_retries=0))
    phase(promise, "Connection: close, chunk-size line trickles (deadline 1 s)", 1.0, out.elapsed)
    assert isinstance(out.error, ProviderTimeoutError)
    assert out.error.phase == "deadline"
    assert out.chunks == ["a"]
    assert out.elapsed < 1.0 + SLACK


RAISE_FOR_STATUS = """
from g4f_core import Client, current

url = "http://127.0.0.1:9"
models = ["rfs-1"]
supports_stream = True
needs_auth = False


def _create_completion(model, messages, stream, **kwargs):
    with Client(current()) as http:
        response = http.request("POST", "/v1/chat", expect=(200, 503), stream=True, json={})
        response.raise_for_status()
        yield "never"
"""


def test_an_error_body_read_by_raise_for_status_ends_within_the_deadline(
    install: Callable[..., Registry], promise: Promises
) -> None:
    install(Rfs=RAISE_FOR_STATUS)
    start = head(503, ctype="application/json", framing="length", length=200)
    with RawServer([[start, *trickle(b" ", 0.05, 10.0)]], lifetime=12) as site:
        out = consume(
            lambda: g4f_core.stream(
                PROMPT, provider="Rfs", base_url=site.url, deadline=1.0, max_retries=0
            )
        )
    phase(promise, "raise_for_status() on a trickling 5xx body (deadline 1 s)", 1.0, out.elapsed)
    assert isinstance(out.error, ProviderHTTPError)
    assert out.error.status == 503
    assert out.elapsed < 1.0 + SLACK


@pytest.fixture
def addresses(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], Any]]:
    """``*.test`` names answered by a scripted resolver (never a real one)."""
    answers: dict[str, Callable[[], Any]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: object, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host in answers:
            return answers[host]()
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def test_connecting_to_a_host_with_several_unreachable_addresses_ends_at_the_deadline(
    h2o: Registry, addresses: dict[str, Callable[[], Any]], promise: Promises
) -> None:
    with backlog_full_listener() as port:
        where = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))
        addresses["many.test"] = lambda: [where] * 5
        out = consume(h2o_stream(f"http://many.test:{port}", timeout=1.0, deadline=1.5))
    phase(promise, "5 unreachable addresses, timeout 1 s each (deadline 1.5 s)", 1.5, out.elapsed)
    assert isinstance(out.error, ProviderTimeoutError)
    assert out.elapsed < 1.5 + SLACK


def test_a_resolver_that_hangs_is_given_up_at_the_deadline(
    h2o: Registry, addresses: dict[str, Callable[[], Any]], promise: Promises
) -> None:
    release = threading.Event()

    def hangs() -> Any:
        release.wait(5)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    addresses["slow.test"] = hangs
    try:
        out = consume(h2o_stream("http://slow.test:8080", deadline=1.0))
    finally:
        release.set()  # let the worker thread go
    phase(promise, "a resolver that hangs (deadline 1 s)", 1.0, out.elapsed)
    assert isinstance(out.error, ProviderTimeoutError)
    assert out.error.phase == "deadline"
    assert out.elapsed < 1.0 + SLACK


EMPTY = """
import time

url = "http://127.0.0.1:9"
models = ["empty-1"]
supports_stream = True
needs_auth = False


def _create_completion(model, messages, stream, **kwargs):
    yield "a"
    end = time.monotonic() + 6
    while time.monotonic() < end:
        time.sleep(0.02)
        yield ""
"""


def test_a_provider_yielding_empty_strings_is_stopped_at_the_deadline(
    install: Callable[..., Registry], promise: Promises
) -> None:
    install(Empty=EMPTY)
    out = consume(lambda: g4f_core.stream(PROMPT, provider="Empty", deadline=1.0))
    phase(promise, "a provider yielding empty strings (deadline 1 s)", 1.0, out.elapsed)
    assert isinstance(out.error, ProviderTimeoutError)
    assert out.error.phase == "deadline"
    assert out.chunks == ["a"]
    assert out.elapsed < 1.0 + SLACK


def test_events_without_text_do_not_reset_the_idle_limit(h2o: Registry, promise: Promises) -> None:
    textless = tgi_event("", special=True)

    def endless(request: Request) -> Iterator[Step]:
        yield head()
        yield chunk(tgi_stream(" a", final=False))
        for _ in range(100):  # 6 s of events, none with text
            yield 0.06
            yield chunk(f"data:{json.dumps(textless)}\n\n".encode())

    with RawServer(chat_ui_site(endless), lifetime=10) as site:
        out = consume(h2o_stream(site.url, timeout=1.0, max_retries=0))
    phase(
        promise,
        "events without text every 60 ms: the no-text limit (timeout 1 s)",
        1.0,
        out.elapsed,
    )
    assert isinstance(out.error, ProviderTimeoutError)
    assert out.error.phase == "idle"
    assert "no text" in str(out.error)
    assert out.chunks == [" a"]
    assert out.elapsed < 1.0 + 1.0 + SLACK  # the requests before the stream, then the limit


# -- the size of one event -----------------------------------------------------------------

CHILD = """
import resource, sys, time, tracemalloc
import g4f_core
g4f_core.complete("Hi", provider="H2o", base_url=sys.argv[1])  # warm: discovery, pools
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
try:
    text = "".join(g4f_core.stream("Hi", provider="H2o", base_url=sys.argv[1],
                                   max_line_bytes=65536, timeout=5))
    error = None
except Exception as exc:
    error = f"{type(exc).__name__}: {exc}"
peak = tracemalloc.get_traced_memory()[1]
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss
print(json.dumps({"error": error, "peak": peak, "rss_kib": grown}))
"""


def test_one_event_of_many_short_data_lines_is_refused_past_the_line_limit_in_bounded_memory(
    promise: Promises,
) -> None:
    block = chunk(b"data:x\n" * 8192)  # 56 KiB of one-byte data lines, never a blank line

    calls = [0]

    def flood(request: Request) -> Iterator[Step]:
        calls[0] += 1
        if calls[0] == 1:  # the child's warm-up call
            yield from [head(), chunk(tgi_stream(" ok")), LAST_CHUNK]
            return
        yield head()
        yield chunk(tgi_stream(" a", final=False))
        for _ in range(1100):  # about 60 MiB, one event
            yield block

    with RawServer(chat_ui_site(flood), lifetime=20) as site:
        code = "import json\n" + textwrap.dedent(CHILD)
        done = subprocess.run(
            [sys.executable, "-c", code, site.url], capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    limit = 65536
    promise("P15").record(
        "one 60 MiB event of short data lines, max_line_bytes 64 KiB (child process)",
        limit_bytes=limit,
        peak_heap_bytes=result["peak"],
        rss_growth_kib=result["rss_kib"],
        passed=result["peak"] < 3 * limit + (4 << 20) and result["rss_kib"] < 32 << 10,
    )
    assert result["error"] is not None and "ProviderResponseError" in result["error"]
    assert "max_line_bytes" in result["error"]
    assert result["rss_kib"] < 32 << 10  # 60 MiB sent; the old code grew by ~130 MiB
    assert result["peak"] < 3 * limit + (4 << 20)  # the limit, reads, and the import's noise


# -- error bodies that are deeply nested JSON ----------------------------------------------

NESTED = b'{"error":' * 50000 + b"1" + b"}" * 50000


def test_a_503_with_deeply_nested_json_is_an_http_error_and_is_retried(
    install: Callable[..., Registry], promise: Promises
) -> None:
    install(Raw=raw_provider())
    with RawServer([reply(503, NESTED)], lifetime=5) as site:
        out = consume(raw(site.url, max_retries=1))
    fault(promise, "503 with deeply nested JSON", out.error, ProviderHTTPError)
    assert isinstance(out.error, ProviderHTTPError)
    assert out.error.status == 503
    assert "Recursion" not in str(out.error)
    assert len(out.error.attempts) == 2


def test_a_429_with_deeply_nested_json_keeps_its_retry_after(
    install: Callable[..., Registry], promise: Promises
) -> None:
    install(Raw=raw_provider())
    script = reply(429, NESTED, headers={"Retry-After": "120"})
    with RawServer([script], lifetime=5) as site:
        out = consume(raw(site.url, max_retries=0))
    fault(promise, "429 with deeply nested JSON", out.error, RateLimitError)
    assert isinstance(out.error, RateLimitError)
    assert out.error.retry_after == 120
    assert "Recursion" not in str(out.error)


def test_an_event_over_the_limit_is_a_response_error_naming_max_line_bytes(
    h2o: Registry,
) -> None:
    event = b"data:xxxxxxx\n" * 4000 + b"\n"  # 32 KB in one event, lines of 12 bytes
    script: list[list[Step]] = [[head(), chunk(tgi_stream(" a", final=False) + event)]]
    with RawServer(chat_ui_site(script), lifetime=5) as site:
        out = consume(h2o_stream(site.url, max_line_bytes=16384))
    assert isinstance(out.error, ProviderResponseError)
    assert "max_line_bytes" in str(out.error) and "event" in str(out.error)
    assert out.chunks == [" a"]


# -- replies that are not HTTP/1.x as they must be: precise errors --------------------------

GZIPPED = gzip.compress(b"data: x\n\n")
BROKEN: dict[str, tuple[list[Step], type[Exception], str]] = {
    "http-0.9": ([b"hello there\n", CLOSE], ProviderResponseError, "status line"),
    "header-flood": (
        [b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 200 + b"\r\n", CLOSE],
        ProviderResponseError,
        "too big",
    ),
    "early-close": ([CLOSE], ProviderConnectionError, "without sending a reply"),
    "chained-encoding": (
        [
            head(framing="length", length=len(GZIPPED), headers={"Content-Encoding": "gzip, gzip"})
            + GZIPPED
        ],
        ProviderResponseError,
        "Content-Encoding",
    ),
    "bogus-encoding": (
        [head(framing="length", length=5, headers={"Content-Encoding": "x-bogus"}) + b"hello"],
        ProviderResponseError,
        "Content-Encoding",
    ),
}


@pytest.mark.parametrize("name", BROKEN)
def test_a_reply_that_is_not_http_1_gets_a_precise_error_not_could_not_connect(
    install: Callable[..., Registry], name: str, promise: Promises
) -> None:
    install(Raw=raw_provider())
    script, expected, words = BROKEN[name]
    with RawServer([script], lifetime=5) as site:
        out = consume(raw(site.url, max_retries=0))
    fault(promise, f"a broken reply: {name}", out.error, expected)
    assert isinstance(out.error, expected)
    assert words in str(out.error)
    assert "could not connect" not in str(out.error)


# -- close() from another thread ends a blocked call at once -----------------------------

STALLS: dict[str, list[Step]] = {
    "chunked keep-alive": [head(), chunk(tgi_stream(" a", final=False)), HOLD],
    "Connection: close": [
        head(headers={"Connection": "close"}),
        chunk(tgi_stream(" a", final=False)),
        HOLD,
    ],
}


@pytest.mark.parametrize("name", STALLS)
def test_close_from_another_thread_ends_a_blocked_stream_and_the_server_sees_it_at_once(
    h2o: Registry, name: str, promise: Promises
) -> None:
    got: list[str] = []
    ended = threading.Event()
    with RawServer(chat_ui_site([STALLS[name]]), lifetime=8) as site:
        stream = g4f_core.stream(PROMPT, provider="H2o", base_url=site.url, timeout=5)

        def read() -> None:
            try:
                got.extend(stream)
            finally:
                ended.set()

        threading.Thread(target=read, daemon=True).start()
        site_up = time.monotonic() + 3
        while not got and time.monotonic() < site_up:
            time.sleep(0.005)
        time.sleep(0.05)  # the reader is blocked in its next read now
        began = time.monotonic()
        stream.close()
        stopped = ended.wait(3)
        stopped_ms = (time.monotonic() - began) * 1000
        generation = next(r for r in site.requests if "/conversation/" in r.path)
        seen = site.wait_closed(generation.connection, 3)
        closed_at = site.connection(generation.connection).closed_at
    seen_ms = None if closed_at is None else round((closed_at - began) * 1000, 1)
    promise("P16").record(
        f"close() from another thread, {name} stream stalled",
        reader_ended_ms=round(stopped_ms, 1),
        server_saw_close_ms=seen_ms,
        passed=stopped and seen and stopped_ms < 1000 and (seen_ms or 1e9) < 1000,
    )
    assert stopped and got == [" a"]
    assert seen and seen_ms is not None and seen_ms < 1000
    assert stopped_ms < 1000
