"""Start-up of the listing: ``g4f-core providers --json`` vs ``import requests``.

Each is a fresh process of the project's interpreter, run from an empty folder, rounds
alternating. ``-X importtime`` and a phase timer then say where the listing's time goes.
(``import g4f_core`` alone is not timed: it loads lazily and so measures nothing; the time
to a first completed call is in first_call.py.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import Figure, Section, Spread, Target, clean_env, log, ratios, rotated
from .common import timed_run as _timed
from .harness import Bench

__all__ = ["KEY", "cli_command", "import_profile", "run"]

KEY = "startup"

_PHASES = """
import io, json, sys, time
t0 = time.perf_counter()
from g4f_core import cli
from g4f_core.plugins.registry import default_registry
t1 = time.perf_counter()
default_registry().load()
t2 = time.perf_counter()
cli.main(["providers", "--json"], stdout=io.StringIO())
t3 = time.perf_counter()
heavy = ["requests", "urllib3", "pluggy", "http.client", "ssl", "json", "attr", "typing"]
print(json.dumps({
    "import": t1 - t0, "discover": t2 - t1, "list": t3 - t2,
    "modules": len(sys.modules), "loaded": [m for m in heavy if m in sys.modules],
}))
"""
_LIBRARY_LOADS = """
import json, sys
import g4f_core
g4f_core.list_providers()
heavy = ["requests", "urllib3", "http.client", "ssl", "pluggy"]
print(json.dumps([m for m in heavy if m in sys.modules]))
"""
_LISTING = (
    "import io; from g4f_core.cli.app import main; "
    "main(['providers', '--json'], stdout=io.StringIO())"
)


def cli_command() -> list[str]:
    """The installed console script next to the interpreter, else ``python -m g4f_core``."""
    script = Path(sys.executable).with_name("g4f-core")
    if script.exists():
        return [str(script), "providers", "--json"]
    return [sys.executable, "-m", "g4f_core", "providers", "--json"]


def import_profile(code: str, cwd: Path, top: int = 12) -> list[list[str]]:
    """``-X importtime`` of ``code``, summed by top-level package: where import time goes."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    by_package: dict[str, int] = {}
    total = 0
    for line in done.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3 or not fields[0].strip().isdigit():
            continue  # the header line, or another program's output
        self_us, name = int(fields[0]), fields[2]
        package = name.strip().split(".")[0]
        by_package[package] = by_package.get(package, 0) + int(self_us)
        total += int(self_us)
    rows = [["package (summed self time)", "ms", "share"]]
    for package, micros in sorted(by_package.items(), key=lambda kv: -kv[1])[:top]:
        rows.append([package, f"{micros / 1e3:.1f}", f"{micros / max(total, 1):.0%}"])
    rows.append(["all imports", f"{total / 1e3:.1f}", "100%"])
    return rows


def run(bench: Bench) -> Section:
    cfg = bench.cfg
    section = Section(KEY, "Start-up of the listing")
    py = sys.executable
    commands = {
        "requests": [py, "-c", "import requests"],
        "cli": cli_command(),
        "library": [py, "-c", "import g4f_core; g4f_core.list_providers()"],
        "bare": [py, "-c", "pass"],
    }
    env = clean_env()
    log(f"startup: {len(commands)} commands x {cfg.startup_rounds} rounds")
    with tempfile.TemporaryDirectory(prefix="g4f-bench-cwd-") as tmp:
        cwd = Path(tmp)
        for cmd in commands.values():  # warm the byte-code and file-system caches
            _timed(cmd, cwd=cwd, env=env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for index in range(cfg.startup_rounds):
            for name in rotated(list(commands), index):
                times[name].append(_timed(commands[name], cwd=cwd, env=env))
        phases = json.loads(
            subprocess.run(
                [py, "-c", _PHASES],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            ).stdout
        )
        library_loaded = json.loads(
            subprocess.run(
                [py, "-c", _LIBRARY_LOADS],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            ).stdout
        )
        section.tables.append(
            (
                "Where `g4f-core providers --json` spends its import time",
                import_profile(_LISTING, cwd),
            )
        )
    labels = {
        "requests": '`python -c "import requests"`',
        "cli": "`g4f-core providers --json`",
        "library": '`python -c "import g4f_core; g4f_core.list_providers()"`',
        "bare": '`python -c "pass"` (interpreter alone)',
    }
    for name, label in labels.items():
        section.add(
            Figure(
                f"startup.{name}",
                f"wall time, {label}",
                Spread.of([t * 1e3 for t in times[name]]),
                "ms",
                fmt="{:.1f}",
            )
        )
    section.add(
        Figure(
            "startup.cli_ratio",
            "Start-up of `g4f-core providers --json` / `import requests`",
            Spread.of(ratios(times["cli"], times["requests"])),
            "x",
            Target("<=", 0.7),
            fmt="{:.2f}",
        )
    )
    section.add(
        Figure(
            "startup.library_ratio",
            "Start-up of `g4f_core.list_providers()` in a script / `import requests`",
            Spread.of(ratios(times["library"], times["requests"])),
            "x",
            note="not a target of the issue; listing from Python should import no HTTP "
            f"library either: loaded here: {', '.join(library_loaded) or 'none of them'}",
            fmt="{:.2f}",
        )
    )
    bare = Spread.of(times["bare"]).median
    section.notes.append(
        f"The interpreter alone takes {bare * 1e3:.1f} ms, so no command can go below "
        f"{bare / Spread.of(times['requests']).median:.2f}x of `import requests` here."
    )
    section.notes.append(
        "Inside one `g4f-core providers --json` process: imports "
        f"{phases['import'] * 1e3:.1f} ms, discovery {phases['discover'] * 1e3:.1f} ms, "
        f"listing {phases['list'] * 1e3:.1f} ms; {phases['modules']} modules loaded, among "
        f"them {', '.join(phases['loaded']) or 'none of requests/urllib3/pluggy'} "
        "(of requests, urllib3, pluggy, http.client, ssl, json, attr, typing)."
    )
    section.data = {"ms": {k: [t * 1e3 for t in v] for k, v in times.items()}, "phases": phases}
    return section
