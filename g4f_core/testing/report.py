"""The outcome of a conformance run: one :class:`Check` per rule, gathered in a :class:`Report`.

Records are plain frozen data so that the CLI, the pytest plugin and the checks store
read the same thing: ``to_dict()`` is the ``g4f-core check --json`` shape.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["CHECKS", "FAIL", "PASS", "SKIP", "Check", "Report"]

PASS, FAIL, SKIP = "pass", "fail", "skip"

#: Every check, in the order it runs: (name, what it verifies).
CHECKS: tuple[tuple[str, str], ...] = (
    ("declarations", "capabilities are declared and valid"),
    ("options", "params and options agree with _create_completion"),
    ("endpoint", "the emulator or live endpoint answers the provider"),
    ("streaming", "a streaming call yields str chunks as they arrive"),
    ("complete", "a non-streaming call returns the same text"),
    ("models", "every declared model answers"),
    ("bad-input", "bad input is refused before any I/O"),
    ("timeout", "timeout= bounds every wait"),
    ("upstream-errors", "upstream failures raise ProviderError subclasses"),
    ("early-stop", "an early-stopped stream releases its connection"),
)
TITLES = dict(CHECKS)


@attrs.frozen
class Check:
    """One rule's result: ``status`` is "pass", "fail" or "skip"; ``detail`` says why."""

    name: str
    status: str = attrs.field(validator=attrs.validators.in_((PASS, FAIL, SKIP)))
    detail: str = ""
    seconds: float = 0.0

    @property
    def title(self) -> str:
        return TITLES.get(self.name, self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
        }


@attrs.frozen
class Report:
    """Every check of one provider in one mode ("emulator" or "live")."""

    provider: str
    mode: str
    checks: tuple[Check, ...]
    target: str | None = None  # the URL the calls went to
    distribution: str | None = None
    version: str | None = None

    @property
    def passed(self) -> bool:
        """True when no check failed (skips do not fail a run)."""
        return bool(self.checks) and all(c.status != FAIL for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    def count(self, status: str) -> int:
        return sum(1 for c in self.checks if c.status == status)

    def get(self, name: str) -> Check:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"no check named {name!r} (checks: {', '.join(TITLES)})")

    @property
    def verdict(self) -> str:
        counts = f"{self.count(PASS)} passed, {self.count(FAIL)} failed, {self.count(SKIP)} skipped"
        return f"{'PASS' if self.passed else 'FAIL'} ({counts})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "distribution": self.distribution,
            "version": self.version,
            "mode": self.mode,
            "target": self.target,
            "passed": self.passed,
            "checks": [c.to_dict() for c in self.checks],
        }

    def format(self) -> str:
        """A per-check table and the verdict, as ``g4f-core check`` prints them."""
        version = f" {self.version}" if self.version else ""
        source = f" ({self.distribution}{version})" if self.distribution else ""
        where = "its emulator" if self.mode == "emulator" else "its live endpoint"
        head = f"{self.provider}{source} against {where}"
        if self.target:
            head += f" ({self.target})"
        rows = [("CHECK", "RESULT", "TIME", "DETAIL")] + [
            (c.name, c.status, f"{c.seconds:.2f}s", c.detail) for c in self.checks
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [head]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)]
            lines.append(("  " + "  ".join([*cells, row[3]])).rstrip())
        lines.append(f"verdict: {self.verdict}")
        return "\n".join(lines)
