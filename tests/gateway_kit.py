"""Helpers for the gateway tests: a real waitress server on loopback, raw HTTP, SSE parsing.

Every gateway test drives a :class:`g4f_core.gateway.serve.GatewayServer` (waitress in a
thread, bound to 127.0.0.1) over a fresh registry: the H2o emulator's, or throwaway
providers installed by the test.
"""

from __future__ import annotations

import contextlib
import http.client
import json
from collections.abc import Iterator, Mapping
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

import openai

from g4f_core.gateway import GatewayConfig, make_gateway
from g4f_core.gateway.serve import GatewayServer
from g4f_core.plugins.registry import Registry
from g4f_core_providers.h2o import _sessions
from g4f_core_providers.h2o.server import H2oEmulator

__all__ = [
    "Raw",
    "client",
    "h2o_registry",
    "post_chat",
    "raw",
    "served",
    "sse_data",
]


def h2o_registry(emu: H2oEmulator, **environ: str) -> Registry:
    """This project's own providers, with H2o pointed at ``emu`` by the server's environment."""
    _sessions.clear()
    env = {"G4F_CORE_H2O_URL": emu.url, "G4F_CORE_MAX_RETRIES": "0", **environ}
    return Registry([metadata.distribution("g4f-core")], environ=env)


@contextlib.contextmanager
def served(registry: Registry, **settings: Any) -> Iterator[GatewayServer]:
    """The gateway over ``registry`` on a free loopback port, stopped afterwards."""
    config = GatewayConfig(**settings)
    with GatewayServer(make_gateway(registry, config)) as server:
        yield server


def client(server: GatewayServer, key: str = "unused", **kwargs: Any) -> openai.OpenAI:
    """The official client at the gateway; no retries unless a test asks for them."""
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 20.0)
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, **kwargs)


class Raw:
    """One raw HTTP exchange: status, headers (lower-cased names) and the whole body."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, dict(headers), body

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, Any]:
        data = self.json()
        assert set(data) == {"error"}, data
        assert set(data["error"]) == {"message", "type", "param", "code"}, data
        error: dict[str, Any] = data["error"]
        return error


def raw(
    server: GatewayServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 20.0,
) -> Raw:
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        data = response.read()
        got = {k.lower(): v for k, v in response.getheaders()}
        return Raw(response.status, got, data)
    finally:
        conn.close()


def post_chat(server: GatewayServer, body: object, path: str = "/v1/chat/completions",
              headers: Mapping[str, str] | None = None) -> Raw:  # fmt: skip
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return raw(server, "POST", path, data, {"Content-Type": "application/json", **(headers or {})})


def sse_data(body: bytes) -> list[str]:
    """The ``data:`` payloads of a server-sent event stream, in order (comments dropped)."""
    events = []
    for block in body.decode().split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        data = [line[5:].lstrip(" ") for line in lines if line.startswith("data:")]
        if data:
            events.append("\n".join(data))
    return events
