"""Start-up to a first completed call: import, discovery and one short call, in a new process.

``import g4f_core`` alone measures nothing (the package loads lazily), so this times what a
script pays before it has an answer: a fresh interpreter that imports g4f-core, discovers
the providers and completes one 16-token call through H2o against the benchmark server,
against a fresh interpreter that imports ``requests`` and makes the same call with the raw
client (the same four requests: settings, conversation, generation, ``DELETE``). Memory is
the child's peak RSS (``VmHWM``) at the end of the call.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import ROOT
from .common import Figure, Section, Spread, clean_env, log, ratios, rotated
from .harness import Bench
from .latency import SHORT
from .protocol import MODEL, PROMPT, max_new_tokens, reply_chars

__all__ = ["KEY", "run"]

KEY = "first_call"

_G4F = """
import json, sys, time
t0 = time.perf_counter()
import g4f_core
t1 = time.perf_counter()
g4f_core.get_provider("H2o")
t2 = time.perf_counter()
text = g4f_core.complete({prompt!r}, provider="H2o", model={model!r}, base_url=sys.argv[1],
                         max_new_tokens={limit})
t3 = time.perf_counter()
peak = {peak}
print(json.dumps({{"chars": len(text), "import": t1 - t0, "discover": t2 - t1,
                  "call": t3 - t2, "peak_kib": peak}}))
"""
_RAW = """
import json, sys, time
t0 = time.perf_counter()
from bench.raw_client import RawClient
t1 = time.perf_counter()
text = RawClient(sys.argv[1]).complete({count})
t3 = time.perf_counter()
peak = {peak}
print(json.dumps({{"chars": len(text), "import": t1 - t0, "discover": 0.0,
                  "call": t3 - t1, "peak_kib": peak}}))
"""
#: The process's peak RSS in KiB: VmHWM is this process's own (ru_maxrss can carry the
#: parent's, from before exec), ru_maxrss where there is no /proc.
_PEAK = (
    "next((int(line.split()[1]) for line in open('/proc/self/status') "
    "if line.startswith('VmHWM:')), 0) if __import__('os').path.exists('/proc/self/status') "
    "else __import__('resource').getrusage(__import__('resource').RUSAGE_SELF).ru_maxrss"
)
LABELS = {"g4f": "g4f-core (import + discovery + call)", "raw": "raw client (import + call)"}


def _child(code: str, url: str, cwd: Path) -> tuple[float, dict[str, float]]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, url],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"first-call child failed: {done.stderr[-800:]}")
    data: dict[str, float] = json.loads(done.stdout)
    if data["chars"] != reply_chars(SHORT):
        raise RuntimeError(f"first-call child got {data['chars']} characters")
    return wall, data


def run(bench: Bench) -> Section:
    cfg, url = bench.cfg, bench.server.url
    section = Section(KEY, "Start-up to a first completed call")
    codes = {
        "g4f": _G4F.format(prompt=PROMPT, model=MODEL, limit=max_new_tokens(SHORT), peak=_PEAK),
        "raw": _RAW.format(count=SHORT, peak=_PEAK),
    }
    log(f"first call: 2 fresh processes x {cfg.startup_rounds} rounds")
    with tempfile.TemporaryDirectory(prefix="g4f-bench-first-") as tmp:
        cwds = {"g4f": Path(tmp), "raw": ROOT}  # the raw client is imported from bench/
        for name, code in codes.items():  # warm the byte-code and file-system caches
            _child(code, url, cwds[name])
        wall: dict[str, list[float]] = {name: [] for name in codes}
        peak: dict[str, list[float]] = {name: [] for name in codes}
        phases: dict[str, list[dict[str, float]]] = {name: [] for name in codes}
        for index in range(cfg.startup_rounds):
            for name in rotated(list(codes), index):
                seconds, data = _child(codes[name], url, cwds[name])
                wall[name].append(seconds * 1e3)
                peak[name].append(data["peak_kib"] / 1024)
                phases[name].append(data)
    for name in ("raw", "g4f"):
        section.add(
            Figure(
                f"first_call.{name}_ms",
                f"wall time to a first completed call, {LABELS[name]}",
                Spread.of(wall[name]),
                "ms",
                note="a fresh process, interpreter start-up included",
                fmt="{:.1f}",
            )
        )
        section.add(
            Figure(
                f"first_call.{name}_rss",
                f"peak RSS at the end of the first call, {LABELS[name]}",
                Spread.of(peak[name]),
                "MiB",
                fmt="{:.1f}",
            )
        )
    section.add(
        Figure(
            "first_call.time_ratio",
            "Time to a first completed call, g4f-core / raw client",
            Spread.of(ratios(wall["g4f"], wall["raw"])),
            "x",
            fmt="{:.2f}",
        )
    )
    section.add(
        Figure(
            "first_call.rss_ratio",
            "Peak memory of a first completed call, g4f-core / raw client",
            Spread.of(ratios(peak["g4f"], peak["raw"])),
            "x",
            fmt="{:.2f}",
        )
    )
    ms = {
        key: Spread.of([p[key] * 1e3 for p in phases["g4f"]]).median
        for key in ("import", "discover", "call")
    }
    raw_ms = {
        key: Spread.of([p[key] * 1e3 for p in phases["raw"]]).median for key in ("import", "call")
    }
    section.notes.append(
        f"Inside the g4f-core process: `import g4f_core` {ms['import']:.1f} ms (it loads "
        f"lazily), discovery {ms['discover']:.1f} ms (with the imports it triggers: attrs, "
        f"the registry, the H2o module), the call {ms['call']:.1f} ms (with its imports of "
        f"requests and the transport); the raw process: `import requests` "
        f"{raw_ms['import']:.1f} ms, the call {raw_ms['call']:.1f} ms."
    )
    section.data = {"wall_ms": wall, "peak_mib": peak, "phases": phases}
    return section
