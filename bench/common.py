"""Shared pieces: run settings, spreads, figures with targets, timing and memory helpers.

Every target of the issue is a ratio measured side by side in one run, so the numbers kept
here are per-round values: a figure's spread is over rounds, never over a single sample.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

MiB = 1024 * 1024


@dataclass(frozen=True)
class Config:
    """How much work each section does; ``--quick`` shrinks everything for the smoke run."""

    quick: bool = False
    rounds: int = 9
    stream_tokens: int = 20_000
    ttft_calls: int = 30
    seq_calls: int = 200
    threads: int = 16
    thread_calls: int = 3
    thread_tokens: int = 2_000
    startup_rounds: int = 30  # also the rounds of the first-call processes
    scale_sizes: tuple[int, ...] = (1, 10, 100, 1000)
    scale_rounds: int = 3
    scale_lookups: int = 20_000
    memory_tokens: int = 100_000
    memory_rounds: int = 3
    profile_tokens: int = 20_000
    profile_calls: int = 100
    peers: bool = True
    peer_rounds: int = 3

    @classmethod
    def quick_mode(cls, *, peers: bool = False) -> Config:
        """Few iterations of everything: proves the harness works, measures nothing."""
        return cls(
            quick=True,
            rounds=2,
            stream_tokens=2_000,
            ttft_calls=3,
            seq_calls=10,
            threads=16,
            thread_calls=1,
            thread_tokens=100,
            startup_rounds=2,
            scale_sizes=(1, 10, 100),
            scale_rounds=1,
            scale_lookups=2_000,
            memory_tokens=5_000,
            memory_rounds=1,
            profile_tokens=1_000,
            profile_calls=5,
            peers=peers,
            peer_rounds=1,
        )


@dataclass(frozen=True)
class Spread:
    """Median and range of per-round values."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("a spread needs at least one value")
        return cls(statistics.median(values), min(values), max(values), len(values))

    def to_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high, "n": self.n}

    def show(self, fmt: str = "{:.3g}") -> str:
        if self.n == 1 or self.low == self.high:
            return fmt.format(self.median)
        return f"{fmt.format(self.median)} ({fmt.format(self.low)}-{fmt.format(self.high)})"


@dataclass(frozen=True)
class Target:
    """A bound from the issue: ``op`` is "<=" or ">=", checked on the median."""

    op: str
    bound: float
    unit: str = "x"

    def check(self, value: float) -> bool:
        return value <= self.bound if self.op == "<=" else value >= self.bound

    def show(self) -> str:
        sep = "" if self.unit in ("x", "") else " "
        return f"{'≤' if self.op == '<=' else '≥'} {self.bound:g}{sep}{self.unit}"


@dataclass
class Figure:
    """One reported number: a spread over rounds, and the target it answers to, if any."""

    key: str
    title: str
    value: Spread | None
    unit: str
    target: Target | None = None
    note: str = ""
    fmt: str = "{:.3g}"
    skipped: str = ""  # why there is no value (peers not installable, ...)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        if "pass" in self.extra:  # a target judged on more than the median (errors, bounds)
            return bool(self.extra["pass"])
        return self.target.check(self.value.median)

    def mark(self) -> str:
        verdict = self.passed
        if self.skipped:
            return "skipped"
        if verdict is None:
            return "info"
        return "PASS" if verdict else "FAIL"

    def shown(self) -> str:
        if self.value is None:
            return f"- ({self.skipped})" if self.skipped else "-"
        unit = "" if self.unit in ("", "x") else f" {self.unit}"
        suffix = "x" if self.unit == "x" else ""
        return f"{self.value.show(self.fmt)}{suffix}{unit}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "value": self.value.to_dict() if self.value else None,
            "unit": self.unit,
            "target": self.target.show() if self.target else None,
            "passed": self.passed,
            "mark": self.mark(),
            "note": self.note,
            "skipped": self.skipped,
            "extra": self.extra,
        }


@dataclass
class Section:
    """A part of the report: its figures, free-form notes and tables, and raw data."""

    key: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tables: list[tuple[str, list[list[str]]]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "figures": [f.to_dict() for f in self.figures],
            "notes": self.notes,
            "tables": [{"title": t, "rows": rows} for t, rows in self.tables],
            "data": self.data,
        }


def rotated(items: Sequence[T], shift: int) -> list[T]:
    """``items`` starting at ``shift``: each round starts with a different contender."""
    shift %= max(len(items), 1)
    return [*items[shift:], *items[:shift]]


def run_alternating(round_index: int, contenders: Mapping[str, Callable[[], T]]) -> dict[str, T]:
    """Run every contender once, in an order rotated by round, so drift spreads evenly."""
    results: dict[str, T] = {}
    for name in rotated(list(contenders), round_index):
        results[name] = contenders[name]()
    return results


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Per-round ratios: pairs measured in the same round are compared, never pooled."""
    return [n / d for n, d in zip(numerators, denominators, strict=True) if d > 0]


def rss_bytes() -> int | None:
    """Resident set size of this process now (Linux /proc), else None."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for child processes, without settings that change what is measured.

    G4F_CORE_* would change g4f-core's behaviour; PYTHONDONTWRITEBYTECODE would make an
    editable install recompile g4f-core on every start (an installed package has its
    byte-code compiled), which start-up figures must not charge to it.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("G4F_CORE_")}
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra)
    return env


def timed_run(
    cmd: Sequence[str | Path], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> float:
    """Wall seconds for one run of ``cmd`` (output discarded); raises if it fails."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
        timeout=120,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        shown = " ".join(str(c) for c in cmd)
        raise RuntimeError(f"{shown} exited {done.returncode}: {' | '.join(tail)}")
    return elapsed


def python() -> str:
    """The interpreter running the harness: the project's .venv when run as documented."""
    return sys.executable


def log(message: str) -> None:
    """Progress on stderr, so stdout stays the report."""
    print(message, file=sys.stderr, flush=True)
