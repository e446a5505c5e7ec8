"""The benchmark harness cannot rot: a quick run produces every figure, and its pieces agree.

Nothing here asserts a time or a ratio: CI machines are noisy and the figures are for people.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from g4f_core_providers.h2o.server import H2oEmulator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # bench/ runs from the checkout; it is not an installed package
    sys.path.insert(0, str(ROOT))

from bench import protocol  # noqa: E402 - importable only once the checkout is on sys.path
from bench.raw_client import RawClient  # noqa: E402
from bench.raw_socket import read_stream  # noqa: E402

#: Every figure of issue 5; graded ones must carry a verdict, peers may be skipped.
GRADED = (
    "throughput.ratio",
    "throughput.server_headroom",
    "ttft.ratio",
    "latency.ratio",
    "latency.connections",
    "concurrency.ratio",
    "concurrency.errors",
    "concurrency.connections",
    "startup.cli_ratio",
    "startup.import_ratio",
    "scale.growth_exponent",
    "scale.lookup_ratio",
    "memory.stream_growth",
    "memory.import_delta",
)
INFORMATIONAL = (
    "throughput.raw",
    "throughput.g4f",
    "throughput.socket",
    "throughput.per_event_ratio",
    "ttft.raw",
    "ttft.g4f",
    "latency.raw",
    "latency.raw+delete",
    "latency.g4f",
    "latency.ratio_same_requests",
    "latency.requests_per_call",
    "concurrency.raw",
    "concurrency.g4f",
    "startup.requests",
    "startup.cli",
    "startup.import",
    "startup.library_ratio",
    "startup.bare",
    "scale.discover_1",
    "scale.discover_100",
    "memory.stream_growth_raw",
    "memory.rss_deps",
    "memory.rss_import",
)
PEERS = ("peers.g4f_import", "peers.g4f_listing", "peers.llm_models", "peers.litellm_import")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, object], Path]:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--out",
            str(out / "performance.md"),
            "--json",
            str(out / "results.json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "targets met" in done.stdout
    return json.loads((out / "results.json").read_text()), out


def _figures(results: dict[str, object]) -> dict[str, dict[str, object]]:
    sections = results["sections"]
    assert isinstance(sections, list)
    return {fig["key"]: fig for section in sections for fig in section["figures"]}


def test_a_quick_run_grades_every_target(quick_run: tuple[dict[str, object], Path]) -> None:
    figures = _figures(quick_run[0])
    for key in GRADED:
        assert key in figures, key
        figure = figures[key]
        assert figure["value"] is not None, key
        assert figure["target"], key
        assert figure["mark"] in ("PASS", "FAIL"), key
        value = figure["value"]
        assert isinstance(value, dict)
        assert value["min"] <= value["median"] <= value["max"], key


def test_a_quick_run_reports_every_measurement(quick_run: tuple[dict[str, object], Path]) -> None:
    figures = _figures(quick_run[0])
    for key in INFORMATIONAL:
        assert key in figures and figures[key]["value"] is not None, key
    for key in PEERS:  # optional: measured when installable, else skipped with a reason
        assert key in figures, key
        assert figures[key]["value"] is not None or figures[key]["skipped"], key


def test_a_quick_run_counts_server_requests_and_profiles(
    quick_run: tuple[dict[str, object], Path],
) -> None:
    sections = {s["key"]: s for s in quick_run[0]["sections"]}  # type: ignore[attr-defined]
    latency = sections["latency"]["data"]["server"]
    for client in ("raw", "raw+delete", "g4f"):
        assert all(entry["requests"] > 0 for entry in latency[client]), client
    profiles = sections["profiles"]["data"]
    for workload in ("stream", "per_event", "calls", "threads"):
        assert profiles[workload]["g4f"] and profiles[workload]["raw"], workload
        assert len(profiles[workload]["framework"]) > 1, workload


def test_a_quick_run_writes_the_document_and_its_plot(
    quick_run: tuple[dict[str, object], Path],
) -> None:
    out = quick_run[1]
    text = (out / "performance.md").read_text()
    for heading in ("## Summary", "## Streaming throughput", "## What limits each figure"):
        assert heading in text
    assert "python -m bench" in text
    plots = [p for p in (out / "performance.png", out / "performance.svg") if p.exists()]
    assert plots and plots[0].stat().st_size > 0
    assert f"]({plots[0].name})" in text


# -- the pieces the figures rest on --------------------------------------------------------


@pytest.fixture
def emu() -> Iterator[H2oEmulator]:
    with H2oEmulator("127.0.0.1") as server:
        yield server


def _tokens(emu: H2oEmulator, count: int) -> list[str]:
    client = RawClient(emu.url)
    try:
        return list(client.stream(count))
    finally:
        client.close()


def test_bulk_mode_streams_exactly_what_per_event_mode_streams(emu: H2oEmulator) -> None:
    count = 300
    emu.faults.script = protocol.tokens(count)
    per_event = _tokens(emu, count)
    emu.faults.bulk = True
    built = _tokens(emu, count)
    cached = _tokens(emu, count)
    assert per_event == built == cached == protocol.tokens(count)
    generations = [r for r in emu.requests if r.method == "POST" and r.path.count("/") == 2]
    assert len(generations) == 3


def test_bulk_mode_steps_aside_for_timing_and_framing_faults(emu: H2oEmulator) -> None:
    emu.faults.script = protocol.tokens(20)
    emu.faults.bulk = True
    emu.faults.chunk_size = 7  # the per-event path honours it
    assert _tokens(emu, 20) == protocol.tokens(20)


@pytest.mark.parametrize(("bulk", "chunk_size"), [(True, None), (False, None), (False, 3)])
def test_the_raw_socket_reader_counts_every_token_event(
    emu: H2oEmulator, bulk: bool, chunk_size: int | None
) -> None:
    emu.faults.script = protocol.tokens(50)
    emu.faults.bulk = bulk
    emu.faults.chunk_size = chunk_size  # 3-byte chunks split "data:" across chunks
    assert read_stream(emu.url, 50) == 50


def test_the_baselines_send_what_h2o_sends() -> None:
    protocol.check_against_provider()
