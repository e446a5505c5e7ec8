"""The async benchmark runs end to end (quick mode: proves the harness, measures nothing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(300)
def test_the_async_benchmark_prints_its_markdown_section() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.async_streams", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=True,
    )
    out = done.stdout
    assert out.startswith("## Async streams (`python -m bench.async_streams`)")
    for figure in ("async / sync throughput", "memory per open stream", "conversation deleted"):
        assert figure in out
    assert out.count("| ") > 40  # the table, every row filled
