"""Find installed distributions' entry points without importing importlib.metadata.

``importlib.metadata`` costs more to import (email, zipfile, pathlib, csv) than every
other part of ``g4f-core providers`` together, and listing providers should start
faster than importing ``requests``. Plugins are found the way importlib.metadata
finds them, in ``*.dist-info`` and ``*.egg-info`` folders of the ``sys.path``
directories, in path order; a zip file on the path is still searched with
importlib.metadata itself. Only what discovery needs is read: the entry points,
and the name and version of distributions that declare some.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple, Protocol

__all__ = ["Distribution", "EntryPoint", "FoundDistribution", "distributions"]


class EntryPoint(NamedTuple):
    name: str
    value: str
    group: str

    def load(self) -> Any:
        """Import ``module:attr.path`` (an ``[extras]`` suffix is ignored, as pip does)."""
        module, _, attr = self.value.partition("[")[0].partition(":")
        obj: Any = importlib.import_module(module.strip())
        for part in filter(None, attr.strip().split(".")):
            obj = getattr(obj, part)
        return obj


class Distribution(Protocol):
    """What discovery reads of a distribution (importlib.metadata's fit too)."""

    @property
    def metadata(self) -> Any: ...

    @property
    def version(self) -> str: ...

    @property
    def entry_points(self) -> Iterable[Any]: ...

    def read_text(self, filename: str) -> str | None: ...


class FoundDistribution:
    """A ``*.dist-info`` or ``*.egg-info`` folder."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._headers: dict[str, str] | None = None

    def read_text(self, filename: str) -> str | None:
        try:
            with open(os.path.join(self.path, filename), encoding="utf-8") as file:
                return file.read()
        except (OSError, UnicodeDecodeError):
            return None

    @property
    def metadata(self) -> dict[str, str]:
        """The first headers of METADATA (or PKG-INFO); the body is never read."""
        if self._headers is None:
            text = self.read_text("METADATA") or self.read_text("PKG-INFO") or ""
            headers: dict[str, str] = {}
            for line in text.splitlines():
                if not line.strip():
                    break
                key, sep, value = line.partition(":")
                if sep and key and not key[0].isspace():
                    headers.setdefault(key.strip(), value.strip())
            self._headers = headers
        return self._headers

    @property
    def version(self) -> str:
        return self.metadata.get("Version", "")

    @property
    def entry_points(self) -> list[EntryPoint]:
        points: list[EntryPoint] = []
        group = ""
        for raw in (self.read_text("entry_points.txt") or "").splitlines():
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("[") and line.endswith("]"):
                group = line[1:-1].strip()
                continue
            name, sep, value = line.partition("=")
            if sep and group:
                points.append(EntryPoint(name.strip(), value.strip(), group))
        return points


def distributions(paths: Iterable[str]) -> Iterator[Distribution]:
    """Every distribution found in ``paths``, in path order."""
    for entry in paths:
        if os.path.isdir(entry):
            try:
                names = os.listdir(entry)
            except OSError:
                continue
            for name in names:
                if name.endswith((".dist-info", ".egg-info")):
                    path = os.path.join(entry, name)
                    if os.path.isdir(path):
                        yield FoundDistribution(path)
        elif os.path.isfile(entry):  # a zip on sys.path: rare enough to pay the import
            from importlib import metadata

            yield from metadata.distributions(path=[entry])
