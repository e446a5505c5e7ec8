"""What a request must pass before it reaches a provider: the key, the origin, the limits."""

from __future__ import annotations

import hmac
import threading
from collections.abc import Mapping
from typing import IO, Any

from g4f_core.gateway.config import GatewayConfig
from g4f_core.gateway.errors import WireError

__all__ = ["Slots", "check_key", "cors_headers", "preflight", "read_body"]

_ALLOW_HEADERS = "Authorization, Content-Type"
_EXPOSE = "x-g4f-provider, x-g4f-attempts, x-request-id, Retry-After"


def check_key(config: GatewayConfig, environ: Mapping[str, Any]) -> None:
    """Raise 401 unless ``Authorization: Bearer <key>`` matches, compared in constant time."""
    if config.api_key is None:
        return
    header = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise WireError(
            401,
            "missing API key: send it as 'Authorization: Bearer <key>'",
            code="invalid_api_key",
            retry=False,
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(given.strip().encode(), config.api_key.encode()):
        raise WireError(
            401,
            "incorrect API key",
            code="invalid_api_key",
            retry=False,
            headers={"WWW-Authenticate": "Bearer"},
        )


def cors_headers(config: GatewayConfig, environ: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The CORS headers for an allowed ``Origin``; none at all for any other request.

    Origins are matched exactly and echoed, never ``*``; credentials (cookies) are never
    allowed, as the key travels in a header the page sets itself.
    """
    origin = environ.get("HTTP_ORIGIN")
    if not origin or origin.lower() not in config.cors_origins:
        return []
    return [
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Expose-Headers", _EXPOSE),
        ("Vary", "Origin"),
    ]


def preflight(config: GatewayConfig, environ: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Headers answering an ``OPTIONS`` preflight (empty when the origin is not allowed)."""
    headers = cors_headers(config, environ)
    if not headers:
        return []
    asked = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "")
    # An allowed origin may send any request header (the openai client adds x-stainless-*).
    allow = asked if asked.strip() else _ALLOW_HEADERS
    return [
        *headers,
        ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
        ("Access-Control-Allow-Headers", allow),
        ("Access-Control-Max-Age", "600"),
    ]


def read_body(config: GatewayConfig, environ: Mapping[str, Any]) -> bytes:
    """The request body, refused with 413 past the cap without reading all of it."""
    limit = config.max_body_bytes
    raw = environ.get("CONTENT_LENGTH") or ""
    too_large = WireError(
        413,
        f"request body is larger than the gateway's limit of {limit} bytes",
        code="request_too_large",
        retry=False,
    )
    stream: IO[bytes] = environ["wsgi.input"]
    if raw.strip():
        try:
            length = int(raw)
        except ValueError:
            raise WireError(400, "invalid Content-Length", retry=False) from None
        if length > limit:
            raise too_large
        return stream.read(length) if length > 0 else b""
    if not environ.get("wsgi.input_terminated"):
        return b""  # WSGI: without a length and an EOF-terminated input there is no body
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise too_large
    return data


class Slots:
    """A count of chat calls in flight, refused with 503 past ``max_streams``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self.active = 0
        self.refused = 0

    def take(self) -> None:
        with self._lock:
            if self.active >= self.limit:
                self.refused += 1
                raise WireError(
                    503,
                    f"the gateway is serving its maximum of {self.limit} calls; retry shortly",
                    type="server_error",
                    code="too_many_streams",
                    headers={"Retry-After": "1"},
                )
            self.active += 1

    def give(self) -> None:
        with self._lock:
            self.active -= 1
