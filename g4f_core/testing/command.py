"""``g4f-core check``: the conformance suite on installed providers, with a verdict.

Each run is recorded in the checks store, so ``g4f-core providers`` shows the last
outcome next to the declared ``working``: a live check doubles as a health probe.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import IO, Any

from g4f_core.errors import G4FError
from g4f_core.kit import checks as checks_store
from g4f_core.plugins.provider import ProviderInfo
from g4f_core.plugins.registry import Registry
from g4f_core.testing.report import Report
from g4f_core.testing.suite import run_conformance

__all__ = ["run_checks"]


def run_checks(
    registry: Registry,
    names: Sequence[str],
    *,
    emulator: bool,
    as_json: bool,
    stdout: IO[str],
    stderr: IO[str],
) -> bool:
    """Check each named provider (every installed one when none is named); True if all pass.

    A name that is unknown or failed to load counts as a failure, and so, when no name
    is given, does every plugin that failed to load.
    """
    targets: list[str | ProviderInfo] = list(names) if names else list(registry.providers())
    errors: list[dict[str, Any]] = []
    if not names:
        for failure in registry.failures():
            if not failure.error.startswith("name clash"):  # both providers are checked
                where = failure.distribution or "code"
                errors.append({"name": failure.name, "error": f"{where}: {failure.error}"})
    reports: list[Report] = []
    for target in targets:
        label = target if isinstance(target, str) else target.qualified_name
        try:
            report = run_conformance(target, emulator=emulator, registry=registry)
        except G4FError as exc:
            errors.append({"name": label, "error": str(exc)})
            continue
        reports.append(report)
        try:
            info = target if isinstance(target, ProviderInfo) else registry.get(target)
            checks_store.record(report, install=checks_store.install_of(info))
        except OSError as exc:
            print(f"warning: could not record the outcome: {exc}", file=stderr)
    passed = bool(reports or errors) and not errors and all(r.passed for r in reports)
    if as_json:
        data = {"passed": passed, "reports": [r.to_dict() for r in reports], "errors": errors}
        json.dump(data, stdout, indent=2, ensure_ascii=False)
        stdout.write("\n")
        return passed
    if not targets and not errors:
        print("no providers installed: nothing to check", file=stdout)
    blocks = [report.format() for report in reports]
    blocks += [f"{e['name']}: could not be checked: {e['error']}" for e in errors]
    print("\n\n".join(blocks), file=stdout)
    total = len(reports) + len(errors)
    if total > 1:
        good = sum(1 for r in reports if r.passed)
        print(f"\n{good} of {total} providers passed", file=stdout)
    return passed
