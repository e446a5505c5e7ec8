"""The async benchmark's markdown section."""

from __future__ import annotations

import os
import statistics
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .async_streams import Settings

__all__ = ["render", "spread"]


def spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    """Median (min-max) of per-round values."""
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{fmt.format(mid)} ({fmt.format(low)}-{fmt.format(high)})"


# -- report -------------------------------------------------------------------------------


def mark(ok: bool) -> str:
    return "**pass**" if ok else "**FAIL**"


Row = tuple[str, str, str, str]


def _throughput_rows(s: Settings, t: dict[str, Any], m: dict[str, float]) -> list[Row]:
    ratio = statistics.median(t["ratios"])
    kib = {key: value / 1024 for key, value in m.items()}
    return [
        (f"aggregate tokens/s, {s.streams} `astream` calls on one loop",
         spread(t["rates"]["async"]), "", "info"),
        (f"aggregate tokens/s, {s.streams} `stream` calls on {s.streams} threads",
         spread(t["rates"]["sync"]), "", "info"),
        ("async / sync throughput", spread(t["ratios"], "{:.2f}") + "x", ">= 0.9x",
         mark(ratio >= 0.9)),
        ("memory per open stream, Python allocations (async / sync)",
         f"{kib['async.python']:.1f} / {kib['sync.python']:.1f} KiB", "", "info"),
        ("memory per open stream, resident set (async / sync)",
         f"{kib['async.rss']:.0f} / {kib['sync.rss']:.0f} KiB", "", "info"),
    ]  # fmt: skip


def _latency_rows(s: Settings, c: dict[str, list[float]], r: dict[str, list[float]]) -> list[Row]:
    def ms(values: list[float], fmt: str = "{:.1f}") -> str:
        return spread(values, fmt) + " ms"

    n = s.ticker_streams
    return [
        ("`cancel()`/`aclose()` to the server seeing the connection close", ms(c["close"]),
         "<= 100 ms", mark(statistics.median(c["close"]) <= 100)),
        ("`cancel()`/`aclose()` to the H2o conversation deleted at the server",
         ms(c["delete"]), "<= 100 ms", mark(statistics.median(c["delete"]) <= 100)),
        ("`aclose()` on a stream blocked in a read, until it returns", ms(c["aclose"]),
         "<= 100 ms", mark(statistics.median(c["aclose"]) <= 100)),
        (f"largest 10 ms-ticker gap on the loop while {n} streams run",
         ms(r["inside"], "{:.0f}"), "<= 50 ms (best round)", mark(min(r["inside"]) <= 50)),
        (f"same, over the whole run ({n} conversations opened and closed at once)",
         ms(r["whole"], "{:.0f}"), "", "info"),
        (f"same for a ticker thread beside {n} sync streams (whole run)",
         ms(r["sync"], "{:.0f}"), "", "info"),
    ]  # fmt: skip


def render(
    s: Settings,
    t: dict[str, Any],
    m: dict[str, float],
    c: dict[str, list[float]],
    r: dict[str, list[float]],
    limit: int,
) -> str:
    """The markdown section: settings, then one table of figures with their targets."""
    rows = [("figure", "value", "target", ""), ("---", "---", "---", "---")]
    rows += _throughput_rows(s, t, m) + _latency_rows(s, c, r)
    table = "\n".join("| " + " | ".join(row) + " |" for row in rows)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    window = spread(r["window"], "{:.2f}")
    return f"""## Async streams (`python -m bench.async_streams`)

{s.streams} concurrent calls of {s.tokens:,} tokens each against the H2o emulator writing
one event per token (its own process); {s.rounds} rounds in alternating order, median (min-max) of
per-round values. Worker bound {limit} (the benchmark sizes its own pool). Cancel
latency: {s.cancels} streams stopped while blocked in a read, times taken at the server.
Ticker: {s.ticker_streams} streams of 60 tokens at 20 ms, {s.ticker_rounds} rounds; all of
them ran together for {window} s per round. The emulator notices a client's close of a
stalled stream by polling every 20 ms, which the close figure includes. Load average
during the run: {load} on {os.cpu_count()} cores.

{table}
"""
