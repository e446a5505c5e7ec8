"""The H2o emulator in its own process, driven by one JSON line per command on stdin.

A separate process keeps the server off the clients' interpreter lock and core, and lets
it report what it saw: TCP connections accepted, requests by kind, and its own CPU time.
``python -m bench.serve`` prints ``{"url": ...}`` and then answers each command line:

* ``{"op": "configure", "tokens": N, "bulk": true}``: reply with N scripted tokens
  (``null``: the default echo reply); bulk mode writes pre-built streams in 64 KiB chunks;
* ``{"op": "stats"}``: ``{"connections", "requests", "kinds", "cpu"}``, cumulative;
* ``{"op": "clear"}``: forget the request log (the counters keep counting);
* ``{"op": "stop"}``.
"""

from __future__ import annotations

import collections
import contextlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Any

from . import ROOT
from .common import clean_env

__all__ = ["EmulatorProcess", "ServerStats", "main"]


@dataclass(frozen=True)
class ServerStats:
    """Cumulative counters of the emulator; subtract two to get one measurement's share."""

    connections: int
    requests: int
    kinds: dict[str, int]
    cpu: float

    def __sub__(self, other: ServerStats) -> ServerStats:
        kinds = {k: v - other.kinds.get(k, 0) for k, v in self.kinds.items()}
        return ServerStats(
            self.connections - other.connections,
            self.requests - other.requests,
            {k: v for k, v in kinds.items() if v},
            self.cpu - other.cpu,
        )


class EmulatorProcess:
    """Start ``python -m bench.serve``; configure it and read its counters from here."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.serve"],
            cwd=ROOT,
            env=clean_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        first = self._read()
        self.url: str = first["url"]
        self.pid = self.proc.pid

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process exited")
        data: dict[str, Any] = json.loads(line)
        return data

    def _ask(self, **command: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def configure(self, tokens: int | None, *, bulk: bool = True) -> None:
        self._ask(op="configure", tokens=tokens, bulk=bulk)

    def stats(self) -> ServerStats:
        data = self._ask(op="stats")
        return ServerStats(data["connections"], data["requests"], data["kinds"], data["cpu"])

    def clear(self) -> None:
        self._ask(op="clear")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                self._ask(op="stop")
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _kind(method: str, path: str) -> str:
    if path == "/settings":
        return "settings"
    if path == "/conversation":
        return "conversation"
    if path.startswith("/conversation/"):
        return {"POST": "generate", "DELETE": "delete"}.get(method, method.lower())
    return "other"


def _reply(out: IO[str], data: dict[str, Any]) -> None:
    out.write(json.dumps(data) + "\n")
    out.flush()


def main() -> None:
    """Serve on 127.0.0.1 until stdin says stop or closes."""
    from g4f_core_providers.h2o.server import H2oEmulator

    from .protocol import tokens

    emulator = H2oEmulator("127.0.0.1")
    kinds: collections.Counter[str] = collections.Counter()
    seen = 0  # requests already counted into ``kinds``
    with emulator:
        _reply(sys.stdout, {"url": emulator.url})
        for line in sys.stdin:
            command = json.loads(line)
            op = command.get("op")
            log = emulator.requests
            fresh = log[seen:]
            kinds.update(_kind(r.method, r.path) for r in fresh)
            seen += len(fresh)
            if op == "configure":
                count = command.get("tokens")
                emulator.faults.script = None if count is None else tokens(int(count))
                emulator.faults.bulk = bool(command.get("bulk", True))
                _reply(sys.stdout, {"ok": True})
            elif op == "stats":
                data = {
                    "connections": emulator.connections_opened,
                    "requests": sum(kinds.values()),
                    "kinds": dict(kinds),
                    "cpu": time.process_time(),
                }
                _reply(sys.stdout, data)
            elif op == "clear":
                del log[:seen]
                seen = 0
                _reply(sys.stdout, {"ok": True})
            else:
                _reply(sys.stdout, {"ok": True})
                break


if __name__ == "__main__":
    main()
