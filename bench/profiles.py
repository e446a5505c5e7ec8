"""Where the time goes: cProfile of the same work for g4f-core and the raw client.

The server writes one event per token, as in every other section. Own time
(``tottime``) of every function is summed by where the function lives (g4f-core,
the H2o provider, requests, urllib3, http.client, json, socket I/O, ...), per token for
streams and per call for short calls, so the difference between the two clients reads
straight off the table. cProfile adds a cost per Python call, which inflates code that
makes many small calls: read the shares and the differences, not the absolute times.
Single-thread profiles use the wall clock (socket waits show up in the I/O calls) and keep
the least disturbed of three runs; the threaded one uses each thread's CPU clock.
"""

from __future__ import annotations

import cProfile
import pstats
import threading
import time
from collections.abc import Callable
from typing import Any

from .common import Section, log
from .contenders import g4f_stream
from .harness import Bench
from .latency import SHORT
from .protocol import MODEL, PROMPT, max_new_tokens
from .raw_client import RawClient

__all__ = ["KEY", "categorise", "run"]

KEY = "profiles"

_GROUPS = (
    ("/g4f_core/", "g4f_core"),
    ("/g4f_core_providers/h2o/", "g4f_core_providers.h2o"),
    ("/bench/", "bench (raw client code)"),
    ("/requests/", "requests"),
    ("/urllib3/", "urllib3"),
    ("/http/client.py", "http.client"),
    ("/http/cookiejar.py", "http.cookiejar"),
    ("/json/", "json"),
    ("/email/", "email (header parsing)"),
    ("/attr/", "attrs"),
    ("contextvars", "contextvars"),
    ("/socket.py", "socket (Python)"),
    ("/threading.py", "threading"),
)
_IO = ("recv_into", "sendall", "recv", "send", "poll", "select", "connect")


def categorise(file: str, function: str) -> str:
    """The group a profiled function belongs to, from its file and name."""
    if file == "~":  # a C function: classify by what it does
        if "_thread." in function or "acquire" in function:
            return "lock waits (C)"
        if any(f"'{name}'" in function or f".{name}" in function for name in _IO):
            return "socket I/O (C)"
        if "json" in function or "scanner" in function or "encoder" in function:
            return "json"
        return "builtins (C)"
    for marker, group in _GROUPS:
        if marker in file:
            return group
    return "other stdlib"


def _profile(work: Callable[[], None]) -> pstats.Stats:
    profiler = cProfile.Profile()
    profiler.enable()
    work()
    profiler.disable()
    return pstats.Stats(profiler)


def _least_disturbed(
    g4f: Callable[[], None], raw: Callable[[], None], tries: int = 3
) -> tuple[pstats.Stats, pstats.Stats]:
    """Profile both clients ``tries`` times, alternating; keep each one's fastest profile.

    Wall-clock profiles charge time the process spent preempted to whatever ran then; on
    a busy machine the run with the least total time is the least distorted one.
    """
    kept: dict[str, pstats.Stats] = {}
    for _ in range(tries):
        for name, work in (("g4f", g4f), ("raw", raw)):
            stats = _profile(work)
            best = kept.get(name)
            if best is None or stats.total_tt < best.total_tt:  # type: ignore[attr-defined]
                kept[name] = stats
    return kept["g4f"], kept["raw"]


def _profile_threads(threads: int, work: Callable[[], None]) -> pstats.Stats:
    """Profile ``work`` on ``threads`` threads at once, one profiler each, merged.

    The clock is each thread's CPU time: time spent waiting for the interpreter lock or
    the network is not charged to whatever call happened to be waiting, while CPU burnt
    handing a contended lock back and forth is.
    """
    profilers: list[cProfile.Profile] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker() -> None:
        profiler = cProfile.Profile(time.thread_time)
        barrier.wait()
        profiler.enable()  # profiles this thread only
        work()
        profiler.disable()
        with lock:
            profilers.append(profiler)

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    merged = pstats.Stats(profilers[0])
    for profiler in profilers[1:]:
        merged.add(profiler)
    return merged


Key = tuple[str, int, str]


def _entries(stats: pstats.Stats) -> dict[Key, Any]:
    """pstats' table: function -> (primitive calls, calls, own, cumulative, callers)."""
    table: dict[Key, Any] = stats.stats  # type: ignore[attr-defined]
    return table


def _is_framework(file: str) -> bool:
    return "/g4f_core/" in file or "/g4f_core_providers/" in file


def _where(key: Key) -> str:
    file, line, _ = key
    return "C" if file == "~" else f"{_short_path(file)}:{line}"


def _groups(stats: pstats.Stats, units: int) -> dict[str, float]:
    """Microseconds of own time per unit (token or call), by group."""
    totals: dict[str, float] = {}
    for (file, _line, function), entry in _entries(stats).items():
        group = categorise(file, function)
        totals[group] = totals.get(group, 0.0) + entry[2] * 1e6 / units
    return totals


def _framework(stats: pstats.Stats, units: int, count: int = 8) -> list[list[str]]:
    """g4f-core's and H2o's own functions, by own time per unit."""
    rows = [["function", "where", "calls/unit", "own µs/unit", "cumulative µs/unit"]]
    mine = [(k, e) for k, e in _entries(stats).items() if _is_framework(k[0])]
    for key, entry in sorted(mine, key=lambda kv: -kv[1][2])[:count]:
        rows.append(
            [
                f"`{key[2]}`",
                _where(key),
                f"{entry[1] / units:.2f}",
                f"{entry[2] * 1e6 / units:.2f}",
                f"{entry[3] * 1e6 / units:.2f}",
            ]
        )
    return rows


def _library_calls(stats: pstats.Stats, units: int, count: int = 8) -> list[list[str]]:
    """Python functions outside g4f-core called directly by it, by the time spent in them.

    C functions are left out: ``next``, ``Context.run`` and ``str.join`` are plumbing whose
    cumulative time is the whole call again.
    """
    rows = [["library function called by g4f-core", "where", "calls/unit", "cumulative µs/unit"]]
    found = []
    for key, entry in _entries(stats).items():
        if key[0] == "~" or _is_framework(key[0]):
            continue
        edges = [edge for caller, edge in entry[4].items() if _is_framework(caller[0])]
        if edges:
            calls = sum(edge[1] for edge in edges)
            cumulative = sum(edge[3] for edge in edges)
            found.append((cumulative, calls, key))
    for cumulative, calls, key in sorted(found, reverse=True)[:count]:
        rows.append(
            [f"`{key[2]}`", _where(key), f"{calls / units:.2f}", f"{cumulative * 1e6 / units:.2f}"]
        )
    return rows


def _short_path(file: str) -> str:
    for marker in ("/site-packages/", "/g4f_core/", "/providers/", "/bench/"):
        if marker in file:
            tail = file.split(marker, 1)[1]
            return tail if marker == "/site-packages/" else f"{marker.strip('/')}/{tail}"
    if "/lib/python3" in file:
        return "stdlib/" + file.split("/lib/python3", 1)[1].split("/", 1)[-1]
    return file


def _compare(unit: str, g4f: dict[str, float], raw: dict[str, float]) -> list[list[str]]:
    rows = [["where", f"g4f-core µs/{unit}", f"raw µs/{unit}", "difference"]]
    keys = sorted(set(g4f) | set(raw), key=lambda k: -(g4f.get(k, 0.0) - raw.get(k, 0.0)))
    for key in keys:
        a, b = g4f.get(key, 0.0), raw.get(key, 0.0)
        if max(a, b) < 0.005:
            continue
        rows.append([key, f"{a:.2f}", f"{b:.2f}", f"{a - b:+.2f}"])
    total_g4f, total_raw = sum(g4f.values()), sum(raw.values())
    rows.append(
        [
            "**total (profiled)**",
            f"{total_g4f:.2f}",
            f"{total_raw:.2f}",
            f"{total_g4f - total_raw:+.2f}",
        ]
    )
    return rows


def _workload(
    section: Section,
    key: str,
    title: str,
    unit: str,
    units: int,
    g4f: pstats.Stats,
    raw: pstats.Stats,
) -> None:
    groups = (_groups(g4f, units), _groups(raw, units))
    framework = _framework(g4f, units)
    library = _library_calls(g4f, units)
    section.tables.append(
        (f"{title}: own time per {unit}, by where it is spent", _compare(unit, *groups))
    )
    section.tables.append((f"{title}: g4f-core's own functions", framework))
    section.tables.append((f"{title}: library calls made by g4f-core", library))
    section.data[key] = {
        "unit": unit,
        "g4f": groups[0],
        "raw": groups[1],
        "framework": framework,
        "library": library,
    }


def run(bench: Bench) -> Section:
    import g4f_core

    cfg, url = bench.cfg, bench.server.url
    section = Section(KEY, "Profiles: where the time goes")
    count, calls = cfg.profile_tokens, cfg.profile_calls
    raw = RawClient(url)
    log(f"profiles: cProfile of a {count:,}-token stream and {calls} short calls, both clients")

    def g4f_stream_work() -> None:
        for _ in g4f_stream(url, count):
            pass

    def raw_stream_work() -> None:
        for _ in raw.stream(count):
            pass

    g4f_stream_work()  # warm both, and the server's frames
    raw_stream_work()
    g4f_tokens, raw_tokens = _least_disturbed(g4f_stream_work, raw_stream_work)

    options: dict[str, Any] = {"provider": "H2o", "model": MODEL, "base_url": url}
    limit = max_new_tokens(SHORT)

    def g4f_calls() -> None:
        for _ in range(calls):
            g4f_core.complete(PROMPT, max_new_tokens=limit, **options)

    def raw_calls() -> None:
        for _ in range(calls):
            raw.complete(SHORT)

    g4f_calls()
    raw_calls()
    g4f_short, raw_short = _least_disturbed(g4f_calls, raw_calls)

    threads, per_thread = cfg.threads, cfg.thread_tokens
    log(f"profiles: cProfile of {threads} threads streaming {per_thread:,} tokens each")

    def g4f_thread() -> None:
        for _ in g4f_stream(url, per_thread):
            pass

    def raw_thread() -> None:
        client = RawClient(url)
        for _ in client.stream(per_thread):
            pass
        client.close()

    g4f_thread()
    g4f_threads = _profile_threads(threads, g4f_thread)
    raw_threads = _profile_threads(threads, raw_thread)
    raw.close()

    title = f"Streaming {count:,} tokens"
    _workload(section, "stream", title, "token", count, g4f_tokens, raw_tokens)
    _workload(section, "calls", f"{calls} short calls", "call", calls, g4f_short, raw_short)
    _workload(
        section,
        "threads",
        f"{threads} threads streaming at once (thread CPU clock)",
        "token",
        threads * per_thread,
        g4f_threads,
        raw_threads,
    )
    return section
