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
import os
import statistics
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import g4f_core
from g4f_core.aio import workers

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


def spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    """Median (min-max) of per-round values."""
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{fmt.format(mid)} ({fmt.format(low)}-{fmt.format(high)})"


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
    server.faults(bulk=True, script=[f" t{n}" for n in range(s.tokens)])
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


# -- cancel latency -------------------------------------------------------------------------


async def _cancel_once(url: str, how: str) -> float:
    """Stop a stream blocked in a read; returns the monotonic time of the stop."""
    chunks = g4f_core.astream(PROMPT, provider="H2o", base_url=url)
    first = asyncio.Event()

    async def reader() -> None:
        async for _ in chunks:
            first.set()

    task = asyncio.create_task(reader())
    await first.wait()
    await asyncio.sleep(0.05)
    began = time.monotonic()
    if how == "cancel":
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    else:
        await chunks.aclose()
        await asyncio.gather(task, return_exceptions=True)
    return began


def cancel_latency(server: AsyncBenchServer, s: Settings) -> dict[str, list[float]]:
    server.faults(stall_after=1, stall_seconds=60.0)
    out: dict[str, list[float]] = {"close": [], "delete": [], "aclose": []}
    for index in range(s.cancels):
        how = "cancel" if index % 2 == 0 else "aclose"
        server.log()
        began = asyncio.run(_cancel_once(server.url, how))
        returned = time.monotonic()
        time.sleep(0.3)  # the server's view settles
        log = server.log()
        generation = next(r for r in log["requests"] if r[0] == "POST" and r[1].count("/") == 2)
        deleted = next(r[3] for r in log["requests"] if r[0] == "DELETE")
        out["close"].append((log["closes"][str(generation[2])] - began) * 1000)
        out["delete"].append((deleted - began) * 1000)
        if how == "aclose":
            out["aclose"].append((returned - began) * 1000)
    return out


# -- loop responsiveness ----------------------------------------------------------------------


async def _ticked(url: str, n: int) -> tuple[float, float, float]:
    """(largest gap while all n streams ran, that window's length, largest gap over the
    whole run), in seconds; the window is from the last first token to the first end."""
    ticks: list[tuple[float, float]] = []
    stop = asyncio.Event()
    firsts: list[float] = []
    ends: list[float] = []

    async def ticker() -> None:
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            ticks.append((last, now))
            last = now

    async def reader() -> None:
        seen = False
        async with g4f_core.astream(PROMPT, provider="H2o", base_url=url) as chunks:
            async for _ in chunks:
                if not seen:
                    firsts.append(time.monotonic())
                    seen = True
        ends.append(time.monotonic())

    tick = asyncio.create_task(ticker())
    await asyncio.gather(*(reader() for _ in range(n)))
    stop.set()
    await tick
    begin, end = max(firsts), min(ends)
    inside = [b - a for a, b in ticks if a >= begin and b <= end]
    if len(inside) < 10:
        raise RuntimeError(f"the {n} streams ran together for {end - begin:.2f} s only")
    return max(inside), end - begin, max(b - a for a, b in ticks)


def _sync_ticked(url: str, n: int) -> float:
    gaps: list[float] = []
    stop = threading.Event()

    def tick() -> None:
        last = time.monotonic()
        while not stop.is_set():
            time.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    threads = [
        threading.Thread(
            target=lambda: list(g4f_core.stream(PROMPT, provider="H2o", base_url=url)),
            daemon=True,
        )
        for _ in range(n)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    ticker.join()
    return max(gaps)


def responsiveness(server: AsyncBenchServer, s: Settings) -> dict[str, list[float]]:
    server.faults(token_delay=0.02, script=[f" t{n}" for n in range(60)])
    asyncio.run(_ticked(server.url, s.ticker_streams))  # warm
    out: dict[str, list[float]] = {"inside": [], "window": [], "whole": [], "sync": []}
    for _ in range(s.ticker_rounds):
        inside, window, whole = asyncio.run(_ticked(server.url, s.ticker_streams))
        out["inside"].append(inside * 1000)
        out["window"].append(window)
        out["whole"].append(whole * 1000)
        out["sync"].append(_sync_ticked(server.url, s.ticker_streams) * 1000)
    return out


# -- report -------------------------------------------------------------------------------


def mark(ok: bool) -> str:
    return "**pass**" if ok else "**FAIL**"


def render(
    s: Settings,
    t: dict[str, Any],
    m: dict[str, float],
    c: dict[str, list[float]],
    r: dict[str, list[float]],
) -> str:
    ratio = statistics.median(t["ratios"])
    close, delete = statistics.median(c["close"]), statistics.median(c["delete"])
    aclose = statistics.median(c["aclose"]) if c["aclose"] else float("nan")
    inside = min(r["inside"])
    rows = [
        ("figure", "value", "target", ""),
        ("---", "---", "---", "---"),
        (
            f"aggregate tokens/s, {s.streams} `astream` calls on one loop",
            spread(t["rates"]["async"]),
            "",
            "info",
        ),
        (
            f"aggregate tokens/s, {s.streams} `stream` calls on {s.streams} threads",
            spread(t["rates"]["sync"]),
            "",
            "info",
        ),
        (
            "async / sync throughput",
            spread(t["ratios"], "{:.2f}") + "x",
            ">= 0.9x",
            mark(ratio >= 0.9),
        ),
        (
            "memory per open stream, Python allocations (async / sync)",
            f"{m['async.python'] / 1024:.1f} / {m['sync.python'] / 1024:.1f} KiB",
            "",
            "info",
        ),
        (
            "memory per open stream, resident set (async / sync)",
            f"{m['async.rss'] / 1024:.0f} / {m['sync.rss'] / 1024:.0f} KiB",
            "",
            "info",
        ),
        (
            "`cancel()`/`aclose()` to the server seeing the connection close",
            spread(c["close"], "{:.1f}") + " ms",
            "<= 100 ms",
            mark(close <= 100),
        ),
        (
            "`cancel()`/`aclose()` to the H2o conversation deleted at the server",
            spread(c["delete"], "{:.1f}") + " ms",
            "<= 100 ms",
            mark(delete <= 100),
        ),
        (
            "`aclose()` on a stream blocked in a read, until it returns",
            spread(c["aclose"] or [aclose], "{:.1f}") + " ms",
            "<= 100 ms",
            mark(aclose <= 100),
        ),
        (
            f"largest 10 ms-ticker gap on the loop while {s.ticker_streams} streams run",
            spread(r["inside"], "{:.0f}") + " ms",
            "<= 50 ms (best round)",
            mark(inside <= 50),
        ),
        (
            "same, over the whole run (64 conversations opened and closed at once)",
            spread(r["whole"], "{:.0f}") + " ms",
            "",
            "info",
        ),
        (
            f"same for a ticker thread beside {s.ticker_streams} sync streams (whole run)",
            spread(r["sync"], "{:.0f}") + " ms",
            "",
            "info",
        ),
    ]
    table = "\n".join("| " + " | ".join(row) + " |" for row in rows)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return f"""## Async streams (`python -m bench.async_streams`)

{s.streams} concurrent calls of {s.tokens:,} tokens each against the H2o emulator in bulk
mode (its own process); {s.rounds} rounds in alternating order, median (min-max) of
per-round values. Worker bound {workers.pool().limit} (`G4F_CORE_ASYNC_WORKERS`). Cancel
latency: {s.cancels} streams stopped while blocked in a read, times taken at the server.
Ticker: {s.ticker_streams} streams of 60 tokens at 20 ms, {s.ticker_rounds} rounds; all of them
ran together for {spread(r["window"], "{:.2f}")} s per round. The emulator notices a client's
close of a stalled stream by polling every 20 ms, which the close figure includes. Load
average during the run: {load} on {os.cpu_count()} cores.

{table}
"""


def run(s: Settings) -> str:
    os.environ.setdefault(workers.ENV, str(max(s.streams, s.memory_streams)))
    with AsyncBenchServer() as server:
        t = throughput(server, s)
        m = memory(server, s)
        c = cancel_latency(server, s)
        r = responsiveness(server, s)
    return render(s, t, m, c, r)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.async_streams", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run: measures nothing")
    args = parser.parse_args(argv)
    print(run(Settings.quick() if args.quick else Settings()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
