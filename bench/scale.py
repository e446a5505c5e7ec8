"""Scale: discovery, listing and lookup with 1, 10, 100 and 1,000 installed providers.

Each provider is its own generated distribution (``*.dist-info`` with an entry point, and a
module) on a temporary path. A fresh process per measurement times discovery + listing
(``Registry.from_path(...)`` and every ``to_dict()``, serialised as the CLI would) and
the average ``get()`` by name; imports of g4f-core itself are outside the timers.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import Figure, Section, Spread, Target, clean_env, log, timed_run
from .harness import Bench
from .startup import cli_command

__all__ = ["KEY", "generate", "run"]

KEY = "scale"

_MODULE = '''"""Generated provider {i} for the scale benchmark."""
url = "http://127.0.0.1:9"
models = ["scale-model-{i}"]
supports_stream = True
needs_auth = False


def _create_completion(model, messages, stream, **kwargs):
    yield "ok"
'''

_CHILD = """
import json, sys, time
root, count, lookups = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, root)
from g4f_core.plugins.registry import Registry
t0 = time.perf_counter()
registry = Registry.from_path([root], environ={})
listing = json.dumps({
    "providers": [p.to_dict() for p in registry.providers()],
    "failures": [f.to_dict() for f in registry.failures()],
})
t1 = time.perf_counter()
found = len(registry.providers())
if found != count:
    raise SystemExit(f"found {found} providers of {count}: {registry.failures()[:3]}")
names = [f"scale{(i * 7919) % count}" for i in range(lookups)]
t2 = time.perf_counter()
for name in names:
    registry.get(name)
t3 = time.perf_counter()
print(json.dumps({"discover": t1 - t0, "lookup": (t3 - t2) / lookups, "bytes": len(listing)}))
"""


def generate(root: Path, count: int) -> Path:
    """``count`` one-provider distributions under ``root/scale-<count>``."""
    site = root / f"scale-{count}"
    site.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        module = f"bench_scale_p{i}"
        (site / f"{module}.py").write_text(_MODULE.format(i=i))
        info = site / f"bench_scale_p{i}-1.0.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: bench-scale-p{i}\nVersion: 1.0\n"
        )
        (info / "entry_points.txt").write_text(f"[g4f_core.providers]\nScale{i} = {module}\n")
    return site


def _child(site: Path, count: int, lookups: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(site), str(count), str(lookups)],
        cwd=site.parent,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"scale child for {count} providers failed: {done.stderr[-500:]}")
    data: dict[str, float] = json.loads(done.stdout)
    return data


def run(bench: Bench) -> Section:
    cfg = bench.cfg
    section = Section(KEY, "Scale: many installed providers")
    sizes = cfg.scale_sizes
    log(f"scale: {', '.join(map(str, sizes))} providers, {cfg.scale_rounds} rounds")
    discover: dict[int, list[float]] = {n: [] for n in sizes}
    lookup: dict[int, list[float]] = {n: [] for n in sizes}
    cli: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="g4f-bench-scale-") as tmp:
        sites = {n: generate(Path(tmp), n) for n in sizes}
        for n in sizes:  # compile the generated modules once, as an installer would
            _child(sites[n], n, 10)
        for index in range(cfg.scale_rounds):
            order = sizes if index % 2 == 0 else tuple(reversed(sizes))
            for n in order:
                data = _child(sites[n], n, cfg.scale_lookups)
                discover[n].append(data["discover"])
                lookup[n].append(data["lookup"])
        for n in sizes:  # end to end through the CLI, for the record
            env = clean_env(PYTHONPATH=str(sites[n]))
            cli[n] = timed_run(cli_command(), cwd=Path(tmp), env=env)
    rows = [["providers", "discovery + listing", "per provider", "lookup by name", "CLI wall"]]
    for n in sizes:
        d = Spread.of([t * 1e3 for t in discover[n]])
        rows.append(
            [
                f"{n:,}",
                f"{d.show('{:.2f}')} ms",
                f"{d.median * 1e3 / n:.0f} µs",
                f"{Spread.of([t * 1e9 for t in lookup[n]]).show('{:.0f}')} ns",
                f"{cli[n] * 1e3:.0f} ms",
            ]
        )
    section.tables.append(("Discovery, listing and lookup by number of providers", rows))
    for n in sizes:
        section.add(
            Figure(
                f"scale.discover_{n}",
                f"discovery + listing, {n:,} providers",
                Spread.of([t * 1e3 for t in discover[n]]),
                "ms",
                fmt="{:.2f}",
            )
        )
    big, prev = sizes[-1], sizes[-2]
    exponents = [
        math.log(b / p) / math.log(big / prev)
        for b, p in zip(discover[big], discover[prev], strict=True)
    ]
    section.add(
        Figure(
            "scale.growth_exponent",
            f"Discovery + listing growth exponent, {prev:,} to {big:,} providers",
            Spread.of(exponents),
            "",
            Target("<=", 1.15, ""),
            note="log(t2/t1)/log(n2/n1): 1 is linear, 2 quadratic; fixed costs push it below 1",
            fmt="{:.2f}",
        )
    )
    section.add(
        Figure(
            "scale.lookup_ratio",
            f"Lookup by name, {big:,} providers / 1 provider",
            Spread.of([b / s for b, s in zip(lookup[big], lookup[sizes[0]], strict=True)]),
            "x",
            Target("<=", 1.5),
            note="constant-time lookup stays near 1x",
            fmt="{:.2f}",
        )
    )
    section.data = {
        "discover_ms": {str(n): [t * 1e3 for t in v] for n, v in discover.items()},
        "lookup_ns": {str(n): [t * 1e9 for t in v] for n, v in lookup.items()},
        "cli_ms": {str(n): t * 1e3 for n, t in cli.items()},
    }
    return section
