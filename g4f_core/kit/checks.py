"""The last ``g4f-core check`` outcome of each provider, kept for ``g4f-core providers``.

A live check doubles as a health probe, so ``providers`` shows its outcome and time next
to the declared ``working``. The record is one small JSON file, ``checks.json``, in
``$G4F_CORE_STATE_DIR`` or else the user cache directory (``$XDG_CACHE_HOME/g4f-core``,
``~/.cache/g4f-core``, ``~/Library/Caches/g4f-core`` on macOS, ``%LOCALAPPDATA%`` on
Windows). Reading it costs one file read and the standard library's ``json``, so the
listing stays fast; a missing or damaged file reads as "nothing recorded". Writes
replace the file atomically.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from g4f_core.testing.report import Report

__all__ = ["STATE_ENV", "cell", "load", "record", "store_path"]

STATE_ENV = "G4F_CORE_STATE_DIR"
_FILE = "checks.json"
_FORMAT = 1


def store_path(environ: Mapping[str, str] | None = None) -> str:
    """Where the records live (the file may not exist yet).

    Plain ``os.path``: pathlib would cost the listing more than reading the file.
    """
    env = os.environ if environ is None else environ
    explicit = env.get(STATE_ENV, "").strip()
    if explicit:
        return os.path.join(os.path.expanduser(explicit), _FILE)
    home = os.path.expanduser("~")
    if sys.platform == "win32":
        base = env.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
    elif sys.platform == "darwin":
        base = os.path.join(home, "Library", "Caches")
    else:
        base = env.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    return os.path.join(base, "g4f-core", _FILE)


def load(environ: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Every record by qualified provider name; {} when none could be read."""
    try:
        with open(store_path(environ), encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, ValueError):
        return {}
    checks = data.get("checks") if isinstance(data, dict) else None
    if not isinstance(checks, dict):
        return {}
    return {k: v for k, v in checks.items() if isinstance(k, str) and isinstance(v, dict)}


def record(
    report: Report, *, environ: Mapping[str, str] | None = None, now: float | None = None
) -> str:
    """Store ``report``'s outcome as the provider's last check; returns the file."""
    import contextlib
    import tempfile

    path = store_path(environ)
    key = f"{report.distribution}:{report.provider}" if report.distribution else report.provider
    records = load(environ)
    records[key] = {
        "outcome": "pass" if report.passed else "fail",
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "mode": report.mode,
        "passed": report.count("pass"),
        "failed": report.count("fail"),
        "skipped": report.count("skip"),
        "failed_checks": [c.name for c in report.failures],
        "version": report.version,
    }
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=".checks-", suffix=".json", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump({"format": _FORMAT, "checks": records}, out, indent=2, sort_keys=True)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return path


def cell(entry: Mapping[str, Any] | None) -> str:
    """One table cell: ``pass live 2025-06-01 12:00Z``, or ``-`` when never checked."""
    if not entry:
        return "-"
    at = str(entry.get("at", "?")).replace("T", " ")
    if len(at) == 20 and at.endswith("Z"):
        at = at[:16] + "Z"  # minutes are enough in a table
    return f"{entry.get('outcome', '?')} {entry.get('mode', '?')} {at}"
