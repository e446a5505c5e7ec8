"""The last ``g4f-core check`` outcome of each provider, kept for ``g4f-core providers``.

A live check doubles as a health probe, so ``providers`` shows its outcome and time next
to the declared ``working``. Records live in ``checks/`` under ``$G4F_CORE_STATE_DIR`` or
else the user cache directory (``$XDG_CACHE_HOME/g4f-core``, ``~/.cache/g4f-core``,
``~/Library/Caches/g4f-core`` on macOS, ``%LOCALAPPDATA%`` on Windows), which every
install on the machine shares. So each record says which install it came from (where the
provider's code lives, and which Python ran it), and an install shows only its own: a
fresh clone never shows a "pass" it did not run.

One small JSON file per provider and install, written to a temporary file and renamed
into place: writers never read-modify-write a shared file, so processes recording at
once lose nothing, and a reader sees a whole record or none. Reading costs one file
open per listed provider and the standard library's ``json``; a missing or damaged file
reads as "nothing recorded".
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import zlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from g4f_core.plugins.provider import ProviderInfo
    from g4f_core.testing.report import Report

__all__ = ["STATE_ENV", "cell", "install_of", "load", "record", "records", "store_path"]

STATE_ENV = "G4F_CORE_STATE_DIR"
_FOLDER = "checks"
_FORMAT = 2


def store_path(environ: Mapping[str, str] | None = None) -> str:
    """The folder the records live in (it may not exist yet).

    Plain ``os.path``: pathlib would cost the listing more than reading the files.
    """
    env = os.environ if environ is None else environ
    explicit = env.get(STATE_ENV, "").strip()
    if explicit:
        return os.path.join(os.path.expanduser(explicit), _FOLDER)
    home = os.path.expanduser("~")
    if sys.platform == "win32":
        base = env.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
    elif sys.platform == "darwin":
        base = os.path.join(home, "Library", "Caches")
    else:
        base = env.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    return os.path.join(base, "g4f-core", _FOLDER)


def install_of(info: ProviderInfo) -> str:
    """Which install a provider is: the folder its code lives in, and the Python running it."""
    module = info.module
    file = getattr(module, "__file__", None) if module is not None else None
    if not isinstance(file, str):  # a provider object: the module that defines its class
        owner = sys.modules.get(getattr(type(module), "__module__", ""))
        file = getattr(owner, "__file__", None)
    where = os.path.dirname(os.path.realpath(file)) if isinstance(file, str) else "(no file)"
    return f"{where} (python {os.path.realpath(sys.prefix)})"


def _file(folder: str, key: str, install: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", key)[:80]
    return os.path.join(folder, f"{readable}-{zlib.crc32(install.encode()):08x}.json")


def _read(path: str) -> tuple[str, dict[str, Any]] | None:
    """(qualified provider name, record) from one file; None if missing or damaged."""
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        return None
    provider, entry = data.get("provider"), data.get("check")
    if not isinstance(provider, str) or not isinstance(entry, dict):
        return None
    return provider, entry


def load(
    providers: Iterable[ProviderInfo], environ: Mapping[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """This install's last record of each provider, by qualified name ({} when none)."""
    folder = store_path(environ)
    found: dict[str, dict[str, Any]] = {}
    for info in providers:
        install = install_of(info)
        read = _read(_file(folder, info.qualified_name, install))
        if (
            read is not None
            and read[0] == info.qualified_name
            and read[1].get("install") == install
        ):
            found[info.qualified_name] = read[1]
    return found


def records(environ: Mapping[str, str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Every record of every install, as (qualified provider name, record)."""
    folder = store_path(environ)
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    found = []
    for name in names:
        if name.endswith(".json") and not name.startswith("."):
            read = _read(os.path.join(folder, name))
            if read is not None:
                found.append(read)
    return found


def record(
    report: Report,
    *,
    install: str | None = None,
    environ: Mapping[str, str] | None = None,
    now: float | None = None,
) -> str:
    """Store ``report``'s outcome as the provider's last check in ``install``; returns the file.

    ``install`` (see :func:`install_of`) defaults to the running Python alone.
    """
    import contextlib
    import tempfile

    folder = store_path(environ)
    key = f"{report.distribution}:{report.provider}" if report.distribution else report.provider
    install = install or f"(python {os.path.realpath(sys.prefix)})"
    entry = {
        "outcome": "pass" if report.passed else "fail",
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "mode": report.mode,
        "passed": report.count("pass"),
        "failed": report.count("fail"),
        "skipped": report.count("skip"),
        "failed_checks": [c.name for c in report.failures],
        "version": report.version,
        "install": install,
    }
    os.makedirs(folder, exist_ok=True)
    path = _file(folder, key, install)
    handle, temp = tempfile.mkstemp(prefix=".check-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump({"format": _FORMAT, "provider": key, "check": entry}, out, indent=2)
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
