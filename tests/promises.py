"""Figures for the reliability promises P1-P16, recorded by the fault tests.

A test asks for the ``promise`` fixture and records what it measured::

    from promises import Promises, promise_fixture  # noqa: F401  (registers `promise`)

    def test_x(promise: Promises) -> None:
        rec = promise("P1").record("F14 stall after two tokens", limit_s=0.5)
        ...
        rec.update(overrun_ms=overrun * 1000)

Records are written when the test ends, each with ``passed``: true only if the test
passed (a failing or ``xfail`` test counts as not passed, whatever it recorded). Nothing
is written unless the environment variable ``G4F_RELIABILITY_LOG`` names a file; then
every record is appended to it as one JSON line. ``scripts/reliability.py`` sets it, runs
the fault suite and turns the lines into ``docs/reliability.md``. A record may carry its
own ``passed=``; it then counts only if that is true as well.

Helpers for the usual figures: :func:`consume` runs a call and keeps what the caller saw;
:func:`fault` (P2: the error's type), :func:`hang` (P1: the overrun of a limit),
:func:`released` (P4: the server saw the connection end) and :func:`all_released` (P4:
after :func:`drain_pool`, the server sees every connection of the call closed).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from g4f_core.errors import G4FError

__all__ = [
    "ENV",
    "PROMISES",
    "Outcome",
    "Promise",
    "Promises",
    "Record",
    "all_released",
    "consume",
    "drain_pool",
    "fault",
    "hang",
    "phase",
    "promise_fixture",
    "released",
]

ENV = "G4F_RELIABILITY_LOG"
PROMISES = tuple(f"P{n}" for n in range(1, 17))
_write_lock = threading.Lock()


class Record(dict[str, Any]):
    """One scenario's figures; a dict a test may keep updating until it ends."""


class Promise:
    """The records one test makes for one promise."""

    def __init__(self, name: str, sink: list[Record]) -> None:
        if name not in PROMISES:
            raise ValueError(f"unknown promise {name!r}; expected one of {', '.join(PROMISES)}")
        self.name = name
        self._sink = sink

    def record(self, scenario: str, **figures: Any) -> Record:
        """Start a record for ``scenario``; update the returned dict as figures arrive."""
        rec = Record(promise=self.name, scenario=scenario, **figures)
        self._sink.append(rec)
        return rec


Promises = Callable[[str], Promise]


def _outcome(request: pytest.FixtureRequest, failed_before: int) -> tuple[str, str | None]:
    if request.session.testsfailed > failed_before:
        return "failed", None
    marker = request.node.get_closest_marker("xfail")
    if marker is not None:
        return "xfail", str(marker.kwargs.get("reason", ""))
    return "passed", None


@pytest.fixture(name="promise")
def promise_fixture(request: pytest.FixtureRequest) -> Iterator[Promises]:
    """``promise("P4").record(scenario, **figures)``: figures for docs/reliability.md."""
    path = os.environ.get(ENV, "")
    records: list[Record] = []
    failed_before = request.session.testsfailed

    def get(name: str) -> Promise:
        return Promise(name, records)

    yield get
    if not path or not records:
        return
    # The call phase has been reported by now, so a failed test has been counted.
    outcome, reason = _outcome(request, failed_before)
    lines = []
    for rec in records:
        explicit = rec.get("passed", True)
        row = {
            **rec,
            "test": request.node.nodeid,
            "outcome": outcome,
            "passed": bool(explicit) and outcome == "passed",
        }
        if reason:
            row["xfail_reason"] = reason
        lines.append(json.dumps(row, default=str, sort_keys=True))
    with _write_lock, open(path, "a", encoding="utf-8") as sink:
        sink.write("\n".join(lines) + "\n")


# -- measuring a call -------------------------------------------------------------------


@dataclass
class Outcome:
    """What a caller saw: the chunks, the error (if any), and when it reached the caller."""

    chunks: list[str] = field(default_factory=list)
    error: BaseException | None = None
    elapsed: float = 0.0
    ended_at: float = 0.0  # time.monotonic() when the call returned or raised

    @property
    def text(self) -> str:
        return "".join(self.chunks)


def consume(start: Callable[[], Iterable[str]]) -> Outcome:
    """Run ``start()`` and read every chunk, catching any ``Exception`` it raises."""
    out = Outcome()
    began = time.monotonic()
    try:
        for piece in start():
            out.chunks.append(piece)
    except Exception as exc:  # noqa: BLE001 - the error is what the test examines
        out.error = exc
    out.ended_at = time.monotonic()
    out.elapsed = out.ended_at - began
    return out


def fault(
    promises: Promises, row: str, error: BaseException | None, expected: type[BaseException]
) -> Record:
    """P2: which error a fault row raised, and whether a raw library exception leaked."""
    return promises("P2").record(
        row,
        error=type(error).__name__ if error is not None else None,
        expected=expected.__name__,
        typed=isinstance(error, expected),
        leaked=error is not None and not isinstance(error, G4FError),
        passed=isinstance(error, expected),
    )


def hang(promises: Promises, scenario: str, limit: float, elapsed: float) -> float:
    """P1: how far past its limit a call ran; returns the overrun in seconds (0 if none)."""
    overrun = max(0.0, elapsed - limit)
    promises("P1").record(
        scenario,
        limit_s=round(limit, 3),
        elapsed_s=round(elapsed, 3),
        overrun_ms=round(overrun * 1000, 1),
    )
    return overrun


def phase(promises: Promises, scenario: str, limit: float, elapsed: float) -> float:
    """P14: how far past its deadline a call ran with one phase misbehaving (0 if none)."""
    overrun = max(0.0, elapsed - limit)
    promises("P14").record(
        scenario,
        limit_s=round(limit, 3),
        elapsed_s=round(elapsed, 3),
        overrun_ms=round(overrun * 1000, 1),
    )
    return overrun


def released(
    promises: Promises,
    scenario: str,
    wait: Callable[[float], bool],
    since: float,
    within: float = 1.0,
) -> bool:
    """P4: whether the server saw the connection closed within ``within`` s of ``since``."""
    closed = wait(within)
    latency = max(0.0, time.monotonic() - since) if closed else None
    promises("P4").record(
        scenario,
        closed=closed,
        latency_ms=None if latency is None else round(latency * 1000, 1),
        passed=closed,
    )
    return closed


def drain_pool() -> None:
    """Close the idle keep-alive connections of g4f-core's process-wide pool.

    A connection still checked out by a response nobody closed is not idle, so it stays
    open: after a drain, a server that still sees an open connection has found a leak.
    """
    from g4f_core.transport import pool

    adapter = pool._adapter
    if adapter is None:
        return
    pools = adapter.poolmanager.pools
    for key in list(pools.keys()):
        pool = pools.get(key)
        if pool is not None:
            pool.close()  # urllib3 2.x only closes a dropped pool once it is collected
    adapter.close()


def all_released(promises: Promises, scenario: str, wait_all: Callable[[float], bool]) -> bool:
    """P4: after draining the pool, the server sees every connection of the call closed."""
    drain_pool()
    return released(promises, scenario, wait_all, time.monotonic())
