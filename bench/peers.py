"""Optional: start-up and listing of gpt4free, llm and LiteLLM, in the same run.

They are installed with pip into a separate virtual environment in the system's temporary
folder (kept between runs, never in the project's .venv); each figure is a ratio to
``import requests`` in that environment. When the install fails (no index, no network)
the figures are reported as skipped with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import Figure, Section, Spread, clean_env, log, ratios, rotated, timed_run
from .harness import Bench

__all__ = ["KEY", "PEER_FIGURES", "run"]

KEY = "peers"

PACKAGES = ("g4f", "llm", "litellm", "requests")
VENV = (
    Path(tempfile.gettempdir())
    / f"g4f-core-bench-peers-py{sys.version_info[0]}{sys.version_info[1]}"
)
_MARK = VENV / "bench-installed.json"
_INSTALL_TIMEOUT = 600

#: key -> (label, command after the interpreter or a console script name)
PEER_FIGURES: dict[str, tuple[str, list[str]]] = {
    "g4f_import": ("gpt4free: `import g4f`", ["-c", "import g4f"]),
    "g4f_listing": (
        "gpt4free: list providers (`g4f.Provider.__all__`)",
        ["-c", "import g4f.Provider as p; print(len(p.__all__))"],
    ),
    "llm_models": ("llm: `llm models`", ["llm", "models"]),
    "litellm_import": ("LiteLLM: `import litellm`", ["-c", "import litellm"]),
}


def _bin(name: str) -> Path:
    return VENV / ("Scripts" if os.name == "nt" else "bin") / name


def ensure_venv() -> tuple[Path | None, str]:
    """The peers' interpreter, installing them on first use; (None, reason) when impossible."""
    py = _bin("python")
    if _MARK.exists() and py.exists():
        return py, ""
    log(f"peers: installing {', '.join(PACKAGES)} into {VENV} (once; kept for later runs)")
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(VENV)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PACKAGES],
            check=True,
            capture_output=True,
            timeout=_INSTALL_TIMEOUT,
        )
        listed = subprocess.run(
            [str(py), "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        text = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
        last = text.strip().splitlines()[-1:] or [type(exc).__name__]
        return None, f"pip install failed: {last[0][:200]}"
    versions = {p["name"].lower(): p["version"] for p in json.loads(listed)}
    _MARK.write_text(json.dumps({k: versions.get(k) for k in PACKAGES}))
    return py, ""


def run(bench: Bench) -> Section:
    cfg = bench.cfg
    section = Section(KEY, "Peers: start-up and listing of other tools (optional)")
    reason = "" if cfg.peers else "not run (--quick or --no-peers)"
    py: Path | None = None
    if not reason:
        py, reason = ensure_venv()
    if py is None or reason:
        for key, (label, _) in PEER_FIGURES.items():
            section.add(
                Figure(f"peers.{key}", f"{label} / `import requests`", None, "x", skipped=reason)
            )
        return section
    versions = json.loads(_MARK.read_text())
    with tempfile.TemporaryDirectory(prefix="g4f-bench-peers-") as tmp:
        env = clean_env(
            LITELLM_LOCAL_MODEL_COST_MAP="True",  # no download of a price list at import
            LLM_USER_PATH=str(Path(tmp) / "llm"),
        )
        commands: dict[str, list[str]] = {"requests": [str(py), "-c", "import requests"]}
        for key, (_, args) in PEER_FIGURES.items():
            commands[key] = [str(_bin(args[0])), *args[1:]] if args[0] != "-c" else [str(py), *args]
        usable: dict[str, list[str]] = {}
        failed: dict[str, str] = {}
        for key, cmd in commands.items():
            try:
                timed_run(cmd, cwd=Path(tmp), env=env)  # warm, and check it runs offline
                usable[key] = cmd
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                failed[key] = str(exc)[-200:]
        if "requests" not in usable:
            failed = {key: "`import requests` failed in the peers' environment" for key in commands}
            usable = {}
        log(f"peers: {len(usable)} commands x {cfg.peer_rounds} rounds")
        times: dict[str, list[float]] = {key: [] for key in usable}
        for index in range(cfg.peer_rounds):
            for key in rotated(list(usable), index):
                times[key].append(timed_run(usable[key], cwd=Path(tmp), env=env))
    for key, (label, _) in PEER_FIGURES.items():
        if key in failed:
            section.add(
                Figure(
                    f"peers.{key}", f"{label} / `import requests`", None, "x", skipped=failed[key]
                )
            )
            continue
        section.add(
            Figure(
                f"peers.{key}",
                f"{label} / `import requests`",
                Spread.of(ratios(times[key], times["requests"])),
                "x",
                note=f"{Spread.of(times[key]).median * 1e3:.0f} ms",
                fmt="{:.2f}",
            )
        )
    base_ms = Spread.of(times.get("requests", [0.0])).median * 1e3
    shown = ", ".join(f"{k} {v}" for k, v in versions.items() if v)
    section.notes.append(f"Versions: {shown}; `import requests` there: {base_ms:.0f} ms.")
    section.data = {"ms": {k: [t * 1e3 for t in v] for k, v in times.items()}, "versions": versions}
    return section
