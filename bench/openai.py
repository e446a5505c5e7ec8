"""Streaming throughput of the OpenAI-compatible provider against a raw ``requests`` client.

``python -m bench.openai [--tokens N] [--rounds R]`` prints a Markdown section. The
emulator runs in a process of its own with per-event framing (one chunked HTTP write
per token, as real servers flush them). Three readers take the same N-token stream,
interleaved round by round:

- **raw**: the smallest correct client a person would write with ``requests``:
  ``iter_content`` + split + ``json.loads`` + ``choices[0].delta.content``, no limits;
- **g4f-core**: ``g4f_core.stream`` through a provider configured in a config file;
- **socket**: a raw socket that only counts bytes, to show the emulator's headroom
  (it must drain the stream well faster than the raw client, or the server is what is
  measured);
- and, to say where g4f-core's time goes, **transport** (``g4f_core.Client.events``
  alone, counting events) and **transport + parser** (the provider's stream parser on
  top of it, without the call path: retries, accounting, the call's context).

Self-contained on purpose: the benchmark harness (``python -m bench``) can wire it in
as one more section by calling :func:`measure` and :func:`section`.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

__all__ = ["Result", "main", "measure", "section"]

TARGET = 0.9
_SERVE = (
    "import sys\n"
    "from g4f_core_providers.openai.server import OpenAIEmulator\n"
    "e = OpenAIEmulator('127.0.0.1', 0, models=['bench-model'])\n"
    "e.behaviour.reply_tokens = int(sys.argv[1])\n"
    "print(e.start(), flush=True)\n"
    "sys.stdin.read()\n"
    "e.stop()\n"
)


@dataclass(frozen=True)
class Result:
    """Per-round tokens per second and CPU seconds per token of each reader."""

    tokens: int
    rate: dict[str, list[float]]
    cpu: dict[str, list[float]]

    def ratio(self) -> list[float]:
        return [g / r for g, r in zip(self.rate["g4f-core"], self.rate["raw"], strict=True)]


class _Emulator:
    """The emulator in its own process, so that it never competes for this one's GIL."""

    def __init__(self, tokens: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERVE, str(tokens)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http"):
            raise RuntimeError("the emulator did not start")

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process.stdout.close()


BODY = {"model": "bench-model", "messages": [{"role": "user", "content": "Go"}], "stream": True}


def raw_reader(url: str) -> Callable[[], int]:
    session = requests.Session()

    def read() -> int:
        count = 0
        with session.post(f"{url}/chat/completions", json=BODY, stream=True) as response:
            response.raise_for_status()
            rest = b""
            for chunk in response.iter_content(chunk_size=65536):
                lines = (rest + chunk).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    if line.startswith(b"data: ") and line != b"data: [DONE]":
                        choices = json.loads(line[6:])["choices"]
                        if choices and choices[0]["delta"].get("content"):
                            count += 1
        return count

    return read


def g4f_reader(url: str, folder: str) -> Callable[[], int]:
    """``g4f_core.stream`` as a user calls it, over a registry reading a config file."""
    from importlib import metadata

    from g4f_core import Registry, stream

    config = Path(folder) / "g4f-core.toml"
    config.write_text(
        f'[providers.Bench]\nprotocol = "openai"\nbase_url = "{url}"\nmodels = ["bench-model"]\n',
        encoding="utf-8",
    )
    registry = Registry(
        [metadata.distribution("g4f-core")], environ={"G4F_CORE_CONFIG": str(config)}
    )

    def read() -> int:
        count = 0
        with stream("Go", provider="Bench", registry=registry) as chunks:
            for _ in chunks:
                count += 1
        return count

    return read


def transport_reader(url: str, *, parse: bool) -> Callable[[], int]:
    from g4f_core import CallContext, Client
    from g4f_core_providers.openai._wire import _events

    def read() -> int:
        context = CallContext.build("Bench", url, {})
        with Client(context) as http:
            response = http.request("POST", "/chat/completions", json=BODY, stream=True)
            if parse:
                return sum(1 for _ in _events(http, response))
            return sum(1 for data in http.events(response) if data != "[DONE]") - 2

    return read


def socket_reader(url: str) -> Callable[[], int]:
    parts = urlsplit(url)
    body = json.dumps(BODY).encode()
    head = (
        f"POST {parts.path}/chat/completions HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()

    def read() -> int:
        with socket.create_connection((parts.hostname or "", parts.port or 80)) as sock:
            sock.sendall(head + body)
            tail = b""
            while not tail.endswith(b"0\r\n\r\n"):
                data = sock.recv(1 << 16)
                if not data:
                    break
                tail = (tail + data)[-16:]
        return 0

    return read


def measure(tokens: int = 20_000, rounds: int = 5) -> Result:
    """Each reader takes the whole stream ``rounds`` times, interleaved, after a warm-up."""
    emulator = _Emulator(tokens)
    try:
        with tempfile.TemporaryDirectory() as folder:
            readers = {
                "raw": raw_reader(emulator.url),
                "g4f-core": g4f_reader(emulator.url, folder),
                "transport": transport_reader(emulator.url, parse=False),
                "transport + parser": transport_reader(emulator.url, parse=True),
                "socket": socket_reader(emulator.url),
            }
            for read in readers.values():
                read()
            rate: dict[str, list[float]] = {name: [] for name in readers}
            cpu: dict[str, list[float]] = {name: [] for name in readers}
            for index in range(rounds):
                order = list(readers)
                order = order[index % len(order) :] + order[: index % len(order)]
                for name in order:
                    got, seconds, used = _timed(readers[name])
                    if name != "socket" and got != tokens:
                        raise RuntimeError(f"{name} read {got} tokens, not {tokens}")
                    rate[name].append(tokens / seconds)
                    cpu[name].append(used / tokens)
    finally:
        emulator.close()
    return Result(tokens, rate, cpu)


def _timed(read: Callable[[], int]) -> tuple[int, float, float]:
    cpu, start = time.process_time(), time.perf_counter()
    got = read()
    return got, time.perf_counter() - start, time.process_time() - cpu


def _spread(values: Sequence[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def section(result: Result, command: str) -> str:
    """The Markdown section for docs/performance.md."""
    ratio = result.ratio()
    verdict = "**PASS**" if statistics.median(ratio) >= TARGET else "**FAIL**"
    headroom = statistics.median(result.rate["socket"]) / statistics.median(result.rate["raw"])
    cpu_ratio = [g / r for g, r in zip(result.cpu["g4f-core"], result.cpu["raw"], strict=True)]
    rows = [
        "## OpenAI-compatible provider: streaming throughput",
        "",
        f"`{command}`: a {result.tokens:,}-token reply from the provider's emulator in its own "
        "process, one chunked HTTP write per event (per-event framing); each reader takes it "
        f"{len(ratio)} times, interleaved. Median (min-max) over rounds.",
        "",
        "| figure | value | target | verdict |",
        "| --- | --- | --- | --- |",
        f"| g4f-core / raw `requests` client, tokens/s | {_spread(ratio, '.2f')}x "
        f"| >= {TARGET}x | {verdict} |",
        f"| raw `requests` client | {_spread(result.rate['raw'], ',.0f')} tokens/s | | info |",
        f"| g4f-core | {_spread(result.rate['g4f-core'], ',.0f')} tokens/s | | info |",
        f"| raw socket reader (server headroom) | {_spread(result.rate['socket'], ',.0f')} "
        f"tokens/s, {headroom:.1f}x the raw client | >= 2x | "
        f"{'**PASS**' if headroom >= 2 else '**FAIL**'} |",
        f"| CPU per token, g4f-core / raw client | {_spread(cpu_ratio, '.2f')}x "
        f"({statistics.median(result.cpu['g4f-core']) * 1e6:.1f} vs "
        f"{statistics.median(result.cpu['raw']) * 1e6:.1f} us) | | info |",
        "",
        "Where g4f-core's CPU per token goes (median us per token, each layer includes the "
        "ones above it):",
        "",
        "| reader | CPU per token | tokens/s |",
        "| --- | --- | --- |",
    ]
    for name in ("raw", "transport", "transport + parser", "g4f-core"):
        rows.append(
            f"| {name} | {statistics.median(result.cpu[name]) * 1e6:.1f} us "
            f"| {statistics.median(result.rate[name]):,.0f} |"
        )
    rows.append("")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.openai", description=__doc__)
    parser.add_argument("--tokens", type=int, default=20_000, help="tokens per reply")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per reader")
    args = parser.parse_args(argv)
    result = measure(args.tokens, args.rounds)
    command = "python -m bench.openai" + (
        f" --tokens {args.tokens} --rounds {args.rounds}" if argv else ""
    )
    print(section(result, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# -- the harness section (python -m bench --only openai) ---------------------------------------

KEY = "openai"


def run(bench: Any) -> Any:
    """This measurement as a section of the full report (``bench/__init__.py``)."""
    from .common import Figure, Section, Spread, Target

    tokens, rounds = (2_000, 2) if bench.cfg.quick else (20_000, 5)
    result = measure(tokens, rounds)
    cpu = [g / r for g, r in zip(result.cpu["g4f-core"], result.cpu["raw"], strict=True)]
    headroom = [s / r for s, r in zip(result.rate["socket"], result.rate["raw"], strict=True)]
    section = Section(KEY, "OpenAI-compatible provider: streaming throughput")
    section.add(
        Figure(
            "openai.throughput_ratio",
            "tokens/s through the provider / a raw requests client of the same protocol",
            Spread.of(result.ratio()),
            "x",
            Target(">=", TARGET),
        )
    )
    section.add(
        Figure(
            "openai.headroom",
            "raw socket reader / raw requests client (the emulator is not the bottleneck)",
            Spread.of(headroom),
            "x",
            Target(">=", 2.0),
        )
    )
    section.add(Figure("openai.cpu_ratio", "CPU per token, g4f-core / raw", Spread.of(cpu), "x"))
    section.notes.append(
        f"A {tokens:,}-token reply from the provider's emulator in its own process, one "
        f"chunked HTTP write per event; each reader takes it {rounds} times, interleaved. "
        "Median (min-max) over rounds. Also `python -m bench.openai` alone."
    )
    section.tables.append(
        (
            "Where the CPU per token goes (each layer includes the ones above it)",
            [["reader", "CPU per token", "tokens/s"]]
            + [
                [
                    name,
                    f"{statistics.median(result.cpu[name]) * 1e6:.1f} us",
                    f"{statistics.median(result.rate[name]):,.0f}",
                ]
                for name in ("raw", "transport", "transport + parser", "g4f-core")
            ],
        )
    )
    return section
