"""Streaming throughput: a 20,000-token reply, g4f-core vs the raw client vs a raw socket.

The emulator runs in bulk mode (the stream is pre-built and written in 64 KiB chunks), so
the raw-socket reader shows how fast the server can go; the same comparison in the
emulator's per-event mode shows what happens when the server is the slower side.
"""

from __future__ import annotations

from collections.abc import Callable

from .common import Config, Figure, Section, Spread, Target, log, ratios, rotated
from .contenders import Run, g4f_run, raw_run, raw_socket_run
from .raw_client import RawClient
from .serve import EmulatorProcess, ServerStats

__all__ = ["run", "server_table"]

CONTENDERS = ("raw", "g4f", "socket")
LABELS = {
    "raw": "raw requests client",
    "raw+delete": "raw client + DELETE",
    "g4f": "g4f-core",
    "socket": "raw socket reader",
}


def server_table(stats: dict[str, list[ServerStats]], calls: int) -> list[list[str]]:
    """Requests, connections and server CPU per call, as the emulator counted them."""
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


def _measure(
    emu: EmulatorProcess, contenders: dict[str, Callable[[], Run]], rounds: int
) -> tuple[dict[str, list[Run]], dict[str, list[ServerStats]]]:
    for warm in contenders.values():  # pool, discovery, imports and the server's cache
        warm()
    runs: dict[str, list[Run]] = {name: [] for name in contenders}
    stats: dict[str, list[ServerStats]] = {name: [] for name in contenders}
    for index in range(rounds):
        for name in rotated(list(contenders), index):
            before = emu.stats()
            runs[name].append(contenders[name]())
            stats[name].append(emu.stats() - before)
    return runs, stats


def run(cfg: Config, emu: EmulatorProcess) -> Section:
    section = Section("throughput", "Streaming throughput")
    count = cfg.stream_tokens
    url = emu.url
    raw = RawClient(url)
    contenders: dict[str, Callable[[], Run]] = {
        "raw": lambda: raw_run(raw, count),
        "g4f": lambda: g4f_run(url, count),
        "socket": lambda: raw_socket_run(url, count),
    }
    log(f"throughput: {count} tokens, bulk mode, {cfg.rounds} rounds")
    emu.configure(count, bulk=True)
    runs, stats = _measure(emu, contenders, cfg.rounds)
    rates = {name: [r.rate for r in entries] for name, entries in runs.items()}
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
            f"Streaming throughput ({count:,} tokens), g4f-core / raw",
            Spread.of(ratios(rates["g4f"], rates["raw"])),
            "x",
            Target(">=", 0.9),
            fmt="{:.2f}",
        )
    )
    fastest = [max(a, b) for a, b in zip(rates["g4f"], rates["raw"], strict=True)]
    section.add(
        Figure(
            "throughput.server_headroom",
            "Server headroom: raw socket / faster client",
            Spread.of(ratios(rates["socket"], fastest)),
            "x",
            Target(">=", 2.0),
            note="the server is not the bottleneck when a reader with no HTTP library goes "
            "clearly (here: at least 2x) faster than both clients",
            fmt="{:.1f}",
        )
    )
    section.tables.append(("Server-side counts per call (bulk mode)", server_table(stats, 1)))

    log(f"throughput: {count} tokens, per-event mode, {cfg.per_event_rounds} rounds")
    emu.configure(count, bulk=False)
    slow_runs, slow_stats = _measure(emu, contenders, cfg.per_event_rounds)
    slow = {name: [r.rate for r in entries] for name, entries in slow_runs.items()}
    section.add(
        Figure(
            "throughput.per_event_ratio",
            "Same, emulator in per-event mode (one write per token), g4f-core / raw",
            Spread.of(ratios(slow["g4f"], slow["raw"])),
            "x",
            note="the server writes each event on its own here; tokens/s: raw socket "
            f"{Spread.of(slow['socket']).median:,.0f}, raw client "
            f"{Spread.of(slow['raw']).median:,.0f}, g4f-core {Spread.of(slow['g4f']).median:,.0f}",
            fmt="{:.2f}",
        )
    )
    section.data = {
        "tokens": count,
        "bulk": {name: [r.__dict__ for r in entries] for name, entries in runs.items()},
        "per_event": {name: slow[name] for name in slow},
        "server": {name: [s.__dict__ for s in entries] for name, entries in stats.items()},
        "server_per_event": {
            name: [s.__dict__ for s in entries] for name, entries in slow_stats.items()
        },
    }
    raw.close()
    return section
