"""The worker threads behind the async API: bounded, started off the loop, released.

A call beyond the bound waits (asynchronously) for a worker, for at most its timeout or
deadline, then fails with a clear ``ProviderTimeoutError``; no thread is ever started by
the loop itself; an AsyncChatStream dropped unread gives back its thread and connection.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aio_kit import h2o_registry, run, wait_until

import g4f_core
from g4f_core.aio import workers as workers_module
from g4f_core.aio.workers import WorkerPool
from g4f_core.errors import InvalidRequestError, ProviderTimeoutError
from g4f_core.plugins.registry import Registry
from g4f_core_providers.h2o.server import H2oEmulator


@pytest.fixture
def emulator(use_registry: Callable[[Registry], Registry]) -> Iterator[H2oEmulator]:
    use_registry(h2o_registry())
    with H2oEmulator() as emu:
        yield emu


@pytest.fixture
def pool_of() -> Iterator[Callable[[int], WorkerPool]]:
    """Install a pool of the given size for the test; check it is quiet afterwards."""
    made: list[WorkerPool] = []
    old = workers_module._set_pool(None)

    def make(limit: int) -> WorkerPool:
        pool = WorkerPool(limit, idle_timeout=0.3)
        made.append(pool)
        workers_module._set_pool(pool)
        return pool

    yield make
    workers_module._set_pool(old)
    for pool in made:
        assert wait_until(lambda pool=pool: not pool.running), "a worker still runs a stream"


def test_no_more_threads_than_the_bound_run_however_many_calls_wait(
    emulator: H2oEmulator, pool_of: Callable[[int], WorkerPool]
) -> None:
    pool = pool_of(2)
    emulator.faults.token_delay = 0.01
    most = [0, 0]

    async def watch(stop: asyncio.Event) -> None:
        while not stop.is_set():
            most[0] = max(most[0], len(pool.threads))
            most[1] = max(most[1], len(pool.running))
            await asyncio.sleep(0.002)

    async def calls() -> list[str]:
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch(stop))
        texts = await asyncio.gather(
            *(
                g4f_core.acomplete(f"call {n}", provider="H2o", base_url=emulator.url)
                for n in range(6)
            )
        )
        stop.set()
        await watcher
        return texts

    texts = run(calls())
    want = [g4f_core.complete(f"call {n}", provider="H2o", base_url=emulator.url) for n in range(6)]
    assert texts == want
    assert most == [2, 2]  # both used, never a third
    assert wait_until(lambda: not pool.threads, 3.0)  # idle ones retire


def test_a_call_beyond_the_bound_fails_clearly_once_its_timeout_is_spent(
    emulator: H2oEmulator, pool_of: Callable[[int], WorkerPool]
) -> None:
    pool_of(1)
    emulator.faults.stall_after = 1
    emulator.faults.stall_seconds = 5.0

    async def scenario() -> tuple[float, str]:
        async with g4f_core.astream("Hi", provider="H2o", base_url=emulator.url) as held:
            await held.__anext__()  # the only worker is now busy with this stream
            began = time.monotonic()
            with pytest.raises(ProviderTimeoutError) as caught:
                await g4f_core.acomplete("Hi", provider="H2o", base_url=emulator.url, timeout=0.3)
            waited = time.monotonic() - began
            assert caught.value.phase == "workers"
            message = str(caught.value)
        emulator.faults.stall_after = None
        await g4f_core.acomplete("Hi", provider="H2o", base_url=emulator.url)  # free again
        return waited, message

    waited, message = run(scenario())
    assert 0.25 <= waited < 2.0
    assert "G4F_CORE_ASYNC_WORKERS" in message and "busy" in message


def test_the_deadline_also_bounds_the_wait_for_a_worker(
    emulator: H2oEmulator, pool_of: Callable[[int], WorkerPool]
) -> None:
    pool_of(1)
    emulator.faults.stall_after = 1
    emulator.faults.stall_seconds = 5.0

    async def scenario() -> ProviderTimeoutError:
        async with g4f_core.astream("Hi", provider="H2o", base_url=emulator.url) as held:
            await held.__anext__()
            with pytest.raises(ProviderTimeoutError) as caught:
                await g4f_core.acomplete("Hi", provider="H2o", base_url=emulator.url, deadline=0.3)
            return caught.value

    assert run(scenario()).phase == "deadline"


def test_a_call_cancelled_while_waiting_for_a_worker_leaves_nothing_behind(
    emulator: H2oEmulator, pool_of: Callable[[int], WorkerPool]
) -> None:
    pool = pool_of(1)
    emulator.faults.stall_after = 1
    emulator.faults.stall_seconds = 5.0

    async def scenario() -> str:
        async with g4f_core.astream("Hi", provider="H2o", base_url=emulator.url) as held:
            await held.__anext__()
            waiting = asyncio.create_task(
                g4f_core.acomplete("Hi", provider="H2o", base_url=emulator.url)
            )
            await asyncio.sleep(0.05)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
        emulator.faults.stall_after = None
        return await g4f_core.acomplete("Hi", provider="H2o", base_url=emulator.url)

    assert run(scenario()) != ""
    assert wait_until(lambda: len(pool.threads) <= 1 and not pool.running)


def test_the_loop_never_starts_a_thread_itself(
    emulator: H2oEmulator, pool_of: Callable[[int], WorkerPool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thread.start() waits for the new thread to run: with busy threads, for a long time."""
    pool_of(16)
    starters: list[int] = []
    real_start = threading.Thread.start

    def start(self: threading.Thread) -> None:
        starters.append(threading.get_ident())
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    loop_thread: list[int] = []

    async def calls() -> list[str]:
        loop_thread.append(threading.get_ident())
        return await asyncio.gather(
            *(g4f_core.acomplete("Hi", provider="H2o", base_url=emulator.url) for _ in range(16))
        )

    texts = run(calls())
    assert len(set(texts)) == 1 and texts[0]
    assert len(starters) >= 16  # every worker was started through Thread.start ...
    assert loop_thread[0] not in starters  # ... but never by the loop


def test_a_dropped_stream_gives_back_its_thread_and_its_connection(
    emulator: H2oEmulator, pool_of: Callable[[int], WorkerPool]
) -> None:
    pool = pool_of(4)
    emulator.faults.stall_after = 1
    emulator.faults.stall_seconds = 5.0

    async def drop_after_one() -> None:
        chunks = g4f_core.astream("Hi", provider="H2o", base_url=emulator.url)
        await chunks.__anext__()
        del chunks  # no aclose(), no async with: only the garbage collector knows
        gc.collect()
        await asyncio.sleep(0)

    run(drop_after_one())
    generation = next(r for r in emulator.requests if r.path.count("/") == 2)
    assert emulator.wait_for_close(generation.connection, 2.0)
    assert wait_until(lambda: not pool.running, 2.0)
    assert wait_until(lambda: emulator.conversation_ids() == [], 2.0)


def test_breaking_out_of_async_for_stops_the_stream(
    emulator: H2oEmulator, pool_of: Callable[[int], WorkerPool]
) -> None:
    pool = pool_of(4)
    emulator.faults.stall_after = 1
    emulator.faults.stall_seconds = 5.0

    async def first_only() -> list[str]:
        got = []
        async for chunk in g4f_core.astream("Hi", provider="H2o", base_url=emulator.url):
            got.append(chunk)
            break
        return got

    assert len(run(first_only())) == 1
    assert wait_until(lambda: not pool.running, 2.0)
    assert wait_until(lambda: emulator.conversation_ids() == [], 2.0)


def test_the_bound_comes_from_the_environment_when_the_pool_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = workers_module._set_pool(None)
    try:
        monkeypatch.setenv("G4F_CORE_ASYNC_WORKERS", "3")
        assert workers_module.pool().limit == 3
        workers_module._set_pool(None)
        monkeypatch.delenv("G4F_CORE_ASYNC_WORKERS")
        assert workers_module.pool().limit == workers_module.DEFAULT_LIMIT == 64
    finally:
        workers_module._set_pool(old)


@pytest.mark.parametrize("value", ["0", "-2", "1.5", "many", "inf", "1e9", "100000"])
def test_a_bad_bound_is_an_invalid_request(value: str) -> None:
    with pytest.raises(InvalidRequestError, match="G4F_CORE_ASYNC_WORKERS"):
        workers_module.read_limit({"G4F_CORE_ASYNC_WORKERS": value})


def test_idle_workers_are_reused_before_new_ones_are_started(
    emulator: H2oEmulator, pool_of: Callable[[int], WorkerPool]
) -> None:
    pool = pool_of(8)

    async def one_after_another() -> set[Any]:
        seen: set[Any] = set()
        for _ in range(5):
            await g4f_core.acomplete("Hi", provider="H2o", base_url=emulator.url)
            seen |= set(pool.threads)
        return seen

    assert len(run(one_after_another())) == 1


def test_a_thread_the_system_refuses_is_a_clear_error_and_costs_no_permit(
    emulator: H2oEmulator, pool_of: Callable[[int], WorkerPool], monkeypatch: pytest.MonkeyPatch
) -> None:
    import _thread

    pool = pool_of(1)

    def refuse(*args: Any) -> int:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(_thread, "start_new_thread", refuse)
    with pytest.raises(g4f_core.G4FError, match="refused to start a worker thread"):
        run(g4f_core.acomplete("Hi", provider="H2o", base_url=emulator.url))
    monkeypatch.undo()
    assert run(g4f_core.acomplete("Hi", provider="H2o", base_url=emulator.url))  # bound of 1 kept
    assert len(pool.threads) == 1
