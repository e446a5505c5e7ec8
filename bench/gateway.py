"""The gateway against the library called directly, in the same run: ``python -m bench.gateway``.

Three processes: the H2o emulator (its own child, scripted replies), the gateway as users
run it (``g4f-core serve``, another child) and this one, which calls the library directly
and, alternately, the gateway through the official ``openai`` client. Prints one Markdown
section: tokens/s of one long stream, added time to first token, the gateway's CPU per
relayed token, and N concurrent streams (time to first token p50/p99, memory per
stream, errors). Self-contained: it needs only g4f-core, waitress and openai.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "Hello"
MODEL = "falcon-7b"
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Settings:
    tokens: int = 20_000
    rounds: int = 5
    ttft_calls: int = 40
    streams: int = 256
    stream_tokens: int = 100
    token_delay: float = 0.005


QUICK = Settings(tokens=2_000, rounds=1, ttft_calls=5, streams=16, stream_tokens=20)


# -- children -----------------------------------------------------------------------------------


def emulator_child() -> None:
    """Serve H2o's emulator; each stdin line ``{"tokens", "delay"}`` rescripts it."""
    from g4f_core_providers.h2o.server import H2oEmulator

    with H2oEmulator("127.0.0.1") as emu:
        print(json.dumps({"url": emu.url}), flush=True)
        for line in sys.stdin:
            order = json.loads(line)
            if order.get("stop"):
                break
            emu.faults.script = [f" w{i % 97}" for i in range(int(order["tokens"]))]
            emu.faults.token_delay = float(order.get("delay", 0.0))
            print('{"ok": true}', flush=True)


class Child:
    """A child process whose first stdout line says where it listens."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], pick: Callable[[str], str]):
        self.proc = subprocess.Popen(
            list(argv), cwd=ROOT, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.url = pick(self.proc.stdout.readline())

    def send(self, order: dict[str, Any]) -> None:
        stdin: IO[str] | None = self.proc.stdin
        assert stdin is not None and self.proc.stdout is not None
        stdin.write(json.dumps(order) + "\n")
        stdin.flush()
        self.proc.stdout.readline()

    def cpu(self) -> float:
        """User + system CPU seconds of the child so far (Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK

    def rss(self) -> int:
        return _rss(str(self.proc.pid))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("G4F_CORE_")}


def start(settings: Settings) -> tuple[Child, Child]:
    emu = Child([sys.executable, "-m", "bench.gateway", "--emulator-child"], _env(),
                lambda line: str(json.loads(line)["url"]))  # fmt: skip
    env = {**_env(), "G4F_CORE_H2O_URL": emu.url, "G4F_CORE_STATE_DIR": str(ROOT / ".bench-state")}
    limit = str(max(64, settings.streams + 8))
    gateway = Child(
        [sys.executable, "-m", "g4f_core", "serve", "--port", "0", "--max-streams", limit],
        env,
        lambda line: line.split()[4],
    )
    return emu, gateway


# -- the two callers ----------------------------------------------------------------------------


def direct(emu_url: str, tokens: int) -> tuple[str, float, float]:
    """(text, seconds to the first chunk, seconds in all) through ``g4f_core.stream``."""
    import g4f_core

    began = time.perf_counter()
    first = 0.0
    parts: list[str] = []
    with g4f_core.stream(PROMPT, provider="H2o", model=MODEL, base_url=emu_url,
                         max_new_tokens=tokens + 1) as chunks:  # fmt: skip
        for chunk in chunks:
            if not parts:
                first = time.perf_counter() - began
            parts.append(chunk)
    return "".join(parts), first, time.perf_counter() - began


def through(api: Any, tokens: int) -> tuple[str, float, float]:
    """The same call through the gateway with the official client."""
    began = time.perf_counter()
    first = 0.0
    parts: list[str] = []
    stream = api.chat.completions.create(
        model=f"H2o/{MODEL}", messages=[{"role": "user", "content": PROMPT}],
        stream=True, max_tokens=tokens + 1,
    )  # fmt: skip
    for chunk in stream:
        content = chunk.choices[0].delta.content if chunk.choices else None
        if content:
            if not parts:
                first = time.perf_counter() - began
            parts.append(content)
    return "".join(parts), first, time.perf_counter() - began


class RawCaller:
    """The same call over one kept-alive ``http.client`` connection: no client library cost."""

    def __init__(self, url: str) -> None:
        import http.client

        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=120)

    def __call__(self, tokens: int) -> tuple[str, float, float]:
        body = json.dumps({"model": f"H2o/{MODEL}", "stream": True, "max_tokens": tokens + 1,
                           "messages": [{"role": "user", "content": PROMPT}]})  # fmt: skip
        began = time.perf_counter()
        self.conn.request(
            "POST", "/v1/chat/completions", body, {"Content-Type": "application/json"}
        )
        response = self.conn.getresponse()
        first = 0.0
        data = b""
        while not data.endswith(b"data: [DONE]\n\n"):
            got = response.read1(1 << 16)
            if not got:
                raise AssertionError("the stream ended without [DONE]")
            if not first and b'"content"' in got:
                first = time.perf_counter() - began
            data += got
        response.read()
        text = "".join(
            json.loads(event[6:])["choices"][0]["delta"].get("content", "")
            for event in data.decode().split("\n\n")
            if event.startswith("data: {")
        )
        return text, first, time.perf_counter() - began


# -- the measurements ---------------------------------------------------------------------------


def throughput(emu: Child, gw: Child, api: Any, s: Settings) -> dict[str, float]:
    emu.send({"tokens": s.tokens})
    want = direct(emu.url, s.tokens)[0]
    assert through(api, s.tokens)[0] == want, "the gateway changed the text"
    rates: dict[str, list[float]] = {"direct": [], "gateway": []}
    cpu = {"direct": 0.0, "gateway": 0.0}
    for index in range(s.rounds):
        order = ("direct", "gateway") if index % 2 == 0 else ("gateway", "direct")
        for name in order:
            own, child = time.process_time(), gw.cpu()
            text, _, seconds = (
                direct(emu.url, s.tokens) if name == "direct" else through(api, s.tokens)
            )
            if text != want:
                raise AssertionError(f"{name}: the reply differs")
            rates[name].append(s.tokens / seconds)
            cpu[name] += time.process_time() - own if name == "direct" else gw.cpu() - child
    total = s.tokens * s.rounds
    return {
        "direct_rate": statistics.median(rates["direct"]),
        "gateway_rate": statistics.median(rates["gateway"]),
        "direct_cpu_ms": cpu["direct"] / total * 1e3,
        "gateway_cpu_ms": cpu["gateway"] / total * 1e3,
    }


def ttft(emu: Child, gw: Child, api: Any, raw: RawCaller, s: Settings) -> dict[str, float]:
    """Time to the first token of a 16-token reply, and the CPU each call costs its server."""
    emu.send({"tokens": 16})
    callers: dict[str, Callable[[int], tuple[str, float, float]]] = {
        "direct": lambda n: direct(emu.url, n),
        "raw": raw,
        "openai": lambda n: through(api, n),
    }
    firsts: dict[str, list[float]] = {name: [] for name in callers}
    cpu = dict.fromkeys(callers, 0.0)
    names = list(callers)
    for index in range(s.ttft_calls):
        for name in names[index % 3 :] + names[: index % 3]:
            own, child = time.process_time(), gw.cpu()
            firsts[name].append(callers[name](16)[1])
            cpu[name] += time.process_time() - own if name == "direct" else gw.cpu() - child
    ms = {name: statistics.median(values) * 1e3 for name, values in firsts.items()}
    best = {name: min(values) * 1e3 for name, values in firsts.items()}
    return {
        "direct_ttft_ms": ms["direct"],
        "raw_ttft_ms": ms["raw"],
        "openai_ttft_ms": ms["openai"],
        "added_ms": ms["raw"] - ms["direct"],
        "added_openai_ms": ms["openai"] - ms["direct"],
        "added_best_ms": best["raw"] - best["direct"],
        "direct_call_cpu_ms": cpu["direct"] / s.ttft_calls * 1e3,
        "gateway_call_cpu_ms": cpu["raw"] / s.ttft_calls * 1e3,
    }


def _crowd(n: int, call: Callable[[], tuple[str, float, float]]) -> tuple[list[float], int]:
    barrier = threading.Barrier(n)
    firsts: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        try:
            text, first, _ = call()
            if not text:
                raise AssertionError("empty reply")
            with lock:
                firsts.append(first)
        except Exception as exc:  # noqa: BLE001 - counted and reported, never hidden
            with lock:
                errors.append(type(exc).__name__)

    threads = [threading.Thread(target=one, daemon=True) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return firsts, len(errors) + (n - len(firsts) - len(errors))


def _rss(pid: str = "self") -> int:
    """Resident bytes of a process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Peak(threading.Thread):
    """Samples a resident-memory reading every 50 ms until stopped; keeps the highest."""

    def __init__(self, read: Callable[[], int]) -> None:
        super().__init__(daemon=True)
        self.read, self.peak, self.done = read, 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            self.peak = max(self.peak, self.read())

    def finish(self) -> int:
        self.done.set()
        self.join()
        return self.peak


def crowd(emu: Child, gw: Child, api: Any, s: Settings) -> dict[str, float]:
    emu.send({"tokens": s.stream_tokens, "delay": s.token_delay})
    result: dict[str, float] = {}
    calls: dict[str, Callable[[], tuple[str, float, float]]] = {
        "direct": lambda: direct(emu.url, s.stream_tokens),
        "gateway": lambda: through(api, s.stream_tokens),
    }
    for name, call in calls.items():
        read = _rss if name == "direct" else gw.rss
        idle = read()
        peak = Peak(read)
        peak.start()
        firsts, errors = _crowd(s.streams, call)
        top = peak.finish()
        q = statistics.quantiles(firsts, n=100) if len(firsts) > 1 else firsts * 99
        result[f"{name}_p50_ms"] = statistics.median(firsts) * 1e3 if firsts else float("nan")
        result[f"{name}_p99_ms"] = q[98] * 1e3 if firsts else float("nan")
        result[f"{name}_errors"] = errors
        result[f"{name}_mem_kib"] = max(0, top - idle) / s.streams / 1024
    return result


# -- the report ---------------------------------------------------------------------------------


def mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def markdown(s: Settings, t: dict[str, float], f: dict[str, float], c: dict[str, float]) -> str:
    ratio = t["gateway_rate"] / t["direct_rate"]
    load = f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "?"
    n = s.streams
    rows = [
        ("| figure | direct (library) | gateway (openai client) | ratio / difference | target |"),
        "| --- | --- | --- | --- | --- |",
        f"| tokens/s, one {s.tokens:,}-token stream (median of {s.rounds}) | "
        f"{t['direct_rate']:,.0f} | {t['gateway_rate']:,.0f} | {ratio:.2f}x | "
        f">= 0.5x: {mark(ratio >= 0.5)} |",
        f"| time to first token, raw HTTP client (median of {s.ttft_calls}) | "
        f"{f['direct_ttft_ms']:.2f} ms | {f['raw_ttft_ms']:.2f} ms | {f['added_ms']:+.2f} ms | "
        f"<= +2 ms: {mark(f['added_ms'] <= 2.0)} |",
        f"| time to first token, best of the same calls | | | {f['added_best_ms']:+.2f} ms | |",
        f"| time to first token, openai client (same calls) | {f['direct_ttft_ms']:.2f} ms | "
        f"{f['openai_ttft_ms']:.2f} ms | {f['added_openai_ms']:+.2f} ms | (client included) |",
        f"| CPU per 16-token call | {f['direct_call_cpu_ms']:.2f} ms (caller) | "
        f"{f['gateway_call_cpu_ms']:.2f} ms (gateway process) | | |",
        f"| CPU per relayed token | {t['direct_cpu_ms'] * 1e3:.1f} us (caller) | "
        f"{t['gateway_cpu_ms'] * 1e3:.1f} us (gateway process) | | "
        f"<= 0.1 ms: {mark(t['gateway_cpu_ms'] <= 0.1)} |",
        f"| {n} concurrent streams: TTFT p50 / p99 | {c['direct_p50_ms']:.0f} / "
        f"{c['direct_p99_ms']:.0f} ms | {c['gateway_p50_ms']:.0f} / {c['gateway_p99_ms']:.0f} ms "
        "| | |",
        f"| {n} concurrent streams: memory per stream | {c['direct_mem_kib']:.0f} KiB | "
        f"{c['gateway_mem_kib']:.0f} KiB | | |",
        f"| {n} concurrent streams: errors | {c['direct_errors']:.0f} | "
        f"{c['gateway_errors']:.0f} | | zero: {mark(c['gateway_errors'] == 0)} |",
    ]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    intro = (
        f"## Gateway\n\n`python -m bench.gateway` on {when}, load {load} at the end. "
        "The emulator, the gateway (`g4f-core serve`) and the callers run in "
        "three processes on loopback. Direct: `g4f_core.stream` in the caller's process. Gateway: "
        "the official `openai` client, `stream=True`, through `g4f-core serve`. Throughput uses "
        "the emulator writing one event per token; time to first token a 16-token reply, "
        "also through a raw HTTP client (one kept-alive `http.client` connection) to show the "
        "gateway's own share apart from the openai client's; the "
        f"concurrent streams {s.stream_tokens} tokens {s.token_delay * 1e3:g} ms apart. Memory per "
        "stream is the peak resident growth of the serving process (the caller's for direct) "
        "divided by the streams. CPU per token is the gateway process's whole CPU (provider, "
        "relay, HTTP) over the tokens it relayed; the caller's CPU for direct.\n"
    )
    return intro + "\n" + "\n".join(rows) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run: measures nothing")
    parser.add_argument("--emulator-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.emulator_child:
        emulator_child()
        return 0
    s = QUICK if args.quick else Settings()
    print(markdown(s, *measure(s)))
    return 0


def measure(s: Settings) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Throughput, time to first token and the crowd, against one emulator and gateway."""
    import openai

    emu, gw = start(s)
    try:
        with openai.OpenAI(base_url=f"{gw.url}/v1", api_key="none", max_retries=0,
                           timeout=120) as api:  # fmt: skip
            return (
                throughput(emu, gw, api, s),
                ttft(emu, gw, api, RawCaller(gw.url), s),
                crowd(emu, gw, api, s),
            )
    finally:
        gw.stop()
        emu.stop()


# -- the harness section (python -m bench --only gateway) --------------------------------------

KEY = "gateway"


def run(bench: Any) -> Any:
    """This measurement as a section of the full report (``bench/__init__.py``)."""
    from .common import Figure, Section, Spread, Target

    s = QUICK if bench.cfg.quick else Settings()
    t, f, c = measure(s)
    section = Section(KEY, "Gateway: the OpenAI-compatible HTTP API against the library")
    one = Spread.of([t["gateway_rate"] / t["direct_rate"]])
    figures = [
        ("gateway.throughput_ratio", "tokens/s of one stream, gateway (openai client) / direct",
         one, "x", Target(">=", 0.5)),
        ("gateway.added_ttft", "added time to first token, raw HTTP client, median",
         Spread.of([f["added_ms"]]), "ms", Target("<=", 2.0, "ms")),
        ("gateway.cpu_per_token", "gateway process CPU per relayed token",
         Spread.of([t["gateway_cpu_ms"]]), "ms", Target("<=", 0.1, "ms")),
        ("gateway.crowd_errors", f"errors over {s.streams} concurrent streams",
         Spread.of([c["gateway_errors"]]), "", Target("<=", 0.0, "")),
    ]  # fmt: skip
    for key, title, value, unit, target in figures:
        section.add(Figure(key, title, value, unit, target))
    section.notes.append(markdown(s, t, f, c).split("\n", 2)[2])
    return section


if __name__ == "__main__":
    sys.exit(main())
