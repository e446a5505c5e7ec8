"""The benchmark harness of g4f-core: every figure of issue 5 as a ratio to a raw baseline.

One command runs everything, from the repository root with the project's own interpreter::

    .venv/bin/python -m bench --out docs/performance.md    # full run, about 3 minutes
    .venv/bin/python -m bench --quick                      # smoke run, a few seconds

Each figure compares g4f-core with a minimal client written for the comparison
(:mod:`bench.raw_client`), measured side by side in the same run against the H2o emulator
on loopback (served from its own process by :mod:`bench.serve`), in alternating order over
several rounds; the report gives the median ratio and its min-max spread, the targets of
the issue with a pass/fail mark, the server-side request and connection counts, and
profiles of where the time goes.
"""

from __future__ import annotations

__all__ = ["ROOT"]

from pathlib import Path

#: The repository root: the emulator process and the child measurements run from here.
ROOT = Path(__file__).resolve().parent.parent
