"""The report's last part: what limits each figure, in prose computed from this run's data."""

from __future__ import annotations

from typing import Any

from .common import Figure, Section
from .report import Run

__all__ = ["limits"]


def _median(fig: Figure | None) -> float:
    return fig.value.median if fig is not None and fig.value is not None else float("nan")


def _extra(data: dict[str, Any], count: int = 4) -> str:
    """The groups where g4f-core spends more than the raw client, largest first."""
    g4f, raw = data.get("g4f", {}), data.get("raw", {})
    diffs = sorted(((v - raw.get(k, 0.0), k) for k, v in g4f.items()), reverse=True)
    shown = [f"{k} +{d:.2f} µs" for d, k in diffs[:count] if d > 0.005]
    return ", ".join(shown) or "nothing measurable"


def _less(data: dict[str, Any], count: int = 3) -> str:
    """The groups where g4f-core spends less than the raw client, largest saving first."""
    g4f, raw = data.get("g4f", {}), data.get("raw", {})
    diffs = sorted((g4f.get(k, 0.0) - v, k) for k, v in raw.items())
    shown = [f"{k} {d:.2f} µs" for d, k in diffs[:count] if d < -0.005]
    return ", ".join(shown) or "nothing measurable"


def _totals(data: dict[str, Any]) -> tuple[float, float]:
    return sum(data.get("g4f", {}).values()), sum(data.get("raw", {}).values())


def _rows(data: dict[str, Any], key: str, count: int = 4) -> str:
    """The first rows of a profile table as prose: name (where, µs)."""
    rows = data.get(key, [])[1 : count + 1]  # column 3: own µs, or µs spent in the call
    return "; ".join(f"{r[0]} ({r[1]}, {r[3]} µs)" for r in rows) or "none"


def _per_call(section: Section | None, client: str) -> tuple[float, str]:
    """Requests per call, and their kinds, of one client in the sequential-call test."""
    if section is None:
        return float("nan"), ""
    entries = section.data.get("server", {}).get(client, [])
    calls = len(entries) * (section.data.get("calls") or 1)
    kinds: dict[str, int] = {}
    for entry in entries:
        for kind, count in entry["kinds"].items():
            kinds[kind] = kinds.get(kind, 0) + count
    return sum(kinds.values()) / max(calls, 1), ", ".join(sorted(kinds))


def _streaming(run: Run, stream: dict[str, Any]) -> list[str]:
    ratio = _median(run.figure("throughput.ratio"))
    text = (
        f"**Streaming throughput ({ratio:.2f}x) and CPU per token "
        f"({_median(run.figure('cpu.ratio')):.2f}x).** Not the server: the raw socket reader "
        f"drains the same stream {_median(run.figure('throughput.server_headroom')):.1f}x as "
        "fast as the raw client, so both clients are CPU-bound in Python and the throughput "
        "ratio is the inverse of their CPU ratio. The server writes one event per token, but "
        "a client that is the slower side finds many events waiting: g4f-core takes all of "
        "them in one read and one pass (chunk framing, then lines, then events), where "
        "requests' `iter_content` goes through urllib3 and http.client once per HTTP chunk, "
        "that is once per event."
    )
    if stream:
        g4f_us, raw_us = _totals(stream)
        text += (
            f" Profiled (cProfile inflates small calls), g4f-core spends {g4f_us:.1f} µs of "
            f"own time per token against {raw_us:.1f} µs; it spends more in {_extra(stream)} "
            f"and less in {_less(stream)}. g4f-core's own functions by own time per token: "
            f"{_rows(stream, 'framework')}. The library calls it makes, by time spent in them "
            f"per token: {_rows(stream, 'library')}."
        )
    return [text, ""]


def _latency(run: Run, calls: dict[str, Any]) -> list[str]:
    latency = run.section("latency")
    per = {name: _per_call(latency, name) for name in ("g4f", "raw")}
    ms = {name: _median(run.figure(f"latency.{name}")) for name in per}
    per_request = {n: ms[n] / per[n][0] if per[n][0] else float("nan") for n in per}
    text = (
        f"**Per-call latency ({_median(run.figure('latency.ratio')):.2f}x) and time to "
        f"first token ({_median(run.figure('ttft.ratio')):.2f}x).** A short call is a few "
        "small HTTP exchanges, each costing far more than its tokens. Requests per warm call: "
        f"g4f-core {per['g4f'][0]:.2f} ({per['g4f'][1]}), raw client {per['raw'][0]:.2f} "
        f"({per['raw'][1]}): the same sequence. Per request that is "
        f"{per_request['g4f']:.3f} ms for g4f-core against {per_request['raw']:.3f} ms "
        "(server time included)."
    )
    if calls:
        g4f_us, raw_us = _totals(calls)
        text += (
            f" Profiled, a g4f-core call costs {g4f_us:.0f} µs of own time against "
            f"{raw_us:.0f} µs (socket waits included); the extra is in {_extra(calls)}. "
            f"g4f-core's own functions by own time per call: {_rows(calls, 'framework')}."
        )
    return [text, ""]


def _concurrency(run: Run, threads: dict[str, Any]) -> list[str]:
    section = run.section("concurrency")
    if section is None:
        return []
    text = (
        f"**Concurrency ({_median(run.figure('concurrency.ratio')):.2f}x, CPU per token "
        f"{_median(run.figure('concurrency.cpu_ratio')):.2f}x).** {' '.join(section.notes)}"
    )
    if threads:
        g4f_us, raw_us = _totals(threads)
        text += (
            f" On each thread's CPU clock, g4f-core spends {g4f_us:.1f} µs per token against "
            f"{raw_us:.1f} µs; more in {_extra(threads)}, less in {_less(threads)}. A large "
            "'lock waits (C)' share is CPU burnt handing a contended lock between threads."
        )
    return [text, ""]


def _startup(run: Run) -> list[str]:
    out: list[str] = []
    first = run.section("first_call")
    if first is not None:
        out += [
            f"**First completed call ({_median(run.figure('first_call.time_ratio')):.2f}x "
            f"the time, {_median(run.figure('first_call.rss_ratio')):.2f}x the memory).** "
            f"{' '.join(first.notes)} g4f-core imports requests too (on the first call, not "
            "at `import g4f_core`), and adds attrs, its own modules and the discovery of the "
            "installed providers.",
            "",
        ]
    startup = run.section("startup")
    if startup is not None:
        rows = startup.tables[0][1] if startup.tables else []
        heavy = ", ".join(f"{r[0]} {r[1]} ms" for r in rows[1:7])
        phases = startup.data.get("phases", {})
        out += [
            f"**Start-up of the listing ({_median(run.figure('startup.cli_ratio')):.2f}x).** "
            f"{startup.notes[0] if startup.notes else ''} The listing process spends "
            f"{phases.get('import', 0) * 1e3:.1f} ms importing, "
            f"{phases.get('discover', 0) * 1e3:.1f} ms discovering and "
            f"{phases.get('list', 0) * 1e3:.1f} ms listing; the largest imports by package "
            f"(self time): {heavy}.",
            "",
        ]
    return out


def limits(run: Run) -> list[str]:
    """Paragraphs on what bounds each figure, computed from this run's data."""
    profiles = run.section("profiles")
    pdata = profiles.data if profiles is not None else {}
    out: list[str] = []
    if run.section("throughput") is not None:
        out += _streaming(run, pdata.get("stream", {}))
    if run.section("latency") is not None:
        out += _latency(run, pdata.get("calls", {}))
    out += _concurrency(run, pdata.get("threads", {}))
    out += _startup(run)
    if run.section("scale") is not None:
        out += [
            f"**Scale (growth exponent {_median(run.figure('scale.growth_exponent')):.2f}, "
            f"lookup {_median(run.figure('scale.lookup_ratio')):.2f}x).** Discovery reads "
            "every distribution's metadata and imports each plugin module once, so it is "
            "linear in the number of providers; lookups are dictionary hits on a lower-cased "
            "name, so they do not grow.",
            "",
        ]
    memory = run.section("memory")
    if memory is not None and memory.notes:
        out += [
            f"**Memory ({_median(run.figure('memory.stream_growth')):.2f} MiB of growth while "
            f"streaming, raw client {_median(run.figure('memory.stream_growth_raw')):.2f} "
            f"MiB).** {' '.join(memory.notes)} g4f-core keeps the delivered text (`.text`, an "
            f"error's `partial_text`: {memory.data.get('reply_kib', 0):.0f} KiB for this reply) "
            "joined in blocks of 512 chunks, and nothing else per token; the raw client keeps "
            "nothing.",
            "",
        ]
    return out
