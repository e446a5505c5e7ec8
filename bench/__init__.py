"""The benchmark harness of g4f-core: every figure as a ratio to a raw baseline, side by side.

One command runs everything, from the repository root with the project's own interpreter::

    python3 scripts/dev.py bench                            # full run -> docs/performance.md
    .venv/bin/python -m bench --out docs/performance.md     # the same, without the set-up
    .venv/bin/python -m bench --quick                       # smoke run, a few seconds
    .venv/bin/python -m bench --only throughput             # one section (repeatable)

Each figure compares g4f-core with a minimal client written for the comparison
(:mod:`bench.raw_client`: plain ``requests``, the same requests H2o sends), measured in the
same run against the benchmark server (:mod:`bench.server`, its own process, one write per
token event) in alternating order over several rounds; the report gives the median ratio
and its min-max spread, the targets with a pass/fail mark, the server-side request and
connection counts, and profiles of where the time goes.

Adding a section (an OpenAI-compatible provider against a raw ``requests`` client, 256
async streams, a gateway, ...) takes one module and one line:

1. Write ``bench/<name>.py`` with ``KEY = "<name>"`` and ``run(bench: Bench) -> Section``.
   ``bench.cfg`` holds the run's sizes (add yours to :class:`bench.common.Config`, with a
   small value in ``quick_mode``); ``bench.server`` starts the benchmark server on first
   use (a section needing another server starts and stops its own). Build the section
   from :class:`~bench.common.Figure` values: a :class:`~bench.common.Spread` over rounds,
   a :class:`~bench.common.Target` when the figure has one, contenders alternated with
   :func:`~bench.common.rotated`, and every contender checked for the reply it got.
2. Add the module to ``SECTIONS`` in ``bench/__main__.py``: its place there is its place
   in the report, and ``--only <name>`` selects it.
3. Name its graded figures in ``tests/test_bench_smoke.py`` so the quick run proves they
   are produced.
"""

from __future__ import annotations

__all__ = ["ROOT"]

from pathlib import Path

#: The repository root: the server process and the child measurements run from here.
ROOT = Path(__file__).resolve().parent.parent
