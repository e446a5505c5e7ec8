"""The reader side of a relayed call: batched hand-off, a bounded buffer, cancel, thread reuse."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from plugin_kit import module_name_for, provider_source

from g4f_core import Registry
from g4f_core.calls import ChatStream
from g4f_core.gateway.pump import Pump, Readers
from g4f_core.planning import prepare

#: Yields 100 tokens as fast as it can, recording progress and whether it was closed.
COUNTING = provider_source(
    header="state = {'yielded': 0, 'closed': False}",
    body="""
    try:
        for i in range(100):
            state['yielded'] += 1
            yield f"t{i} "
    finally:
        state['closed'] = True
    """,
)


def stream_of(registry: Registry) -> ChatStream:
    plan = prepare(registry, "hi", provider="Counting", model=None, stream=True, options={})
    return ChatStream(plan)


def state(registry: Registry) -> dict[str, object]:
    registry.load()
    module = sys.modules[module_name_for("counting-dist", "Counting")]
    result: dict[str, object] = module.state
    return result


def test_everything_buffered_is_taken_in_one_batch(install: Callable[..., Registry]) -> None:
    registry = install(Counting=COUNTING)
    pump = Pump(stream_of(registry)).start()
    assert pump.join(5)
    batch = pump.take(1.0)
    assert batch.done and batch.error is None
    assert "".join(batch.chunks) == "".join(f"t{i} " for i in range(100))


def test_a_slow_taker_holds_the_reader_back_at_the_buffer_bound(
    install: Callable[..., Registry],
) -> None:
    registry = install(Counting=COUNTING)
    pump = Pump(stream_of(registry), max_pending=4).start()
    end = time.monotonic() + 5
    while state(registry)["yielded"] != 5 and time.monotonic() < end:
        time.sleep(0.01)
    time.sleep(0.2)  # had the bound not held, the reader would have run on by now
    assert state(registry)["yielded"] == 5  # four buffered, the fifth waiting to go in
    taken: list[str] = []
    while True:
        batch = pump.take(1.0)
        taken += batch.chunks
        assert len(batch.chunks) <= 4
        if batch.done:
            break
    assert len(taken) == 100


def test_cancel_closes_the_stream_in_the_reader(install: Callable[..., Registry]) -> None:
    registry = install(Counting=COUNTING)
    pump = Pump(stream_of(registry), max_pending=2).start()
    time.sleep(0.1)
    pump.cancel()
    assert pump.join(2)
    assert state(registry)["closed"] is True
    assert state(registry)["yielded"] < 100


def test_reader_threads_are_reused_and_leave_when_idle() -> None:
    pool = Readers(idle=0.2)
    seen: list[int] = []
    done = threading.Event()

    def job() -> None:
        seen.append(threading.get_ident())
        done.set()

    for _ in range(2):
        done.clear()
        pool.run(job)
        assert done.wait(2)
        time.sleep(0.05)  # the reader parks itself again
    assert seen[0] == seen[1]
    time.sleep(0.5)
    assert pool._idle == []  # it left after 0.2 s without work
    done.clear()
    pool.run(job)
    assert done.wait(2)
