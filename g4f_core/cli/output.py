"""What every ``g4f-core`` command shares: where it writes, exit codes, tables."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import IO, Any

from g4f_core.options import Option
from g4f_core.plugins.provider import ProviderInfo
from g4f_core.plugins.registry import PluginFailure, Registry

__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_USAGE",
    "PORT",
    "Out",
    "SafeText",
    "as_flags",
    "printable",
    "providers_document",
    "source",
    "table",
    "yes",
]

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

#: ``--port`` of ``emulate`` and ``serve``, checked like every other number.
PORT = Option("port", int, 0, "TCP port; 0: a free one", ge=0, le=65535)

# C0 controls but tab and newline, DEL, C1 controls (U+009B is a CSI to many terminals), the
# bidirectional overrides and isolates (text that reads differently from what it is), and
# lone surrogates, which no terminal encoding can write.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if "\ud800" <= char <= "\udfff":
        return "\ufffd"
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def printable(text: str) -> str:
    """``text`` safe to write to a terminal: ESC, BEL and friends shown as ``\\x1b``.

    Upstream text (replies, error messages, plugin names) reaches the terminal through
    this, so a server cannot move the cursor, retitle the window or ring the bell, and
    a lone surrogate becomes U+FFFD instead of a UnicodeEncodeError.
    """
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


class SafeText:
    """A text stream that writes only :func:`printable` text (newlines and tabs stay)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(printable(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


_FLAGS = ("timeout", "deadline", "max_retries", "max_line_bytes", "max_reply_bytes", "base_url")
_PYTHON_NAME = re.compile(
    r"\boption '(" + "|".join(_FLAGS) + r")'|\b(" + "|".join(_FLAGS[:2]) + r")=(?![\w'])"
    r"|\b(" + "|".join(_FLAGS[2:]) + r")\b=?"
)


def as_flags(message: str) -> str:
    """A message naming Python options (``timeout=``) as the CLI flags (``--timeout``)."""

    def flag(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        equals = "=" if match.group().endswith("=") and match.group(3) else ""
        return "--" + name.replace("_", "-") + equals

    return _PYTHON_NAME.sub(flag, message)


class Out:
    """The registry a command reads and the streams it writes to (both :class:`SafeText`)."""

    def __init__(self, registry: Registry, stdout: IO[str], stderr: IO[str]) -> None:
        self.registry = registry
        self.stdout: IO[str] = SafeText(stdout)  # type: ignore[assignment]
        self.stderr: IO[str] = SafeText(stderr)  # type: ignore[assignment]

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
