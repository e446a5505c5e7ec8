"""16 threads of streaming calls at once: aggregate throughput, errors, connections.

The server writes one event per token to every stream. The raw side gives each thread its
own ``requests.Session`` (sessions are not meant to be shared between threads); g4f-core
shares one pool for the process. Both are bound by one interpreter lock, so this measures
how much CPU each client burns per token under load.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .common import Figure, Section, Spread, Target, log, ratios, rotated
from .contenders import g4f_run, raw_run
from .harness import Bench, ServerStats
from .raw_client import RawClient
from .throughput import server_table

__all__ = ["KEY", "run"]

KEY = "concurrency"


Work = Callable[[], tuple[Callable[[], object], Callable[[], None]]]


def _load(threads: int, calls: int, work: Work) -> tuple[float, int, float]:
    """Run ``calls`` calls on each of ``threads`` threads; (wall s, errors, process CPU s).

    ``work()`` gives each thread its call and its cleanup, made before the clock starts.
    """
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads + 1)

    def worker() -> None:
        call, cleanup = work()
        barrier.wait()
        for _ in range(calls):
            try:
                call()
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                with lock:
                    errors.append(exc)
        cleanup()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    cpu = time.process_time()
    for thread in pool:
        thread.join()
    cpu = time.process_time() - cpu
    if errors:
        kinds = sorted({type(e).__name__ for e in errors})
        log(f"concurrency: {len(errors)} errors: {', '.join(kinds)}: {errors[0]}")
    return time.perf_counter() - started, len(errors), cpu


def run(bench: Bench) -> Section:
    cfg, server = bench.cfg, bench.server
    section = Section(KEY, f"Concurrency: {cfg.threads} threads of streaming calls")
    url, count, threads, calls = server.url, cfg.thread_tokens, cfg.threads, cfg.thread_calls
    log(f"concurrency: {threads} threads x {calls} calls x {count} tokens, {cfg.rounds} rounds")

    def raw_work() -> tuple[Callable[[], object], Callable[[], None]]:
        client = RawClient(url)
        return (lambda: raw_run(client, count)), client.close

    def g4f_work() -> tuple[Callable[[], object], Callable[[], None]]:
        return (lambda: g4f_run(url, count)), lambda: None

    loads: dict[str, Callable[[], tuple[float, int, float]]] = {
        "raw": lambda: _load(threads, calls, raw_work),
        "g4f": lambda: _load(threads, calls, g4f_work),
    }
    for name, warm in loads.items():
        _seconds, failed, _cpu = warm()
        if failed:
            raise RuntimeError(f"concurrency warm-up: {failed} {name} calls failed")
    rates: dict[str, list[float]] = {"raw": [], "g4f": []}
    errors: dict[str, int] = {"raw": 0, "g4f": 0}
    stats: dict[str, list[ServerStats]] = {"raw": [], "g4f": []}
    cpu: dict[str, list[float]] = {"raw": [], "g4f": []}
    cpu_token: dict[str, list[float]] = {"raw": [], "g4f": []}
    total = threads * calls * count
    for index in range(cfg.rounds):
        for name in rotated(list(loads), index):
            before = server.stats()
            seconds, failed, used = loads[name]()
            stats[name].append(server.stats() - before)
            cpu[name].append(used / seconds)
            cpu_token[name].append(used / total * 1e6)
            rates[name].append(total / seconds)
            errors[name] += failed
    for name, label in (("raw", "raw clients"), ("g4f", "g4f-core")):
        section.add(
            Figure(
                f"concurrency.{name}",
                f"aggregate tokens/s, {label}",
                Spread.of(rates[name]),
                "tok/s",
                fmt="{:,.0f}",
            )
        )
    section.add(
        Figure(
            "concurrency.ratio",
            f"Aggregate throughput, {threads} threads, g4f-core / raw",
            Spread.of(ratios(rates["g4f"], rates["raw"])),
            "x",
            Target(">=", 0.9),
            fmt="{:.2f}",
        )
    )
    section.add(
        Figure(
            "concurrency.errors",
            "Errors under load, g4f-core",
            Spread.of([float(errors["g4f"])]),
            "",
            Target("<=", 0, ""),
            note=f"raw clients: {errors['raw']}",
            fmt="{:.0f}",
        )
    )
    conns = [s.connections for s in stats["g4f"]]
    section.add(
        Figure(
            "concurrency.connections",
            f"New TCP connections per round ({threads * calls} calls), g4f-core",
            Spread.of([float(c) for c in conns]),
            "",
            Target("<=", threads, ""),
            note=f"bounded by the thread count; raw clients (a new session per thread and "
            f"round): {', '.join(str(s.connections) for s in stats['raw'])}",
            fmt="{:.0f}",
            extra={"pass": max(conns) <= threads},
        )
    )
    section.add(
        Figure(
            "concurrency.cpu_ratio",
            f"CPU per streamed token, {threads} threads, g4f-core / raw",
            Spread.of(ratios(cpu_token["g4f"], cpu_token["raw"])),
            "x",
            note=f"µs per token: g4f-core {Spread.of(cpu_token['g4f']).show('{:.2f}')}, raw "
            f"{Spread.of(cpu_token['raw']).show('{:.2f}')}",
            fmt="{:.2f}",
        )
    )
    section.notes.append(
        "Client process CPU per wall second during the load (1.0 = one core busy, the "
        f"interpreter lock's limit): g4f-core {Spread.of(cpu['g4f']).show('{:.2f}')}, raw "
        f"{Spread.of(cpu['raw']).show('{:.2f}')}. Near 1.0 the load is CPU-bound, and the "
        "throughput ratio is the inverse ratio of CPU per token."
    )
    section.tables.append(
        ("Server-side counts per call (concurrent calls)", server_table(stats, threads * calls))
    )
    section.data = {
        "threads": threads,
        "rates": rates,
        "cpu_per_wall_second": cpu,
        "cpu_us_per_token": cpu_token,
        "errors": errors,
        "server": {k: [s.__dict__ for s in v] for k, v in stats.items()},
    }
    return section
