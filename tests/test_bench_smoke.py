"""The benchmark harness cannot rot: a quick run produces every figure, and its pieces agree.

Nothing here asserts a time or a ratio: CI machines are noisy and the figures are for people.
What is asserted is what the figures rest on: the benchmark server writes one event per
HTTP chunk and the shipped emulator's bytes, the baseline sends H2o's requests, and the
socket reader counts every event.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

import pytest
import requests

import g4f_core
from g4f_core import Registry
from g4f_core_providers.h2o import _sessions
from g4f_core_providers.h2o.server import H2oEmulator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # bench/ runs from the checkout; it is not an installed package
    sys.path.insert(0, str(ROOT))

from bench import protocol  # noqa: E402 - importable only once the checkout is on sys.path
from bench.__main__ import SECTIONS  # noqa: E402
from bench.raw_client import RawClient  # noqa: E402
from bench.raw_socket import read_stream  # noqa: E402
from bench.server import BenchServer  # noqa: E402

#: Every graded figure; each must carry a verdict. Peers may be skipped.
GRADED = (
    "throughput.ratio",
    "throughput.server_headroom",
    "cpu.ratio",
    "ttft.ratio",
    "latency.ratio",
    "latency.connections",
    "concurrency.ratio",
    "concurrency.errors",
    "concurrency.connections",
    "startup.cli_ratio",
    "scale.growth_exponent",
    "scale.lookup_ratio",
    "memory.stream_growth",
)
INFORMATIONAL = (
    "throughput.raw",
    "throughput.g4f",
    "throughput.socket",
    "cpu.raw",
    "cpu.g4f",
    "ttft.raw",
    "ttft.g4f",
    "latency.raw",
    "latency.g4f",
    "latency.requests_per_call",
    "concurrency.raw",
    "concurrency.g4f",
    "concurrency.cpu_ratio",
    "memory.stream_growth_raw",
    "first_call.raw_ms",
    "first_call.g4f_ms",
    "first_call.raw_rss",
    "first_call.g4f_rss",
    "first_call.time_ratio",
    "first_call.rss_ratio",
    "startup.requests",
    "startup.cli",
    "startup.library_ratio",
    "startup.bare",
    "scale.discover_1",
    "scale.discover_100",
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
    for client in ("raw", "g4f"):
        assert all(entry["requests"] > 0 for entry in latency[client]), client
    profiles = sections["profiles"]["data"]
    for workload in ("stream", "calls", "threads"):
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
    for module in SECTIONS:  # every section says which command makes it
        assert f"python -m bench --only {module.KEY}`" in text, module.KEY
    assert "one event per token" in text
    plots = [p for p in (out / "performance.png", out / "performance.svg") if p.exists()]
    assert plots and plots[0].stat().st_size > 0
    assert f"]({plots[0].name})" in text


# -- the pieces the figures rest on --------------------------------------------------------


def test_every_section_is_registered_once_with_a_key_and_a_run() -> None:
    keys = [module.KEY for module in SECTIONS]
    assert len(keys) == len(set(keys))
    assert all(callable(module.run) for module in SECTIONS)
    assert {"throughput", "latency", "concurrency", "memory", "first_call"} <= set(keys)


@pytest.fixture
def bench_server() -> Iterator[BenchServer]:
    with BenchServer() as server:
        yield server


@pytest.fixture
def emu() -> Iterator[H2oEmulator]:
    with H2oEmulator("127.0.0.1") as server:
        yield server


def _chunks(url: str, count: int) -> list[bytes]:
    """The HTTP chunks of a generation's body, each as it was framed on the wire."""
    session = requests.Session()
    base = url.rstrip("/")
    headers = {"Accept": "*/*", "Referer": f"{base}/"}
    session.post(f"{base}/settings", data=protocol.SETTINGS_FORM, headers=headers)
    answer = session.post(
        f"{base}/conversation", json={"model": protocol.UPSTREAM}, headers=headers
    )
    path = f"{base}/conversation/{answer.json()['conversationId']}"
    with session.post(path, json=protocol.generate_body(count), headers=headers, stream=True) as r:
        assert r.headers["content-type"] == "text/event-stream"
        chunks = list(r.raw.read_chunked())  # urllib3 yields one item per HTTP chunk
    session.close()
    return chunks


def test_the_bench_server_writes_one_event_per_chunk_and_the_emulators_bytes(
    bench_server: BenchServer, emu: H2oEmulator
) -> None:
    count = 40
    emu.faults.script = protocol.tokens(count)
    ours, shipped = _chunks(bench_server.url, count), _chunks(emu.url, count)
    assert ours == shipped
    assert len(ours) == count + 1  # every token, then the end-of-sequence event
    for data in ours:
        assert data.startswith(b"data:") and data.endswith(b"\n\n") and data.count(b"\n") == 2


def test_the_raw_client_sends_exactly_the_requests_h2o_sends(
    bench_server: BenchServer, use_registry: Callable[[Registry], Registry]
) -> None:
    use_registry(Registry([metadata.distribution("g4f-core")], environ={}))
    _sessions.pop(bench_server.url, None)  # a session kept for an earlier server on this port

    def kinds_of(call: Callable[[], object]) -> dict[str, int]:
        before = dict(bench_server.kinds)
        call()
        after = dict(bench_server.kinds)
        return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}

    raw = RawClient(bench_server.url)
    h2o = {"provider": "H2o", "model": protocol.MODEL, "base_url": bench_server.url}
    limit = protocol.max_new_tokens(5)
    first = {"settings": 1, "conversation": 1, "generate": 1, "delete": 1}
    warm = {"conversation": 1, "generate": 1, "delete": 1}
    assert kinds_of(lambda: raw.complete(5)) == first
    assert kinds_of(lambda: raw.complete(5)) == warm
    assert (
        kinds_of(lambda: g4f_core.complete(protocol.PROMPT, max_new_tokens=limit, **h2o)) == first
    )
    assert kinds_of(lambda: g4f_core.complete(protocol.PROMPT, max_new_tokens=limit, **h2o)) == warm
    raw.close()


def test_the_raw_socket_reader_counts_every_token_event(bench_server: BenchServer) -> None:
    for count in (1, 50, 3000):
        assert read_stream(bench_server.url, count) == count


def test_the_baselines_send_what_h2o_sends() -> None:
    protocol.check_against_provider()
