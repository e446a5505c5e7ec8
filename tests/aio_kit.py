"""Helpers for the async API's tests: running coroutines, a fresh worker pool, outcomes.

Async tests are plain functions that call :func:`run` (``asyncio.run`` with a bound), so
no pytest plugin is needed. The ``fresh_workers`` fixture gives each test its own worker
pool and fails the test if a worker is still running a stream afterwards.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, TypeVar

import pytest

import g4f_core
from g4f_core.aio import workers as workers_module
from g4f_core.aio.workers import WorkerPool
from g4f_core.errors import G4FError, ProviderError
from g4f_core.plugins.registry import Registry

__all__ = [
    "EmulatorProcess",
    "Seen",
    "async_complete",
    "async_stream",
    "fresh_workers",
    "h2o_registry",
    "run",
    "sync_complete",
    "sync_stream",
    "wait_until",
]

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run ``coro`` on a new event loop, failing after ``timeout`` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(0.005)
    return True


@pytest.fixture
def fresh_workers() -> Iterator[WorkerPool]:
    """A pool of its own for the test (8 workers, idle ones retire after 0.5 s)."""
    pool = WorkerPool(8, idle_timeout=0.5)
    old = workers_module._set_pool(pool)
    try:
        yield pool
    finally:
        workers_module._set_pool(old)
    assert wait_until(lambda: not pool.running), "a worker is still running a stream"


def observed_registry(observer: object) -> Registry:
    """The installed providers, with ``observer``'s hooks registered as a plugin's would be."""
    registry = Registry([metadata.distribution("g4f-core")], environ={})
    registry.providers()  # discovery first: it starts the hooks afresh
    problem = registry._hooks.register(observer, "test:observer")
    assert problem is None, problem
    return registry


def h2o_registry() -> Registry:
    """This project's own distribution only (H2o), never the developer's other plugins."""
    return Registry([metadata.distribution("g4f-core")], environ={})


@dataclass
class Seen:
    """What a caller saw of one call: chunks, the error, and the stream's own report."""

    chunks: list[str]
    text: str | None = None
    provider: str | None = None
    error: tuple[str, str, str] | None = None  # class, message, partial_text
    attempts: list[tuple[str, str, str]] = field(default_factory=list)

    def failed(self, exc: G4FError) -> Seen:
        partial = exc.partial_text if isinstance(exc, ProviderError) else ""
        self.error = (type(exc).__name__, str(exc), partial)
        if isinstance(exc, ProviderError):
            self.attempts = [
                (a.provider, type(a.error).__name__, str(a.error)) for a in exc.attempts
            ]
        return self


def sync_stream(**call: Any) -> Seen:
    seen = Seen([])
    try:
        chunks = g4f_core.stream(**call)
        with chunks:
            for chunk in chunks:
                seen.chunks.append(chunk)
    except G4FError as exc:
        seen.failed(exc)
    else:
        seen.text, seen.provider = chunks.text, chunks.provider
    return seen


async def async_stream(**call: Any) -> Seen:
    seen = Seen([])
    try:
        chunks = g4f_core.astream(**call)
        async with chunks:
            async for chunk in chunks:
                seen.chunks.append(chunk)
    except G4FError as exc:
        seen.failed(exc)
    else:
        seen.text, seen.provider = chunks.text, chunks.provider
    return seen


def sync_complete(**call: Any) -> Seen:
    seen = Seen([])
    try:
        seen.chunks.append(g4f_core.complete(**call))
    except G4FError as exc:
        seen.failed(exc)
    return seen


async def async_complete(**call: Any) -> Seen:
    seen = Seen([])
    try:
        seen.chunks.append(await g4f_core.acomplete(**call))
    except G4FError as exc:
        seen.failed(exc)
    return seen


_SERVE = """
import json, sys
from g4f_core_providers.h2o.server import H2oEmulator
config = json.loads(sys.argv[1])
emulator = H2oEmulator()
for name, value in config.items():
    setattr(emulator.faults, name, value)
print(emulator.start(), flush=True)
sys.stdin.read()  # until the test closes our stdin
emulator.stop()
"""


class EmulatorProcess:
    """The H2o emulator in a process of its own: off this interpreter's lock, as a real
    upstream is. ``faults`` are :class:`Faults` fields, set before it starts."""

    def __init__(self, **faults: Any) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _SERVE, json.dumps(faults)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        self.url = self._proc.stdout.readline().strip()
        assert self.url.startswith("http://"), "the emulator process did not start"

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
