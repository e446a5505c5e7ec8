"""ChatStream.close() from another thread (issue #10's finding, fixed for the async API).

A generator cannot be closed while another thread steps it ("generator already
executing"), and the stream then kept running until the server gave up. Now close()
aborts the call: the blocked wait is cut, the provider's clean-up (H2o's DELETE) runs
on the stepping thread, and that thread's iteration ends. Against the H2o emulator
and scripted raw servers.
"""

from __future__ import annotations

import threading
import time
import types
from collections.abc import Callable
from importlib import metadata
from typing import Any

import pytest
from aio_kit import observed_registry
from rawserver import (
    HOLD,
    RawServer,
    Step,
    chat_ui_site,
    chunk,
    head,
    is_generation,
    reply,
    tgi_stream,
)

import g4f_core
from g4f_core import hookimpl
from g4f_core.plugins.registry import Registry
from g4f_core.transport.abort import Abort
from g4f_core.transport.client import Client
from g4f_core_providers.h2o.server import H2oEmulator

STALLED: list[Step] = [head(), chunk(tgi_stream(" a", final=False)), HOLD]
GENEROUS = 2.0  # seconds: a bound that only a hang exceeds, even on a loaded machine


@pytest.fixture
def h2o(use_registry: Callable[[Registry], Registry]) -> Registry:
    return use_registry(Registry([metadata.distribution("g4f-core")], environ={}))


class Reader:
    """Iterates a stream on its own thread, keeping what it got and how it ended."""

    def __init__(self, stream: g4f_core.ChatStream) -> None:
        self.chunks: list[str] = []
        self.error: BaseException | None = None
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._thread.start()

    def _run(self, stream: g4f_core.ChatStream) -> None:
        try:
            for item in stream:
                self.chunks.append(item)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            self.error = exc
        finally:
            self.ended.set()


def blocked_reader(stream: g4f_core.ChatStream) -> Reader:
    """A reader thread that took the first chunk and is now blocked in a read."""
    reader = Reader(stream)
    end = time.monotonic() + GENEROUS
    while not reader.chunks and time.monotonic() < end:
        time.sleep(0.005)
    assert reader.chunks, "the first chunk never arrived"
    time.sleep(0.05)  # well inside the next read now
    return reader


def test_close_from_another_thread_cuts_a_blocked_read_and_deletes_the_conversation(
    h2o: Registry,
) -> None:
    with H2oEmulator() as emu:
        emu.faults.stall_after = 1
        emu.faults.stall_seconds = 8.0
        stream = g4f_core.stream("Hello", provider="H2o", base_url=emu.url)
        reader = blocked_reader(stream)
        generation = next(r for r in emu.requests if r.path.count("/") == 2)
        began = time.monotonic()
        stream.close()  # used to raise ValueError: generator already executing
        returned = time.monotonic() - began
        assert reader.ended.wait(GENEROUS)
        assert emu.wait_for_close(generation.connection, GENEROUS)
        deleted = [r for r in emu.requests if r.method == "DELETE"]
    assert returned < 0.5  # it only shuts a socket down; it waits for nothing
    assert reader.error is None  # the reader's iteration simply ends
    assert len(reader.chunks) == 1  # what came before the stall, nothing after
    assert len(deleted) == 1
    assert emu.conversation_ids() == []


def test_close_from_another_thread_is_seen_by_the_server_at_once(h2o: Registry) -> None:
    with RawServer(chat_ui_site([STALLED]), lifetime=8) as server:
        stream = g4f_core.stream("Hello", provider="H2o", base_url=server.url, timeout=5)
        reader = blocked_reader(stream)
        began = time.monotonic()
        stream.close()
        assert reader.ended.wait(GENEROUS)
        generation = next(r for r in server.requests if is_generation(r))
        assert server.wait_closed(generation.connection, GENEROUS)
        closed_at = server.connection(generation.connection).closed_at
        deletes = [r for r in server.requests if r.method == "DELETE"]
    assert closed_at is not None and closed_at - began < 1.0
    assert len(deletes) == 1 and deletes[0].at - began < 1.0
    assert server.connection(generation.connection).closed_by == "client"


def test_close_from_another_thread_cuts_the_wait_for_a_response_head(h2o: Registry) -> None:
    late: list[Step] = [5.0, *STALLED]  # the generation's head would come after 5 s
    with RawServer(chat_ui_site([late]), lifetime=8) as server:
        stream = g4f_core.stream("Hello", provider="H2o", base_url=server.url, timeout=6)
        reader = Reader(stream)
        assert server_saw(server, is_generation)
        time.sleep(0.05)
        began = time.monotonic()
        stream.close()
        assert reader.ended.wait(GENEROUS)
        ended = time.monotonic() - began
        deletes = [r for r in server.requests if r.method == "DELETE"]
    assert ended < 1.0
    assert reader.error is None and reader.chunks == []
    assert len(deletes) == 1
    assert len([r for r in server.requests if is_generation(r)]) == 1  # never retried


def test_close_from_another_thread_cuts_a_retry_back_off(h2o: Registry) -> None:
    busy = reply(503, {"error": "busy"}, headers={"Retry-After": "30"})
    with RawServer(chat_ui_site([busy]), lifetime=8) as server:
        stream = g4f_core.stream("Hello", provider="H2o", base_url=server.url, max_retries=2)
        reader = Reader(stream)
        assert server_saw(server, lambda r: r.method == "DELETE")  # the first attempt is over
        time.sleep(0.05)  # now sleeping 30 s before the retry
        began = time.monotonic()
        stream.close()
        assert reader.ended.wait(GENEROUS)
        ended = time.monotonic() - began
    assert ended < 1.0
    assert reader.error is None  # not AllProvidersFailedError: the caller stopped it
    assert len([r for r in server.requests if is_generation(r)]) == 1


def test_close_from_another_thread_is_a_cancelled_outcome_for_observers(
    install_observer: list[Any],
) -> None:
    with RawServer(chat_ui_site([STALLED]), lifetime=8) as server:
        stream = g4f_core.stream("Hello", provider="H2o", base_url=server.url, timeout=5)
        reader = blocked_reader(stream)
        stream.close()
        assert reader.ended.wait(GENEROUS)
    finished = [e for e in install_observer if e.outcome is not None]
    assert [(e.outcome, e.error, e.chunks) for e in finished] == [("cancelled", None, 1)]


def test_close_of_a_stream_nobody_is_stepping_still_closes_it_here(h2o: Registry) -> None:
    with RawServer(chat_ui_site([STALLED]), lifetime=8) as server:
        stream = g4f_core.stream("Hello", provider="H2o", base_url=server.url, timeout=5)
        assert next(stream) == " a"
        done = threading.Thread(target=stream.close)
        done.start()
        done.join(GENEROUS)
        deletes = [r for r in server.requests if r.method == "DELETE"]
    assert not done.is_alive()
    assert len(deletes) == 1  # the clean-up ran on the closing thread, as before
    assert list(stream) == []


def test_a_step_while_another_thread_is_closing_the_stream_ends_the_iteration(
    h2o: Registry,
) -> None:
    """The gateway's case: its server thread closes the stream between two of the
    reader's steps, and the reader steps again while the clean-up is still running."""
    site = chat_ui_site([STALLED])

    def route(request: Any) -> Any:
        if request.method == "DELETE":
            return [HOLD]  # the clean-up takes its time (until its own timeout)
        return site(request)

    with RawServer(route, lifetime=8) as server:
        stream = g4f_core.stream("Hello", provider="H2o", base_url=server.url, timeout=1)
        assert next(stream) == " a"
        closer = threading.Thread(target=stream.close)
        closer.start()
        assert server_saw(server, lambda r: r.method == "DELETE")  # close() is in the clean-up
        assert list(stream) == []  # not ValueError("generator already executing")
        closer.join(GENEROUS * 2)
    assert not closer.is_alive()


def test_an_abort_after_a_response_was_read_to_its_end_leaves_the_pooled_connection_alone(
    h2o: Registry,
) -> None:
    """The socket may be another call's by then: aborting must not shut it down."""
    ok: list[Step] = list(reply(200, {"ok": True}))
    with RawServer([ok, ok], lifetime=8) as server:
        http = Client(g4f_core.CallContext(provider="P", base_url=server.url, timeout=5))
        response = http.request("GET", "/one", stream=True)
        raw = response.raw
        sock = raw.connection.sock if raw.connection is not None else None
        assert sock is not None
        assert raw.read() == b'{"ok": true}'  # the end of the body: back in the pool
        abort = Abort()
        abort.attach(sock, raw)
        assert abort.abort()
        again = http.request("GET", "/two")
        assert again.json() == {"ok": True}
    assert server.accepted == 1  # the same connection served both


def server_saw(server: RawServer, match: Callable[[Any], bool]) -> bool:
    end = time.monotonic() + GENEROUS
    while time.monotonic() < end:
        if any(match(r) for r in server.requests):
            return True
        time.sleep(0.005)
    return False


@pytest.fixture
def install_observer(use_registry: Callable[[Registry], Registry]) -> list[Any]:
    """H2o, with an observer plugin keeping every finished attempt's event."""
    events: list[Any] = []

    @hookimpl
    def g4f_core_call_finished(event: Any) -> None:
        events.append(event)

    observer = types.SimpleNamespace(g4f_core_call_finished=g4f_core_call_finished)
    use_registry(observed_registry(observer))
    return events
