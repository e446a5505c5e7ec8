"""Concurrency, lifecycle, secrets and hostile replies: faults F40-F45.

F40 runs 16 threads of streaming calls through H2o against one emulator; F41 stops
streams in every way a caller can (close, break, an exception, KeyboardInterrupt, SIGINT
to a real process) and checks the server saw the connection go; F42 checks retries stop
at the first token; F43/F44 sweep canaries through logs, errors and warnings; F45 sends
decompression bombs and hostile JSON.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import warnings
import zlib
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from plugin_kit import CountedDists, make_dist, provider_source
from promises import (  # noqa: F401
    Outcome,
    Promises,
    consume,
    drain_pool,
    fault,
    promise_fixture,
    released,
)
from rawserver import (
    CLOSE,
    HOLD,
    LAST_CHUNK,
    RawServer,
    Request,
    Step,
    chat_ui_site,
    chunk,
    closed_port,
    done_stream,
    head,
    is_generation,
    raw_provider,
    reply,
    sse,
    tgi_stream,
)

import g4f_core
from g4f_core.errors import (
    G4FError,
    ProviderConnectionError,
    ProviderHTTPError,
    ProviderResponseError,
)
from g4f_core.plugins.registry import Registry
from g4f_core_providers.h2o import format_prompt, models
from g4f_core_providers.h2o.server import H2oEmulator

PROMPT = "Hello, lifecycle"
STALLED: list[Step] = [head(), chunk(tgi_stream(" a", final=False)), HOLD]
CUT: list[Step] = [head(), chunk(tgi_stream(" a", " b", final=False)), b"5\r\nda", CLOSE]


@pytest.fixture
def h2o(use_registry: Callable[[Registry], Registry]) -> Registry:
    """This project's own distribution only (H2o), never the developer's other plugins."""
    return use_registry(Registry([metadata.distribution("g4f-core")], environ={}))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else -1


def generation_connection(server: RawServer) -> int:
    return next(r.connection for r in server.requests if is_generation(r))


# -- F40 many threads at once ---------------------------------------------------------------

THREADS = 16
CALLS = 25


def test_sixteen_threads_of_streaming_calls_each_get_exactly_their_own_text(
    use_registry: Callable[[Registry], Registry],
    caplog: pytest.LogCaptureFixture,
    promise: Promises,
) -> None:
    dists = CountedDists([metadata.distribution("g4f-core")])
    use_registry(Registry(dists, environ={}))
    drain_pool()
    fds_before = open_fds()
    errors: list[BaseException] = []
    crossed: list[tuple[str, str]] = []
    done = [0]
    lock = threading.Lock()
    with caplog.at_level(logging.WARNING), H2oEmulator() as emu:
        start = threading.Barrier(THREADS)  # discovery is first needed by all at once

        def caller(number: int) -> None:
            start.wait()
            for call in range(CALLS):
                prompt = f"caller {number:02d} call {call:03d} token-{number * 1000 + call}"
                try:
                    text = "".join(g4f_core.stream(prompt, provider="H2o", base_url=emu.url))
                except BaseException as exc:  # noqa: BLE001 - every failure is a finding
                    with lock:
                        errors.append(exc)
                    continue
                wanted = emu.reply_for(
                    format_prompt([{"role": "user", "content": prompt}]), models["falcon-40b"]
                )
                with lock:
                    done[0] += 1
                    if text != "".join(wanted):
                        crossed.append((prompt, text))

        threads = [threading.Thread(target=caller, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        drain_pool()
        end = time.monotonic() + 2.0
        while emu.connections_closed < emu.connections_opened and time.monotonic() < end:
            time.sleep(0.01)
        opened, closed = emu.connections_opened, emu.connections_closed
    fds_after = open_fds()
    pool_full = [r for r in caplog.records if "pool is full" in r.getMessage()]
    promise("P11").record(
        "F40 16 threads x 25 streaming calls through H2o, one emulator",
        threads=THREADS,
        calls=THREADS * CALLS,
        completed=done[0],
        cross_talk=len(crossed),
        errors=len(errors),
        discovery_runs=dists.reads,
        pool_full_warnings=len(pool_full),
    )
    promise("P4").record(
        "F40 connections after 400 concurrent calls and a pool drain",
        opened=opened,
        closed=closed,
        leaked_sockets=max(0, fds_after - fds_before),
        passed=opened == closed and fds_after <= fds_before,
    )
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert crossed == []
    assert done[0] == THREADS * CALLS
    assert dists.reads == 1
    assert pool_full == []
    assert closed == opened
    assert fds_after <= fds_before


# -- F41 stopping a stream ----------------------------------------------------------------


@pytest.fixture
def stalled_site() -> Iterator[RawServer]:
    """One token, then the stream stays open: only the client can end it."""
    with RawServer(chat_ui_site([STALLED]), lifetime=8) as server:
        yield server


def first_token_then(site: RawServer, action: Callable[[g4f_core.ChatStream], None]) -> float:
    """Open a stream, read one token, then ``action``; returns when the action ended."""
    stream = g4f_core.stream(PROMPT, provider="H2o", base_url=site.url, timeout=5)
    assert next(stream) == " a"
    action(stream)
    return time.monotonic()


def test_a_keyboard_interrupt_in_the_consumer_passes_through_and_closes_the_connection(
    h2o: Registry, stalled_site: RawServer, promise: Promises
) -> None:
    url = stalled_site.url
    with (
        pytest.raises(KeyboardInterrupt) as caught,
        g4f_core.stream(PROMPT, provider="H2o", base_url=url, timeout=5) as stream,
    ):
        for _ in stream:
            raise KeyboardInterrupt
    since = time.monotonic()
    closed = released(
        promise,
        "F41 KeyboardInterrupt in the consumer",
        lambda t: stalled_site.wait_closed(generation_connection(stalled_site), t),
        since,
    )
    assert type(caught.value) is KeyboardInterrupt
    assert closed


def test_an_exception_in_the_consumer_passes_through_and_closes_the_connection(
    h2o: Registry, stalled_site: RawServer, promise: Promises
) -> None:
    class Mine(Exception):
        pass

    url = stalled_site.url
    with (
        pytest.raises(Mine),
        g4f_core.stream(PROMPT, provider="H2o", base_url=url, timeout=5) as stream,
    ):
        for _ in stream:
            raise Mine
    closed = released(
        promise,
        "F41 exception in the consumer",
        lambda t: stalled_site.wait_closed(generation_connection(stalled_site), t),
        time.monotonic(),
    )
    assert closed


def test_close_after_the_first_token_closes_the_connection(
    h2o: Registry, stalled_site: RawServer, promise: Promises
) -> None:
    since = first_token_then(stalled_site, lambda stream: stream.close())
    assert released(
        promise,
        "F41 close() after the first token",
        lambda t: stalled_site.wait_closed(generation_connection(stalled_site), t),
        since,
    )


def test_breaking_out_of_a_for_loop_closes_the_connection(
    h2o: Registry, stalled_site: RawServer, promise: Promises
) -> None:
    for _ in g4f_core.stream(PROMPT, provider="H2o", base_url=stalled_site.url, timeout=5):
        break
    since = time.monotonic()
    assert released(
        promise,
        "F41 break out of the loop",
        lambda t: stalled_site.wait_closed(generation_connection(stalled_site), t),
        since,
    )


def test_an_abandoned_stream_closes_the_connection_once_collected(
    h2o: Registry, stalled_site: RawServer, promise: Promises
) -> None:
    def abandon(stream: g4f_core.ChatStream) -> None:
        pass  # the last reference goes when first_token_then returns

    first_token_then(stalled_site, abandon)
    gc.collect()
    assert released(
        promise,
        "F41 abandoned iterator",
        lambda t: stalled_site.wait_closed(generation_connection(stalled_site), t),
        time.monotonic(),
    )


def test_sigint_to_a_streaming_process_ends_it_with_keyboard_interrupt_and_closes_the_socket(
    stalled_site: RawServer, promise: Promises
) -> None:
    code = textwrap.dedent(
        f"""
        from importlib import metadata
        import g4f_core
        from g4f_core.plugins.registry import Registry, _set_default
        _set_default(Registry([metadata.distribution("g4f-core")], environ={{}}))
        with g4f_core.stream("hi", provider="H2o", base_url={stalled_site.url!r}) as chunks:
            for piece in chunks:
                print("token", flush=True)
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("G4F_CORE_")}
    process = subprocess.Popen(
        [sys.executable, "-W", "always::ResourceWarning", "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "token"
        since = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    closed = released(
        promise,
        "F41 SIGINT to a streaming process",
        lambda t: stalled_site.wait_closed(generation_connection(stalled_site), t),
        since,
    )
    assert process.returncode in (-signal.SIGINT, 130, 1)
    assert err.rstrip().endswith("KeyboardInterrupt")
    assert "ResourceWarning" not in err
    assert closed


# -- F42 retries stop at the first token ------------------------------------------------------


def test_a_500_before_any_token_is_retried_and_the_reply_arrives_whole(
    h2o: Registry, promise: Promises
) -> None:
    ok = [head(), chunk(tgi_stream(" whole", " reply")), LAST_CHUNK]
    with RawServer(chat_ui_site([reply(500, b"oops", ctype="text/plain"), ok])) as site:
        out = consume(lambda: g4f_core.stream(PROMPT, provider="H2o", base_url=site.url))
    sent = sum(map(is_generation, site.requests))
    promise("P9").record(
        "F42 500 then success", kind="retryable", attempts=sent, expected=2, passed=sent == 2
    )
    assert out.error is None
    assert out.chunks == [" whole", " reply"]
    assert sent == 2


def test_a_drop_after_tokens_is_never_retried_and_keeps_the_partial_text(
    h2o: Registry, promise: Promises
) -> None:
    with RawServer(chat_ui_site([CUT, STALLED]), lifetime=5) as site:
        out = consume(
            lambda: g4f_core.stream(PROMPT, provider="H2o", base_url=site.url, max_retries=3)
        )
    sent = sum(map(is_generation, site.requests))
    promise("P9").record(
        "F42 drop after tokens",
        kind="after-token",
        retries_after_token=sent - 1,
        passed=sent == 1,
    )
    assert isinstance(out.error, ProviderConnectionError)
    assert out.error.partial_text == out.text == " a b"
    assert len(out.error.attempts) == 1
    assert sent == 1


FALLBACK = provider_source(
    models=["falcon-7b"],
    header="import pathlib",
    body="""
        pathlib.Path(MARKER).write_text("called")
        yield "from the fallback"
    """,
)


@pytest.fixture
def by_model(
    site: Path, use_registry: Callable[[Registry], Registry], tmp_path: Path
) -> Callable[[str], Path]:
    """H2o (at the given URL) plus ``Zulu``, sorted after it, both serving falcon-7b.

    Returns the marker file Zulu writes when it is called.
    """
    marker = tmp_path / "zulu-called"
    make_dist(site, "zulu-dist", "1.0", {"Zulu": FALLBACK.replace("MARKER", repr(str(marker)))})
    dists = [metadata.distribution("g4f-core"), *metadata.distributions(path=[str(site)])]

    def build(h2o_url: str) -> Path:
        use_registry(Registry(dists, environ={"G4F_CORE_H2O_URL": h2o_url}))
        return marker

    return build


def test_by_model_a_failure_after_tokens_never_falls_back(
    by_model: Callable[[str], Path], promise: Promises
) -> None:
    with RawServer(chat_ui_site([CUT]), lifetime=5) as site:
        marker = by_model(site.url)
        out = consume(lambda: g4f_core.stream(PROMPT, model="falcon-7b"))
    promise("P9").record(
        "F42 by model: no fallback after the first token",
        kind="after-token",
        retries_after_token=int(marker.exists()),
        passed=not marker.exists(),
    )
    assert isinstance(out.error, ProviderConnectionError)
    assert out.error.partial_text == " a b"
    assert not marker.exists()


def test_by_model_a_failure_before_tokens_falls_back_to_the_next_provider(
    by_model: Callable[[str], Path],
) -> None:
    with RawServer(chat_ui_site([reply(503, b"busy", ctype="text/plain")]), lifetime=5) as site:
        marker = by_model(site.url)
        out = consume(lambda: g4f_core.stream(PROMPT, model="falcon-7b", max_retries=0))
    assert out.error is None
    assert out.text == "from the fallback"
    assert marker.exists()


# -- F43, F44 canaries: secrets and prompts stay where they belong ----------------------------

PROMPT_CANARY = "PROMPT-CANARY-5d1e"
AUTH_CANARY = "AUTH-CANARY-93b0"
ENV_CANARY = "ENV-CANARY-61aa"
PATH_CANARY = "PATH-CANARY-2c7a"
QUERY_CANARY = "QUERY-CANARY-b4f1"
PRIVATE = (PROMPT_CANARY, AUTH_CANARY, ENV_CANARY)  # must never appear anywhere
URL_PARTS = (PATH_CANARY, QUERY_CANARY)  # must never appear in g4f-core's own output
MESSAGES = [
    {"role": "system", "content": f"You keep {PROMPT_CANARY} secret."},
    {"role": "user", "content": f"What is {PROMPT_CANARY}?"},
]
OWN_LOGGERS = ("g4f_core", "g4f_core_providers")

ERROR_EVENT = sse({"error": "CUDA out of memory", "error_type": "generation"})
H2O_SCENARIOS: dict[str, list[Step]] = {
    "success": [head(), chunk(tgi_stream(" fine")), LAST_CHUNK],
    "server-error": reply(500, b"internal error", ctype="text/plain"),
    "html-page": reply(502, b"<html><title>Bad gateway</title></html>", ctype="text/html"),
    "stall": STALLED,
    "cut-short": CUT,
    "malformed": [head(), chunk(tgi_stream(" a", final=False)), chunk(b"data: {oops\n\n"), HOLD],
    "error-event": [head(), chunk(tgi_stream(" a", final=False)), chunk(ERROR_EVENT), HOLD],
    "redirect": reply(307, b"", ctype=None, headers={"Location": "http://localhost:9/x?y=z"}),
}


def texts_of(error: BaseException | None) -> list[str]:
    """Everything an error shows: str, repr, args, and the same for every attempt."""
    if error is None:
        return []
    out = [str(error), repr(error), *map(str, error.args)]
    for attempt in getattr(error, "attempts", []):
        out += [str(attempt.error), repr(attempt.error), attempt.provider]
    return out


def chain_of(error: BaseException | None) -> list[str]:
    """The messages of every exception a traceback of ``error`` would print."""
    out: list[str] = []
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        out += [str(error), repr(error)]
        if error.__cause__ is not None:
            error = error.__cause__
        elif not error.__suppress_context__:
            error = error.__context__
        else:
            error = None
    return out


def found(canaries: tuple[str, ...], texts: list[str]) -> list[str]:
    return [c for c in canaries for text in texts if c in text]


def run_swept(
    start: Callable[[], g4f_core.ChatStream], caplog: pytest.LogCaptureFixture
) -> tuple[Outcome, list[logging.LogRecord], list[str]]:
    """Run a call with every logger at DEBUG and every warning recorded."""
    caplog.clear()
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.DEBUG):
        warnings.simplefilter("always")
        out = consume(start)
    return out, list(caplog.records), [str(w.message) for w in caught]


@pytest.mark.parametrize("name", H2O_SCENARIOS)
def test_no_canary_reaches_logs_errors_or_warnings_through_h2o(
    h2o: Registry, name: str, caplog: pytest.LogCaptureFixture, promise: Promises
) -> None:
    with RawServer(chat_ui_site([H2O_SCENARIOS[name]]), lifetime=5) as site:
        url = f"{site.url}/{PATH_CANARY}?key={QUERY_CANARY}"
        out, records, warned = run_swept(
            lambda: g4f_core.stream(
                MESSAGES,
                provider="H2o",
                base_url=url,
                auth=AUTH_CANARY,
                timeout=0.3,
                max_retries=1,
            ),
            caplog,
        )
    every_log = [r.getMessage() for r in records]
    own_log = [r.getMessage() for r in records if r.name.startswith(OWN_LOGGERS)]
    leaks = found(PRIVATE, every_log + warned + texts_of(out.error) + chain_of(out.error))
    leaks += found(URL_PARTS, own_log + warned + texts_of(out.error))
    promise("P7").record(f"F43/F44 H2o {name}", canary_occurrences=len(leaks))
    assert name == "success" or isinstance(out.error, G4FError)
    assert leaks == []


RAW_SCENARIOS: dict[str, list[Step]] = {
    "success": [head(), chunk(done_stream("fine")), LAST_CHUNK],
    "unauthorized": reply(401, {"error": {"message": "invalid key"}}),
    "rate-limited": reply(429, {"error": "slow down"}, headers={"Retry-After": "3600"}),
    "stall": [head(), chunk(sse({"token": "a"})), HOLD],
}


@pytest.mark.parametrize("name", RAW_SCENARIOS)
@pytest.mark.parametrize("where", ["option", "environment"])
def test_no_credential_reaches_logs_errors_or_warnings_through_a_header(
    site: Path,
    use_registry: Callable[[Registry], Registry],
    name: str,
    where: str,
    caplog: pytest.LogCaptureFixture,
    promise: Promises,
) -> None:
    make_dist(site, "raw-dist", "1.0", {"Raw": raw_provider(needs_auth=True)})
    environ = {"G4F_CORE_RAW_AUTH": ENV_CANARY} if where == "environment" else {}
    use_registry(Registry.from_path([str(site)], environ=environ))
    options: dict[str, Any] = {"auth": AUTH_CANARY} if where == "option" else {}
    with RawServer([RAW_SCENARIOS[name]], lifetime=5) as server:
        out, records, warned = run_swept(
            lambda: g4f_core.stream(
                MESSAGES, provider="Raw", base_url=server.url, timeout=0.3, **options
            ),
            caplog,
        )
        sent = server.requests[0].headers.get("authorization", "")
    every_log = [r.getMessage() for r in records]
    leaks = found(PRIVATE, every_log + warned + texts_of(out.error) + chain_of(out.error))
    promise("P7").record(f"F43 Raw {name}, credential by {where}", canary_occurrences=len(leaks))
    assert sent == f"Bearer {ENV_CANARY if where == 'environment' else AUTH_CANARY}"
    assert leaks == []


def test_reprs_of_the_call_objects_hold_no_secret_or_prompt(
    h2o: Registry, promise: Promises
) -> None:
    from g4f_core.context import CallContext

    stream = g4f_core.stream(
        MESSAGES, provider="H2o", base_url="http://127.0.0.1:9", auth=AUTH_CANARY
    )
    context = CallContext.build("H2o", None, {"auth": AUTH_CANARY, "proxy": "http://u:p@x:1"})
    texts = [repr(stream), repr(context), repr(g4f_core.get_provider("H2o")), repr(stream._plan)]
    stream.close()
    leaks = found(PRIVATE, texts) + [t for t in texts if "u:p@" in t]
    promise("P7").record(
        "F43 reprs of stream, plan, context, provider", canary_occurrences=len(leaks)
    )
    assert leaks == []


def test_transport_debug_logs_never_carry_the_base_url_path_or_query(
    h2o: Registry, caplog: pytest.LogCaptureFixture, promise: Promises
) -> None:
    with RawServer(chat_ui_site([H2O_SCENARIOS["success"]]), lifetime=5) as site:
        url = f"{site.url}/{PATH_CANARY}?key={QUERY_CANARY}"
        out, records, _ = run_swept(
            lambda: g4f_core.stream(MESSAGES, provider="H2o", base_url=url), caplog
        )
    leaks = found(URL_PARTS, [r.getMessage() for r in records])
    promise("P7").record(
        "F43 base URL path/query in transport DEBUG logs", canary_occurrences=len(leaks)
    )
    assert out.error is None
    assert leaks == []


def test_the_cause_chain_of_an_error_never_carries_the_base_url_path_or_query(
    h2o: Registry, promise: Promises
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/{PATH_CANARY}?key={QUERY_CANARY}"
    out = consume(lambda: g4f_core.stream(MESSAGES, provider="H2o", base_url=url, max_retries=0))
    leaks = found(URL_PARTS, chain_of(out.error))
    promise("P7").record(
        "F43 base URL path/query in the cause chain", canary_occurrences=len(leaks)
    )
    assert isinstance(out.error, ProviderConnectionError)
    assert leaks == []


def test_a_credential_echoed_back_by_the_server_is_masked_in_the_error(
    site: Path, use_registry: Callable[[Registry], Registry], promise: Promises
) -> None:
    make_dist(site, "raw-dist", "1.0", {"Raw": raw_provider(needs_auth=True)})
    use_registry(Registry.from_path([str(site)], environ={}))

    def echo(request: Request) -> list[Step]:
        return reply(401, {"error": f"invalid key {request.headers.get('authorization')}"})

    with RawServer(echo, lifetime=5) as server:
        out = consume(
            lambda: g4f_core.stream(MESSAGES, provider="Raw", base_url=server.url, auth=AUTH_CANARY)
        )
    leaks = found(PRIVATE, texts_of(out.error))
    promise("P7").record("F43 credential echoed by the server", canary_occurrences=len(leaks))
    assert isinstance(out.error, ProviderHTTPError)
    assert "invalid key" in str(out.error)
    assert leaks == []


# -- F45 hostile replies ----------------------------------------------------------------------


@functools.cache
def gzip_of(size: int, prefix: bytes = b"") -> bytes:
    """``prefix`` then ``size`` bytes of "0", gzip-compressed (about 1000:1)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"0" * (1 << 20)
    parts = [packer.compress(prefix)]
    parts += [packer.compress(block) for _ in range(size >> 20)]
    return b"".join([*parts, packer.flush()])


def measured(start: Callable[[], g4f_core.ChatStream]) -> tuple[Outcome, int, float]:
    """Run a call; return it with the peak heap growth (bytes) and this thread's CPU time."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        cpu = time.thread_time()
        out = consume(start)
        cpu = time.thread_time() - cpu
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return out, peak, cpu


def test_a_gzip_bomb_in_the_stream_is_refused_with_bounded_memory_and_cpu(
    h2o: Registry, promise: Promises
) -> None:
    limit = 1 << 20
    bomb = gzip_of(200 << 20, b"data:")  # 200 MiB of one line, about 200 KiB on the wire
    script = [head(headers={"Content-Encoding": "gzip"}), chunk(bomb), LAST_CHUNK]
    with RawServer(chat_ui_site([script]), lifetime=8) as site:
        out, peak, cpu = measured(
            lambda: g4f_core.stream(
                PROMPT, provider="H2o", base_url=site.url, max_line_bytes=limit, max_retries=0
            )
        )
    fault(promise, "F45 gzip bomb in the stream", out.error, ProviderResponseError)
    promise("P8").record(
        "F45 gzip bomb (200 MiB line) in the stream, max_line_bytes 1 MiB",
        peak_heap_growth_bytes=peak,
        cpu_s=round(cpu, 3),
        passed=peak < 3 * limit and cpu < 1.0,
    )
    assert isinstance(out.error, ProviderResponseError)
    assert "max_line_bytes" in str(out.error)
    assert peak < 3 * limit
    assert cpu < 1.0


def conversation_answer(answer: list[Step]) -> Callable[[Request], list[Step]]:
    normal = chat_ui_site([[head(), chunk(tgi_stream(" fine")), LAST_CHUNK]])

    def route(request: Request) -> list[Step]:
        if request.method == "POST" and request.path.endswith("/conversation"):
            return answer
        return list(normal(request))

    return route


def test_a_gzip_bomb_as_a_json_answer_is_refused_at_max_reply_bytes(
    h2o: Registry, promise: Promises
) -> None:
    limit = 1 << 20
    bomb = gzip_of(200 << 20)
    answer: list[Step] = [
        head(
            200,
            {"Content-Encoding": "gzip"},
            ctype="application/json",
            framing="length",
            length=len(bomb),
        )
        + bomb
    ]
    with RawServer(conversation_answer(answer), lifetime=8) as site:
        out, peak, cpu = measured(
            lambda: g4f_core.stream(
                PROMPT, provider="H2o", base_url=site.url, max_reply_bytes=limit, max_retries=0
            )
        )
    fault(promise, "F45 gzip bomb as a JSON answer", out.error, ProviderResponseError)
    promise("P8").record(
        "F45 gzip bomb (200 MiB) as a JSON answer, max_reply_bytes 1 MiB",
        peak_heap_growth_bytes=peak,
        cpu_s=round(cpu, 3),
        passed=peak < 3 * limit and cpu < 1.0,
    )
    assert isinstance(out.error, ProviderResponseError)
    assert "max_reply_bytes" in str(out.error)
    assert peak < 3 * limit
    assert cpu < 1.0


def test_a_gzip_bomb_as_an_error_body_is_read_only_in_part(
    h2o: Registry, promise: Promises
) -> None:
    bomb = gzip_of(200 << 20)
    answer: list[Step] = [
        head(
            500,
            {"Content-Encoding": "gzip"},
            ctype="text/plain",
            framing="length",
            length=len(bomb),
        )
        + bomb
    ]
    with RawServer(chat_ui_site([answer]), lifetime=8) as site:
        out, peak, cpu = measured(
            lambda: g4f_core.stream(PROMPT, provider="H2o", base_url=site.url, max_retries=0)
        )
    promise("P8").record(
        "F45 gzip bomb (200 MiB) as an error body",
        peak_heap_growth_bytes=peak,
        cpu_s=round(cpu, 3),
        passed=peak < 1 << 20 and cpu < 1.0,
    )
    assert isinstance(out.error, ProviderHTTPError)
    assert out.error.status == 500
    assert len(str(out.error)) < 500
    assert peak < 1 << 20
    assert cpu < 1.0


def test_a_conversation_id_of_5000_digits_is_refused(h2o: Registry, promise: Promises) -> None:
    answer = reply(200, b'{"conversationId": ' + b"9" * 5000 + b"}")
    with RawServer(conversation_answer(answer), lifetime=5) as site:
        out = consume(lambda: g4f_core.stream(PROMPT, provider="H2o", base_url=site.url))
    fault(promise, "F45 5000-digit number in a JSON answer", out.error, ProviderResponseError)
    assert isinstance(out.error, ProviderResponseError)
    assert "conversationId" in str(out.error)


def test_a_deeply_nested_json_answer_is_a_response_error(h2o: Registry, promise: Promises) -> None:
    answer = reply(200, b"[" * 5000 + b"]" * 5000)
    with RawServer(conversation_answer(answer), lifetime=5) as site:
        out = consume(lambda: g4f_core.stream(PROMPT, provider="H2o", base_url=site.url))
    fault(promise, "F45 5000-deep nesting in a JSON answer", out.error, ProviderResponseError)
    assert isinstance(out.error, ProviderResponseError)
    assert len(out.error.attempts) == 1


def test_a_deeply_nested_json_answer_is_named_as_a_bad_conversation_answer(
    h2o: Registry, promise: Promises
) -> None:
    answer = reply(200, b"[" * 5000 + b"]" * 5000)
    with RawServer(conversation_answer(answer), lifetime=5) as site:
        out = consume(lambda: g4f_core.stream(PROMPT, provider="H2o", base_url=site.url))
    promise("P2").record(
        "F45 5000-deep JSON answer names what was wrong",
        message=str(out.error),
        typed=isinstance(out.error, ProviderResponseError) and "conversationId" in str(out.error),
    )
    assert isinstance(out.error, ProviderResponseError)
    assert "conversationId" in str(out.error)


def test_the_call_context_repr_hides_url_paths_queries_userinfo_and_the_credential() -> None:
    from g4f_core.context import CallContext

    url = f"https://user:pw@h.example:8443/v1/{PATH_CANARY}?key={QUERY_CANARY}"
    ctx = CallContext.build("X", None, {"base_url": url, "auth": AUTH_CANARY})
    for canary in (PATH_CANARY, QUERY_CANARY, AUTH_CANARY, "pw"):
        assert canary not in repr(ctx)
    assert "https://h.example:8443" in repr(ctx)
