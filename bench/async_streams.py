"""The async API's figures: throughput, memory, cancel latency and loop responsiveness.

``python -m bench.async_streams`` (``--quick`` for a smoke run) prints one markdown
section. Everything runs against the H2o emulator in its own process
(:mod:`bench.async_server`), and every async figure is measured side by side with the
sync API in the same run, in alternating order over several rounds:

* 256 concurrent ``astream`` calls on one event loop against 256 ``stream`` calls on 256
  threads: aggregate tokens/s, and their ratio (target >= 0.9);
* memory per active stream (Python allocations and resident set, threads included);
* time from ``task.cancel()`` / ``aclose()`` to the server seeing the connection close and
  the H2o conversation deleted (target 100 ms);
* the largest gap a 10 ms ticker on the loop sees while 64 streams run (target 50 ms),
  next to the same figure for a ticker thread beside 64 sync streams.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import g4f_core
from g4f_core.aio import workers

from .async_latency import cancel_latency, responsiveness
from .async_report import render
from .async_server import AsyncBenchServer

__all__ = ["Settings", "main", "run"]

PROMPT = "Tell me about the H2o emulator."


@dataclass(frozen=True)
class Settings:
    streams: int = 256
    tokens: int = 2_000
    rounds: int = 5
    memory_streams: int = 256
    cancels: int = 20
    ticker_streams: int = 64
    ticker_rounds: int = 5

    @classmethod
    def quick(cls) -> Settings:
        return cls(streams=16, tokens=200, rounds=1, memory_streams=16, cancels=3, ticker_rounds=1)


# -- throughput ---------------------------------------------------------------------------


async def _async_load(url: str, streams: int, tokens: int) -> int:
    async def one() -> int:
        count = 0
        async with g4f_core.astream(
            PROMPT, provider="H2o", base_url=url, max_new_tokens=tokens
        ) as chunks:
            async for _ in chunks:
                count += 1
        return count

    return sum(await asyncio.gather(*(one() for _ in range(streams))))


def _sync_load(url: str, streams: int, tokens: int) -> tuple[int, float]:
    """(tokens, seconds): the threads are started before the clock, as a pool's would be."""
    counts: list[int] = []
    barrier = threading.Barrier(streams + 1)

    def one() -> None:
        barrier.wait()
        count = 0
        for _ in g4f_core.stream(PROMPT, provider="H2o", base_url=url, max_new_tokens=tokens):
            count += 1
        counts.append(count)

    threads = [threading.Thread(target=one, daemon=True) for _ in range(streams)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return sum(counts), time.perf_counter() - began


def _async_timed(url: str, streams: int, tokens: int) -> tuple[int, float]:
    began = time.perf_counter()
    got = asyncio.run(_async_load(url, streams, tokens))
    return got, time.perf_counter() - began


def throughput(server: AsyncBenchServer, s: Settings) -> dict[str, Any]:
    server.faults(script=[f" t{n}" for n in range(s.tokens)])  # one event per token
    loads: dict[str, Callable[[], tuple[int, float]]] = {
        "sync": lambda: _sync_load(server.url, s.streams, s.tokens),
        "async": lambda: _async_timed(server.url, s.streams, s.tokens),
    }
    for load in loads.values():  # warm: threads started, sessions accepted
        load()
    rates: dict[str, list[float]] = {"sync": [], "async": []}
    for index in range(s.rounds):
        order = list(loads) if index % 2 == 0 else list(reversed(loads))
        for name in order:
            got, seconds = loads[name]()
            if got != s.streams * s.tokens:
                raise RuntimeError(f"{name}: {got} tokens, expected {s.streams * s.tokens}")
            rates[name].append(got / seconds)
    ratios = [a / b for a, b in zip(rates["async"], rates["sync"], strict=True)]
    return {"rates": rates, "ratios": ratios}


# -- memory -------------------------------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def memory(server: AsyncBenchServer, s: Settings) -> dict[str, float]:
    """Bytes per stream held open after its first chunk (the server then stalls)."""
    server.faults(stall_after=1, stall_seconds=60.0)
    n = s.memory_streams

    async def hold_async() -> tuple[int, int]:
        opened = [g4f_core.astream(PROMPT, provider="H2o", base_url=server.url) for _ in range(n)]
        await asyncio.gather(*(c.__anext__() for c in opened))
        await asyncio.sleep(0.2)
        sizes = tracemalloc.get_traced_memory()[0], _rss()
        await asyncio.gather(*(c.aclose() for c in opened))
        return sizes

    def hold_sync() -> tuple[int, int]:
        release = threading.Event()
        ready = threading.Barrier(n + 1)

        def one() -> None:
            with g4f_core.stream(PROMPT, provider="H2o", base_url=server.url) as chunks:
                next(chunks)
                ready.wait()
                release.wait()

        threads = [threading.Thread(target=one, daemon=True) for _ in range(n)]
        for thread in threads:
            thread.start()
        ready.wait()
        time.sleep(0.2)
        sizes = tracemalloc.get_traced_memory()[0], _rss()
        release.set()
        for thread in threads:
            thread.join()
        return sizes

    result: dict[str, float] = {}
    for name, hold in (("sync", hold_sync), ("async", lambda: asyncio.run(hold_async()))):
        hold()  # warm: threads exist, first-use allocations are made
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0], _rss()
        traced, rss = hold()
        tracemalloc.stop()
        result[f"{name}.python"] = (traced - base[0]) / n
        result[f"{name}.rss"] = (rss - base[1]) / n
    return result


Measured = tuple[dict[str, Any], dict[str, float], dict[str, list[float]], dict[str, list[float]]]


def measure(s: Settings) -> Measured:
    """Throughput, memory, cancel latency and loop responsiveness, in one server's life."""
    # Every stream of a measurement runs at once: the bound must not be what is measured.
    workers._set_pool(workers.WorkerPool(max(s.streams, s.memory_streams, s.ticker_streams)))
    with AsyncBenchServer() as server:
        return (
            throughput(server, s),
            memory(server, s),
            cancel_latency(server, s),
            responsiveness(server, s),
        )


def report(s: Settings) -> str:
    return render(s, *measure(s), workers.pool().limit)


# -- the harness section (python -m bench --only async) ----------------------------------------

KEY = "async"


def run(bench: Any) -> Any:
    """This measurement as a section of the full report (``bench/__init__.py``)."""
    from .common import Figure, Section, Spread, Target

    s = Settings.quick() if bench.cfg.quick else Settings()
    t, m, c, r = measure(s)
    out = Section(KEY, f"Async streams: {s.streams} astream calls on one event loop")
    figures = [
        ("async.throughput_ratio", f"aggregate tokens/s, {s.streams} astream / {s.streams} "
         "sync streams on threads", Spread.of(t["ratios"]), "x", Target(">=", 0.9)),
        ("async.cancel_close", "cancel() to the server seeing the close",
         Spread.of(c["close"]), "ms", Target("<=", 100, "ms")),
        ("async.cancel_delete", "cancel() to the H2o conversation deleted",
         Spread.of(c["delete"]), "ms", Target("<=", 100, "ms")),
        ("async.aclose", "aclose() on a stream blocked in a read",
         Spread.of(c["aclose"]), "ms", Target("<=", 100, "ms")),
        ("async.memory", "memory per open stream, Python allocations (async)",
         Spread.of([m["async.python"] / 1024]), "KiB", None),
    ]  # fmt: skip
    for key, title, value, unit, target in figures:
        out.add(Figure(key, title, value, unit, target))
    out.notes.append(render(s, t, m, c, r, workers.pool().limit))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.async_streams", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run: measures nothing")
    args = parser.parse_args(argv)
    print(report(Settings.quick() if args.quick else Settings()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
