"""What every section gets: the run's settings and, on first use, the benchmark server.

The server (:mod:`bench.server`) runs in a process of its own, so it never shares the
clients' interpreter lock or core, and reports what it saw: TCP connections accepted,
requests by kind, and its own CPU time.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from . import ROOT
from .common import Config, clean_env, log

__all__ = ["Bench", "ServerProcess", "ServerStats"]


@dataclass(frozen=True)
class ServerStats:
    """Cumulative counters of the server; subtract two to get one measurement's share."""

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


class ServerProcess:
    """``python -m bench.server`` as a child process, and its counters."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.server"],
            cwd=ROOT,
            env=clean_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url: str = self._read()["url"]
        self.pid = self.proc.pid

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the benchmark server exited")
        data: dict[str, Any] = json.loads(line)
        return data

    def stats(self) -> ServerStats:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": "stats"}) + "\n")
        self.proc.stdin.flush()
        data = self._read()
        return ServerStats(data["connections"], data["requests"], data["kinds"], data["cpu"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Bench:
    """One run: its settings, and the benchmark server, started when a section asks for it."""

    cfg: Config
    _server: ServerProcess | None = field(default=None, repr=False)

    @property
    def server(self) -> ServerProcess:
        if self._server is None:
            self._server = ServerProcess()
            log(f"server: {self._server.url} (pid {self._server.pid}), one write per event")
        return self._server

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
