"""bench/openai.py runs end to end and reports every figure (a smoke run: it measures nothing)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # bench/ runs from the checkout; it is not an installed package
    sys.path.insert(0, str(ROOT))

from bench import openai as bench_openai  # noqa: E402 - importable once the checkout is on sys.path


def test_the_openai_bench_reads_every_token_with_every_reader_and_reports() -> None:
    result = bench_openai.measure(tokens=300, rounds=1)
    assert set(result.rate) == {"raw", "g4f-core", "transport", "transport + parser", "socket"}
    assert all(len(values) == 1 and values[0] > 0 for values in result.rate.values())
    text = bench_openai.section(result, "python -m bench.openai --tokens 300 --rounds 1")
    assert text.startswith("## OpenAI-compatible provider: streaming throughput")
    assert "| g4f-core / raw `requests` client, tokens/s |" in text
    assert "| transport + parser |" in text
