"""The provider conformance suite: what every provider owes its callers, checked.

    from g4f_core.testing import run_conformance

    report = run_conformance("AcmeChat")            # against the provider's own emulator
    report = run_conformance("AcmeChat", emulator=False)   # against its live endpoint
    assert report.passed, report.format()

In a provider's own tests, :func:`g4f_core.testing.pytest_plugin.conformance_tests`
turns the checks into one pytest test each; ``g4f-core check`` runs them from the shell.
The checks are listed in :data:`CHECKS` and explained in CONTRIBUTING.md. Importing this
package imports neither pytest nor requests.
"""

from __future__ import annotations

from g4f_core.testing.report import CHECKS, Check, Report
from g4f_core.testing.suite import run_conformance

__all__ = ["CHECKS", "Check", "Report", "run_conformance"]
