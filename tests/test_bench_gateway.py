"""``python -m bench.gateway --quick`` cannot rot: every figure comes out, with no errors.

Nothing here asserts a time or a ratio: the figures are for people, and machines are noisy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ROWS = (
    "| tokens/s, one 2,000-token stream",
    "| time to first token, raw HTTP client",
    "| time to first token, openai client",
    "| CPU per 16-token call",
    "| CPU per relayed token",
    "| 16 concurrent streams: TTFT p50 / p99",
    "| 16 concurrent streams: memory per stream",
    "| 16 concurrent streams: errors | 0 | 0 |",
)


def test_a_quick_gateway_benchmark_prints_every_figure_and_no_errors(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("G4F_CORE_")}
    result = subprocess.run(
        [sys.executable, "-m", "bench.gateway", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("## Gateway\n")
    for row in ROWS:
        assert row in result.stdout, row
