"""The client side of a relayed call: a whole ``chat.completion``, or its chunk events.

The first chunk is awaited before the status line is sent, so a failure before any text
gets a real status. A stream then sends every chunk already buffered as one
``chat.completion.chunk`` event in one write (the first event's delta carries the role,
the last chunk the ``finish_reason``, then ``data: [DONE]``); a failure after text is
one ``data: {"error": ...}`` event that ends the stream. While the upstream is silent a
``: keep-alive`` comment goes out every ``keepalive`` seconds, and every ``poll``
seconds the server asks whether the client is still there; if it left, the upstream is
closed.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from g4f_core.errors import G4FError
from g4f_core.gateway.config import GatewayConfig
from g4f_core.gateway.errors import WireError, from_library, internal
from g4f_core.gateway.pump import Batch, Pump

__all__ = [
    "Disconnected",
    "SSEBody",
    "completion",
    "error_of",
    "first_batch",
    "new_id",
    "whole",
]

Disconnected = Callable[[], bool]
KEEPALIVE = b": keep-alive\n\n"
_DONE = b"data: [DONE]\n\n"


def never() -> bool:
    return False


class _Ids:
    """Ids need to be unique, not secret: a random prefix per process and a counter
    (``os.urandom`` per request cost 0.1 ms under load). A fork gets a prefix of its own."""

    def __init__(self) -> None:
        self.reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = os.urandom(6).hex()
        self.count = itertools.count()

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.count):08x}"


new_id = _Ids()


def error_of(error: BaseException) -> WireError:
    return from_library(error) if isinstance(error, G4FError) else internal()


def first_batch(pump: Pump, config: GatewayConfig, gone: Disconnected) -> Batch | None:
    """The first chunks (or the end); None if the client left while we waited.

    After ``first_chunk_wait`` seconds without one, an empty batch: the caller commits
    to a 200 and keeps the connection alive with comments from then on.
    """
    limit = time.monotonic() + config.first_chunk_wait
    while True:
        batch = pump.take(config.poll)
        if batch.chunks or batch.done:
            return batch
        if gone():
            pump.cancel()
            return None
        if time.monotonic() >= limit:
            return batch


def whole(pump: Pump, first: Batch, config: GatewayConfig, gone: Disconnected) -> str | None:
    """Every chunk of a non-streamed call joined; raises its error; None if the client left."""
    parts = list(first.chunks)
    batch = first
    while not batch.done:
        batch = pump.take(config.poll)
        parts += batch.chunks
        if not batch.done and not batch.chunks and gone():
            pump.cancel()
            return None
    if batch.error is not None:
        raise error_of(batch.error)
    return "".join(parts)


def completion(model: str, text: str) -> dict[str, Any]:
    """The ``chat.completion`` object (token counts are unknown, so usage is null)."""
    return {
        "id": f"chatcmpl-{new_id()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": None,
    }


class SSEBody:
    """The body of a streamed reply; closing it (the server does) closes the upstream."""

    def __init__(
        self, pump: Pump, first: Batch, model: str, config: GatewayConfig, gone: Disconnected
    ) -> None:
        self._pump = pump
        self._first: Batch | None = first
        self._config = config
        self._gone = gone
        head = json.dumps(
            {"id": f"chatcmpl-{new_id()}", "object": "chat.completion.chunk",
             "created": int(time.time()), "model": model, "system_fingerprint": None},
            separators=(",", ":"),
        )[:-1]  # fmt: skip
        self._head = b"data: " + head.encode() + b',"choices":[{"index":0,"delta":'
        self._tail = b',"logprobs":null,"finish_reason":null}]}\n\n'
        self._role = True
        self.finished = False  # ended with [DONE]

    def __iter__(self) -> Iterator[bytes]:
        return self._events()

    def _delta(self, text: str) -> bytes:
        content = json.dumps(text).encode()
        if self._role:
            self._role = False
            delta = b'{"role":"assistant","content":' + content + b"}"
        else:
            delta = b'{"content":' + content + b"}"
        return self._head + delta + self._tail

    def _end(self, batch: Batch) -> bytes:
        if batch.error is not None:
            return error_of(batch.error).event()
        self.finished = True
        role = b'{"role":"assistant"}' if self._role else b"{}"
        last = self._head + role + b',"logprobs":null,"finish_reason":"stop"}]}\n\n'
        return last + _DONE

    def _events(self) -> Iterator[bytes]:
        batch = self._first
        self._first = None
        if batch is None:
            return
        pump, poll, keepalive = self._pump, self._config.poll, self._config.keepalive
        monotonic = time.monotonic
        while True:
            # An empty first batch (no chunk within first_chunk_wait) still commits to a 200.
            out = self._delta("".join(batch.chunks)) if batch.chunks else KEEPALIVE
            if batch.done:
                yield (out if batch.chunks else b"") + self._end(batch)
                return
            yield out
            quiet_since = monotonic()
            batch = pump.take(poll)
            while not batch.chunks and not batch.done:
                if self._gone():
                    pump.cancel()
                    return
                if monotonic() - quiet_since >= keepalive:
                    quiet_since = monotonic()
                    yield KEEPALIVE
                batch = pump.take(poll)

    def close(self) -> None:
        self._pump.cancel()
