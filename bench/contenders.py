"""The clients being compared, behind one shape: ``run(count)`` streams a reply and drains it.

Every run checks what it received (token count and characters), so a client cannot look
fast by dropping data, and records wall time, time to the first token and the process's
CPU time (user + system, every thread: the watchdog's too).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from .protocol import MODEL, PROMPT, max_new_tokens, reply_chars
from .raw_client import RawClient
from .raw_socket import read_stream

__all__ = ["Run", "g4f_run", "g4f_stream", "raw_run", "raw_socket_run", "timed_stream"]


@dataclass(frozen=True)
class Run:
    """One call: tokens delivered, wall seconds, seconds to the first token, CPU seconds."""

    tokens: int
    seconds: float
    first: float
    cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_per_token(self) -> float:
        return self.cpu / self.tokens if self.tokens else 0.0


def g4f_stream(url: str, count: int) -> Iterator[str]:
    """``g4f_core.stream`` through H2o, as a user would call it."""
    import g4f_core

    return g4f_core.stream(
        PROMPT, provider="H2o", model=MODEL, base_url=url, max_new_tokens=max_new_tokens(count)
    )


def timed_stream(make: Iterator[str], start: float, count: int, cpu: float = 0.0) -> Run:
    """Time a stream opened at ``start`` (perf_counter; ``cpu``: process_time) to its end."""
    first = 0.0
    tokens = chars = 0
    for chunk in make:
        if not tokens:
            first = time.perf_counter() - start
        tokens += 1
        chars += len(chunk)
    seconds = time.perf_counter() - start
    close = getattr(make, "close", None)
    if close is not None:
        close()
    used = time.process_time() - cpu
    if tokens != count or chars != reply_chars(count):
        raise AssertionError(f"expected {count} tokens, got {tokens} ({chars} characters)")
    return Run(tokens, seconds, first, used)


def g4f_run(url: str, count: int) -> Run:
    cpu, start = time.process_time(), time.perf_counter()
    return timed_stream(g4f_stream(url, count), start, count, cpu)


def raw_run(client: RawClient, count: int) -> Run:
    cpu, start = time.process_time(), time.perf_counter()
    return timed_stream(client.stream(count), start, count, cpu)


def raw_socket_run(url: str, count: int) -> Run:
    cpu, start = time.process_time(), time.perf_counter()
    tokens = read_stream(url, count)
    seconds = time.perf_counter() - start
    if tokens != count:
        raise AssertionError(f"raw socket: expected {count} token events, got {tokens}")
    return Run(tokens, seconds, seconds, time.process_time() - cpu)
