"""Memory: a 100,000-token stream, one event per token, must keep RSS flat.

Each measurement runs in a fresh process of its own, so the harness's and the server's
memory never mix into it. RSS comes from ``/proc/self/statm`` (Linux); elsewhere the
section reports itself skipped rather than guess. (The memory of a process up to its first
call is in first_call.py.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

from . import ROOT
from .common import Figure, MiB, Section, Spread, Target, clean_env, log, rotated, rss_bytes
from .harness import Bench
from .protocol import reply_chars

__all__ = ["KEY", "run"]

KEY = "memory"


def _stream(url: str, count: int, client: str) -> Iterator[str]:
    if client == "g4f":
        from .contenders import g4f_stream

        return g4f_stream(url, count)
    from .raw_client import RawClient

    return RawClient(url).stream(count)


def child(url: str, count: int, client: str) -> dict[str, int]:
    """In a fresh process: stream once to warm up, then sample RSS along a long stream."""
    for _ in _stream(url, count, client):
        pass  # warm: imports, pool, the accepted session, the server's frames
    step = max(count // 100, 1)
    tenth = max(count // 10, 1)
    start = at_tenth = peak = 0
    seen = 0
    for seen, _chunk in enumerate(_stream(url, count, client), start=1):
        if seen % step == 0 or seen == 1:
            rss = rss_bytes() or 0
            if seen == 1:
                start = rss
            if seen >= tenth and not at_tenth:
                at_tenth = rss
            peak = max(peak, rss)
    return {"tokens": seen, "start": start, "tenth": at_tenth, "peak": peak}


def _run_child(url: str, count: int, client: str) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.memory", url, str(count), client],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory child ({client}) failed: {done.stderr[-800:]}")
    data: dict[str, int] = json.loads(done.stdout)
    if data["tokens"] != count:
        raise RuntimeError(f"memory child ({client}) got {data['tokens']} of {count} tokens")
    return data


def run(bench: Bench) -> Section:
    cfg = bench.cfg
    section = Section(KEY, "Memory while streaming")
    if rss_bytes() is None:
        key = "memory.stream_growth"
        section.add(Figure(key, key, None, "MiB", skipped="no /proc/self/statm here"))
        return section
    count, url = cfg.memory_tokens, bench.server.url
    log(f"memory: {count:,}-token stream, {cfg.memory_rounds} rounds")
    growth: dict[str, list[float]] = {"raw": [], "g4f": []}
    samples: dict[str, list[dict[str, int]]] = {"raw": [], "g4f": []}
    for index in range(cfg.memory_rounds):
        for client in rotated(["raw", "g4f"], index):
            data = _run_child(url, count, client)
            samples[client].append(data)
            growth[client].append((data["peak"] - data["tenth"]) / MiB)
    section.add(
        Figure(
            "memory.stream_growth",
            f"RSS growth while streaming {count:,} tokens (10% to end), g4f-core",
            Spread.of(growth["g4f"]),
            "MiB",
            Target("<=", 1.0, "MiB"),
            note=f"flat means no per-token state kept; raw client: "
            f"{Spread.of(growth['raw']).show('{:.2f}')} MiB",
            fmt="{:.2f}",
        )
    )
    section.add(
        Figure(
            "memory.stream_growth_raw",
            f"RSS growth while streaming {count:,} tokens, raw client",
            Spread.of(growth["raw"]),
            "MiB",
            fmt="{:.2f}",
        )
    )
    per_token = Spread.of(
        [(s["peak"] - s["tenth"]) / max(count - count // 10, 1) for s in samples["g4f"]]
    )
    section.notes.append(
        f"RSS grew by about {per_token.median:.1f} bytes per streamed token for g4f-core "
        "(RSS growth over the last 90% of the stream divided by its tokens)."
    )
    section.data = {"stream": samples, "reply_kib": reply_chars(count) / 1024}
    return section


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1], int(sys.argv[2]), sys.argv[3])))
