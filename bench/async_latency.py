"""The async benchmark's timings: stopping a stream, and the loop's responsiveness.

Times are taken on the machine-wide monotonic clock, at the server where the issue asks
for it (:mod:`bench.async_server` records when requests arrive and connections close).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING

import g4f_core

from .async_server import AsyncBenchServer

if TYPE_CHECKING:
    from .async_streams import Settings

__all__ = ["cancel_latency", "responsiveness"]

PROMPT = "Tell me about the H2o emulator."


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
