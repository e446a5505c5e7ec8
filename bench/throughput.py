"""Streaming throughput and CPU per token: a 20,000-token reply, one event per token.

g4f-core, the raw ``requests`` client and the raw socket reader take the same stream from
the benchmark server, which writes every event on its own (one HTTP chunk, one
``sendall``), as servers flushing tokens do. The socket reader shows how fast the server
can go: at least twice the raw client's pace, or the client is not what is measured.
CPU time is the process's (user + system, every thread) over the same runs.
"""

from __future__ import annotations

from collections.abc import Callable

from .common import Figure, Section, Spread, Target, log, ratios, rotated
from .contenders import Run, g4f_run, raw_run, raw_socket_run
from .harness import Bench, ServerProcess, ServerStats
from .raw_client import RawClient

__all__ = ["KEY", "run", "server_table"]

KEY = "throughput"
CONTENDERS = ("raw", "g4f", "socket")
LABELS = {"raw": "raw requests client", "g4f": "g4f-core", "socket": "raw socket reader"}


def server_table(stats: dict[str, list[ServerStats]], calls: int) -> list[list[str]]:
    """Requests, connections and server CPU per call, as the server counted them."""
    rows = [["client", "requests/call", "by kind (per call)", "new TCP connections", "server CPU"]]
    for name, entries in stats.items():
        total_calls = calls * len(entries)
        requests = sum(s.requests for s in entries)
        conns = sum(s.connections for s in entries)
        cpu = sum(s.cpu for s in entries)
        kinds: dict[str, int] = {}
        for entry in entries:
            for kind, count in entry.kinds.items():
                kinds[kind] = kinds.get(kind, 0) + count
        shown = ", ".join(f"{k} {v / total_calls:.2g}" for k, v in sorted(kinds.items()))
        rows.append(
            [
                LABELS.get(name, name),
                f"{requests / total_calls:.2f}",
                shown,
                f"{conns} in {total_calls} calls",
                f"{cpu / total_calls * 1e3:.2f} ms/call",
            ]
        )
    return rows


def measure(
    server: ServerProcess, contenders: dict[str, Callable[[], Run]], rounds: int
) -> tuple[dict[str, list[Run]], dict[str, list[ServerStats]]]:
    """Warm every contender, then run each once per round, order rotated by round."""
    for warm in contenders.values():  # pool, discovery, imports, the server's frames
        warm()
    runs: dict[str, list[Run]] = {name: [] for name in contenders}
    stats: dict[str, list[ServerStats]] = {name: [] for name in contenders}
    for index in range(rounds):
        for name in rotated(list(contenders), index):
            before = server.stats()
            runs[name].append(contenders[name]())
            stats[name].append(server.stats() - before)
    return runs, stats


def run(bench: Bench) -> Section:
    cfg, server = bench.cfg, bench.server
    section = Section(KEY, "Streaming throughput and CPU per token")
    count, url = cfg.stream_tokens, server.url
    raw = RawClient(url)
    contenders: dict[str, Callable[[], Run]] = {
        "raw": lambda: raw_run(raw, count),
        "g4f": lambda: g4f_run(url, count),
        "socket": lambda: raw_socket_run(url, count),
    }
    log(f"throughput: {count:,} tokens, one write per event, {cfg.rounds} rounds")
    runs, stats = measure(server, contenders, cfg.rounds)
    raw.close()
    rates = {name: [r.rate for r in entries] for name, entries in runs.items()}
    cpu = {name: [r.cpu_per_token * 1e6 for r in entries] for name, entries in runs.items()}
    for name in CONTENDERS:
        section.add(
            Figure(
                f"throughput.{name}",
                f"tokens/s, {LABELS[name]}",
                Spread.of(rates[name]),
                "tok/s",
                fmt="{:,.0f}",
            )
        )
    section.add(
        Figure(
            "throughput.ratio",
            f"Streaming throughput ({count:,} tokens, one event per token), g4f-core / raw",
            Spread.of(ratios(rates["g4f"], rates["raw"])),
            "x",
            Target(">=", 0.9),
            fmt="{:.2f}",
        )
    )
    section.add(
        Figure(
            "throughput.server_headroom",
            "Server headroom: raw socket reader / raw requests client",
            Spread.of(ratios(rates["socket"], rates["raw"])),
            "x",
            Target(">=", 2.0),
            note="the client, not the server, limits throughput when a reader with no HTTP "
            "library drains the same stream at least 2x as fast as the raw client; socket "
            f"/ g4f-core: {Spread.of(ratios(rates['socket'], rates['g4f'])).show('{:.1f}')}x",
            fmt="{:.1f}",
        )
    )
    for name in ("raw", "g4f"):
        section.add(
            Figure(
                f"cpu.{name}",
                f"CPU per streamed token, {LABELS[name]}",
                Spread.of(cpu[name]),
                "µs",
                note="process CPU (user + system, all threads) over the stream",
                fmt="{:.2f}",
            )
        )
    section.add(
        Figure(
            "cpu.ratio",
            "CPU per streamed token (process user + system), g4f-core / raw",
            Spread.of(ratios(cpu["g4f"], cpu["raw"])),
            "x",
            Target("<=", 1.15),
            note="decides how many streams one process (a gateway) can carry",
            fmt="{:.2f}",
        )
    )
    section.tables.append(("Server-side counts per call", server_table(stats, 1)))
    section.data = {
        "tokens": count,
        "runs": {name: [r.__dict__ for r in entries] for name, entries in runs.items()},
        "server": {name: [s.__dict__ for s in entries] for name, entries in stats.items()},
    }
    return section
