"""Where providers come from: entry points, their distributions, and failed plugins."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

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
    attrs_of = getattr(obj, "__dict__", {})
    return any(hasattr(value, IMPL_MARK) for value in list(attrs_of.values()))


def exception_text(exc: BaseException) -> str:
    """``Type: message`` of a plugin's own failure (an import error, a raising hook)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
