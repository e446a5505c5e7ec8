"""Where providers come from: entry points, their distributions, and failed plugins."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from g4f_core.options import closest
from g4f_core.plugins.dists import Distribution
from g4f_core.plugins.marker import IMPL_MARK

__all__ = [
    "GROUP",
    "IMPL_MARK",
    "Origin",
    "PluginFailure",
    "Source",
    "canonical",
    "entry_points",
    "exception_text",
    "has_hooks",
    "hook_functions",
    "impl_options",
    "name_of",
    "not_found",
    "search_path",
]

GROUP = "g4f_core.providers"


@attrs.frozen
class Origin:
    """Where a provider was declared in configuration: a config file and, in it, a table.

    ``table`` is None for a problem with the whole file (it cannot be read or parsed).
    """

    file: str
    table: str | None = None

    def __str__(self) -> str:
        return f"{self.file} [{self.table}]" if self.table else self.file

    @property
    def short(self) -> str:
        """The file's base name and the table, for a table column."""
        name = os.path.basename(self.file)
        return f"{name} [{self.table}]" if self.table else name

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "table": self.table}


@attrs.frozen
class PluginFailure:
    """A plugin (or a config table) that did not load, with where it came from and why."""

    name: str
    entry_point: str | None
    distribution: str | None
    version: str | None
    error: str
    origin: Origin | None = None

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self, recurse=False)
        data["origin"] = self.origin.to_dict() if self.origin else None
        return data


@attrs.frozen
class Source:
    """Where a provider came from, for failures and provenance."""

    name: str
    entry_point: str | None = None
    distribution: str | None = None
    version: str | None = None
    origin: Origin | None = None

    def failure(self, error: str) -> PluginFailure:
        return PluginFailure(
            self.name, self.entry_point, self.distribution, self.version, error, self.origin
        )


def _folder_name(dist: Distribution) -> str | None:
    path = getattr(dist, "path", None) or getattr(dist, "_path", None)
    return os.path.basename(str(path)).split("-")[0] if path else None


def canonical(name: str) -> str:
    """A distribution name as pip compares it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def entry_points(dists: Iterable[Distribution]) -> Iterator[tuple[Any, Source]]:
    """Entry points of our group, first distribution of each name winning (as imports do)."""
    seen: set[str] = set()
    for dist in dists:
        text = dist.read_text("entry_points.txt")
        if not text or GROUP not in text:
            continue  # cheap test first: most distributions are not plugins
        # A METADATA without a Name (an interrupted install) must not stop discovery.
        dist_name = dist.metadata.get("Name") or _folder_name(dist) or "unknown"
        key = canonical(dist_name)
        if key in seen:
            continue
        seen.add(key)
        for ep in dist.entry_points:
            if ep.group == GROUP:
                yield ep, Source(ep.name, f"{ep.name} = {ep.value}", dist_name, dist.version)


def search_path() -> list[str]:
    """sys.path without the working directory that `python -c`/`-m` and the REPL put first.

    A stray *.dist-info in whatever folder the user stands in must not become a plugin.
    """
    try:
        cwd = os.getcwd()
    except OSError:  # the working directory was deleted
        cwd = ""
    return [
        p
        for i, p in enumerate(sys.path)
        if p and os.path.isabs(p) and not (i == 0 and os.path.normpath(p) == cwd)
    ]


def has_hooks(obj: object) -> bool:
    """Whether any of ``obj``'s own attributes is a hook implementation."""
    return bool(hook_functions(obj))


def hook_functions(obj: object) -> dict[str, Any]:
    """``obj``'s own attributes that are hook implementations, by name.

    Read statically: a module may hold lazy proxies whose attribute access imports an
    optional dependency (and raises without it); that is no reason to fail the plugin.
    """
    namespace = _own_dict(obj)
    if namespace is None:
        return {}
    return {
        name: value
        for name, value in list(namespace.items())
        if isinstance(name, str) and impl_options(value) is not None
    }


def impl_options(function: object) -> Any:
    """The options pluggy's marker set on ``function`` (``g4f_core_impl``), or None."""
    return (_own_dict(function) or {}).get(IMPL_MARK)


def _own_dict(obj: object) -> dict[str, Any] | None:
    """``obj.__dict__`` without running ``__getattr__``; None when there is no plain one.

    pluggy marks a hook implementation by setting an attribute on the function, so the
    mark is in the function's own ``__dict__``.
    """
    try:
        namespace = object.__getattribute__(obj, "__dict__")
    except Exception:  # noqa: BLE001 - no __dict__, or one that runs code and raises
        return None
    return namespace if type(namespace) is dict else None


def name_of(obj: object) -> str:
    """A plugin object's ``name`` or ``__name__`` (a plain str), else its type's name."""
    for attr in ("name", "__name__"):
        try:
            value = getattr(obj, attr, None)
        except Exception:  # noqa: BLE001 - plugin code; fall back to the type's name
            value = None
        if isinstance(value, str) and value:
            return str.__str__(value)
    return type(obj).__name__


def not_found(
    name: str, failures: Iterable[PluginFailure], disabled: set[str], providers: Iterable[Any]
) -> str:
    """Why no provider answers to ``name``: it failed to load, is disabled, or "did you mean"."""
    base = name.lower().rsplit(":", 1)[-1]
    for failure in failures:
        if failure.name.lower() == base and "name clash" not in failure.error:
            if failure.origin is not None:
                return f"provider {name!r} could not be made from the config file: {failure.error}"
            return (
                f"provider {name!r} is installed but failed to load: {failure.error} "
                f"(from {failure.distribution or 'code'}; run with G4F_CORE_STRICT=1 "
                "and G4F_CORE_DEBUG=1 to see the traceback)"
            )
    if base in disabled:
        return f"provider {name!r} is disabled by G4F_CORE_DISABLE"
    installed = list(providers)
    hint = closest(name, [p.name for p in installed] + [p.qualified_name for p in installed])
    suggestion = f"; did you mean {hint!r}?" if hint else ""
    known = ", ".join(sorted({p.name for p in installed})) or "none installed"
    return f"no provider named {name!r}{suggestion} (available: {known})"


_TEXT_LIMIT = 300


def exception_text(exc: BaseException) -> str:
    """``Type: message`` of a plugin's own failure, which may not even print."""
    try:
        text = " ".join(str(exc).split())
    except Exception:  # noqa: BLE001 - an exception whose __str__ raises still has a type
        text = "(its message could not be read)"
    if len(text) > _TEXT_LIMIT:
        text = text[: _TEXT_LIMIT - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
