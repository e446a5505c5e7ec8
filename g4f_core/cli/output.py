"""What every ``g4f-core`` command shares: where it writes, exit codes, tables."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import IO, Any

from g4f_core.plugins.provider import ProviderInfo
from g4f_core.plugins.registry import PluginFailure, Registry

__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_USAGE",
    "Out",
    "providers_document",
    "source",
    "table",
    "yes",
]

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class Out:
    """The registry a command reads and the streams it writes to."""

    def __init__(self, registry: Registry, stdout: IO[str], stderr: IO[str]) -> None:
        self.registry, self.stdout, self.stderr = registry, stdout, stderr

    def print(self, *parts: object) -> None:
        print(*parts, file=self.stdout)

    def json(self, data: object) -> None:
        json.dump(data, self.stdout, indent=2, ensure_ascii=False)
        self.stdout.write("\n")


def providers_document(
    found: Iterable[ProviderInfo],
    failed: Iterable[PluginFailure],
    checks: Mapping[str, Any],
) -> dict[str, Any]:
    """The shape of ``g4f-core providers --json``, also served as ``GET /v1/providers``."""
    return {
        "providers": [
            {**info.to_dict(), "last_check": checks.get(info.qualified_name)} for info in found
        ],
        "failures": [failure.to_dict() for failure in failed],
    }


def source(info: ProviderInfo) -> str:
    """The distribution (and version), and the config table the provider was made from."""
    if not info.distribution:
        where = "code"
    else:
        where = f"{info.distribution} {info.version}" if info.version else info.distribution
    return f"{where}, {info.origin.short}" if info.origin else where


def yes(flag: bool) -> str:
    return "yes" if flag else "no"


def table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
