"""The H2o emulator in a process of its own, timestamping what the async benchmark asks.

A separate process keeps the server off the clients' interpreter lock. It records, on the
machine-wide monotonic clock (``time.monotonic`` is ``CLOCK_MONOTONIC`` in every process),
when each request arrived and when each connection closed, so the benchmark can tell how
long after ``cancel()`` the server saw the stream end. One JSON line per command on stdin:

* ``{"op": "faults", ...}``: reset, then set these :class:`Faults` fields;
* ``{"op": "log"}``: ``{"requests": [[method, path, connection, at]], "closes": {id: at}}``
  since the last ``log``;
* ``{"op": "stop"}``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["AsyncBenchServer", "main"]

ROOT = Path(__file__).resolve().parent.parent


class AsyncBenchServer:
    """Start ``python -m bench.async_server``; configure it and read its log from here."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.async_server"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url: str = self._read()["url"]

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

    def faults(self, **fields: Any) -> None:
        self._ask(op="faults", **fields)

    def log(self) -> dict[str, Any]:
        return self._ask(op="log")

    def __enter__(self) -> AsyncBenchServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.proc.poll() is None:
            try:
                self._ask(op="stop")
                self.proc.wait(timeout=10)
            except (OSError, RuntimeError, ValueError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


def main() -> None:
    """Serve on 127.0.0.1 until stdin says stop or closes."""
    from g4f_core_providers.h2o.server import H2oEmulator

    emulator = H2oEmulator("127.0.0.1")
    lock = threading.Lock()
    requests: list[list[Any]] = []
    closes: dict[int, float] = {}
    state = emulator._state  # the benchmark's own stopwatch on the emulator's records
    record, closed = state.record, state.connection_closed

    def timed_record(request: Any) -> None:
        with lock:
            requests.append([request.method, request.path, request.connection, time.monotonic()])
        record(request)

    def timed_close(connection: int) -> None:
        with lock:
            closes[connection] = time.monotonic()
        closed(connection)

    state.record = timed_record  # type: ignore[method-assign]
    state.connection_closed = timed_close  # type: ignore[method-assign]
    with emulator:
        print(json.dumps({"url": emulator.url}), flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            op = command.pop("op", None)
            if op == "faults":
                emulator.reset()
                for name, value in command.items():
                    setattr(emulator.faults, name, value)
                answer: dict[str, Any] = {"ok": True}
            elif op == "log":
                with lock:
                    answer = {"requests": list(requests), "closes": dict(closes)}
                    requests.clear()
                    closes.clear()
                del emulator.requests[:]
            else:
                print(json.dumps({"ok": True}), flush=True)
                break
            print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
