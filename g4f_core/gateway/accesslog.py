"""One access-log line per request: who asked what route, how it ended, never what was said.

The line holds the method, the path (without its query string), the status, the
provider that answered, the attempts, the duration and the bytes sent. Prompts,
replies, model ids beyond the path and headers (the key) are never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["Record", "log"]

log = logging.getLogger("g4f_core.gateway.access")
log.addHandler(logging.NullHandler())


class Record:
    """What the line of one request will say, filled in as the request runs."""

    __slots__ = ("_done", "attempts", "bytes", "method", "path", "provider", "started", "status")

    def __init__(self, method: str, path: str) -> None:
        self.method = method
        self.path = path
        self.status = 0
        self.provider: str | None = None
        self.attempts = 0
        self.bytes = 0
        self.started = time.perf_counter()
        self._done = False

    def line(self) -> str:
        elapsed = time.perf_counter() - self.started
        return (
            f'"{self.method} {self.path}" {self.status} provider={self.provider or "-"} '
            f"attempts={self.attempts} duration={elapsed * 1000:.1f}ms bytes={self.bytes}"
        )

    def finish(self) -> None:
        if not self._done:
            self._done = True
            log.info("%s", self.line())


class Logged:
    """Wraps a WSGI body: counts what was sent, logs and runs ``on_close`` when closed."""

    def __init__(self, body: Iterable[bytes], record: Record, on_close: Any = None) -> None:
        self._body = body
        self._record = record
        self._on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        record = self._record
        for chunk in self._body:
            record.bytes += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            try:
                if self._on_close is not None:
                    self._on_close()
            finally:
                self._record.finish()
