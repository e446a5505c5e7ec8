"""Warm time to first token, and 200 sequential short calls with their request counts.

Both clients send the same requests (a kept chat-ui session, then per call a
conversation, the generation and its ``DELETE``), so both figures compare like with like.
They are dominated by per-request work (three small HTTP exchanges per call), so they
show the framework's fixed cost per call rather than its per-token cost.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from .common import Config, Figure, Section, Spread, Target, log, ratios, rotated
from .contenders import g4f_stream, timed_stream
from .harness import Bench, ServerProcess, ServerStats
from .protocol import MODEL, PROMPT, max_new_tokens, reply_chars
from .raw_client import RawClient
from .throughput import server_table

__all__ = ["KEY", "SHORT", "run"]

KEY = "latency"

SHORT = 16  # tokens in a short reply


def _ttft(cfg: Config, server: ServerProcess, section: Section) -> None:
    url = server.url
    raw = RawClient(url)
    firsts: dict[str, Callable[[], float]] = {
        "raw": lambda: timed_stream(raw.stream(SHORT), time.perf_counter(), SHORT).first,
        "g4f": lambda: timed_stream(g4f_stream(url, SHORT), time.perf_counter(), SHORT).first,
    }
    for warm in firsts.values():
        warm()
        warm()
    medians: dict[str, list[float]] = {"raw": [], "g4f": []}
    for index in range(cfg.rounds):
        samples: dict[str, list[float]] = {"raw": [], "g4f": []}
        for call in range(cfg.ttft_calls):
            for name in rotated(list(firsts), index + call):
                samples[name].append(firsts[name]())
        for name, values in samples.items():
            medians[name].append(statistics.median(values))
    raw.close()
    for name, label in (("raw", "raw requests client"), ("g4f", "g4f-core")):
        section.add(
            Figure(
                f"ttft.{name}",
                f"time to first token, {label}",
                Spread.of([v * 1e3 for v in medians[name]]),
                "ms",
                fmt="{:.2f}",
            )
        )
    section.add(
        Figure(
            "ttft.ratio",
            "Time to first token (warm), g4f-core / raw",
            Spread.of(ratios(medians["g4f"], medians["raw"])),
            "x",
            Target("<=", 1.1),
            note=f"median of {cfg.ttft_calls} calls per round, calls interleaved",
            fmt="{:.2f}",
        )
    )
    section.data["ttft_ms"] = {k: [v * 1e3 for v in vals] for k, vals in medians.items()}


def _sequential(cfg: Config, server: ServerProcess, section: Section) -> None:
    import g4f_core

    url, calls = server.url, cfg.seq_calls
    options: dict[str, Any] = {"provider": "H2o", "model": MODEL, "base_url": url}
    limit = max_new_tokens(SHORT)
    expected = reply_chars(SHORT)
    raw = RawClient(url)

    def block(call: Callable[[], str]) -> Callable[[], float]:
        def go() -> float:
            started = time.perf_counter()
            for _ in range(calls):
                if len(call()) != expected:
                    raise AssertionError("a short call returned the wrong reply")
            return (time.perf_counter() - started) / calls

        return go

    single: dict[str, Callable[[], str]] = {
        "raw": lambda: raw.complete(SHORT),
        "g4f": lambda: g4f_core.complete(PROMPT, max_new_tokens=limit, **options),
    }
    for call in single.values():  # warm: pools, the accepted session, discovery
        call()
        call()
    blocks = {name: block(call) for name, call in single.items()}
    per_call: dict[str, list[float]] = {name: [] for name in blocks}
    stats: dict[str, list[ServerStats]] = {name: [] for name in blocks}
    for index in range(cfg.rounds):
        for name in rotated(list(blocks), index):
            before = server.stats()
            per_call[name].append(blocks[name]())
            stats[name].append(server.stats() - before)
    raw.close()
    for name, label in (("raw", "raw client"), ("g4f", "g4f-core")):
        section.add(
            Figure(
                f"latency.{name}",
                f"per-call latency, {label}",
                Spread.of([v * 1e3 for v in per_call[name]]),
                "ms",
                fmt="{:.3f}",
            )
        )
    section.add(
        Figure(
            "latency.ratio",
            f"Per-call latency ({calls} sequential short calls), g4f-core / raw",
            Spread.of(ratios(per_call["g4f"], per_call["raw"])),
            "x",
            Target("<=", 1.1),
            fmt="{:.2f}",
        )
    )
    g4f_requests = sum(s.requests for s in stats["g4f"]) / (calls * cfg.rounds)
    raw_requests = sum(s.requests for s in stats["raw"]) / (calls * cfg.rounds)
    section.add(
        Figure(
            "latency.requests_per_call",
            "HTTP requests per warm call, g4f-core",
            Spread.of([s.requests / calls for s in stats["g4f"]]),
            "",
            note=f"raw client: {raw_requests:.2f}; g4f-core: {g4f_requests:.2f}",
            fmt="{:.2f}",
        )
    )
    connections = [s.connections for s in stats["g4f"]]
    section.add(
        Figure(
            "latency.connections",
            f"New TCP connections per {calls} warm g4f-core calls",
            Spread.of([float(c) for c in connections]),
            "",
            Target("<=", 1, ""),
            note="connections are pooled across calls: a warm block should open none",
            fmt="{:.0f}",
            extra={"pass": max(connections) <= 1},
        )
    )
    section.tables.append(
        ("Server-side counts per call (sequential calls)", server_table(stats, calls))
    )
    section.data["calls"] = calls
    section.data["per_call_ms"] = {k: [v * 1e3 for v in vals] for k, vals in per_call.items()}
    section.data["server"] = {k: [s.__dict__ for s in vals] for k, vals in stats.items()}


def run(bench: Bench) -> Section:
    cfg, server = bench.cfg, bench.server
    section = Section(KEY, "Time to first token and per-call latency")
    log(f"latency: warm time to first token, {cfg.rounds} rounds x {cfg.ttft_calls} calls")
    _ttft(cfg, server, section)
    log(f"latency: {cfg.seq_calls} sequential calls, {cfg.rounds} rounds")
    _sequential(cfg, server, section)
    return section
