"""The gateway's settings: chosen by whoever runs the server, never by a request.

``g4f-core serve`` builds them from its flags; an embedding (gunicorn, a test) builds
them in code or from the environment with :meth:`GatewayConfig.from_env`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

import attrs

from g4f_core.options import DAY, GIB, Option

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_STREAMS",
    "LIMITS",
    "GatewayConfig",
    "check_origin",
    "is_loopback",
]

DEFAULT_MAX_STREAMS = 64
DEFAULT_MAX_BODY = 8 << 20

#: The numeric settings and their ranges, however they are given (flag, variable, code).
#: Each stream holds a waitress thread, made when the server starts: hence the ceiling.
LIMITS: dict[str, Option] = {
    opt.name: opt
    for opt in (
        Option("max_streams", int, DEFAULT_MAX_STREAMS, "chat calls at once", ge=1, le=4096),
        Option("max_body_bytes", int, DEFAULT_MAX_BODY, "largest body", ge=1024, le=GIB),
        Option("keepalive", float, 15.0, "seconds of silence", gt=0, le=DAY),
        Option("first_chunk_wait", float, 15.0, "seconds", gt=0, le=DAY),
        Option("poll", float, 0.2, "seconds", gt=0, le=60),
        Option("max_pending", int, 4096, "chunks", ge=1, le=1 << 20),
    )
}
#: The variables ``from_env`` reads numbers from.
_VARIABLES = {"G4F_CORE_MAX_STREAMS": "max_streams", "G4F_CORE_MAX_BODY_BYTES": "max_body_bytes"}


def check_origin(origin: str) -> str:
    """An exact browser origin (``scheme://host[:port]``); anything else is a ValueError."""
    if origin.strip() == "*":
        raise ValueError("--cors-origin '*' is refused: name each allowed origin exactly")
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"CORS origin {origin!r} must look like https://host[:port]")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"CORS origin {origin!r} must be an origin only: no path, query or user")
    return f"{parts.scheme}://{parts.netloc.lower()}"


def _origins(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(check_origin(v) for v in values if v.strip()))


@attrs.frozen
class GatewayConfig:
    """Limits and policies of one gateway; the API key stays out of the repr."""

    api_key: str | None = attrs.field(default=None, repr=False)
    max_streams: int = DEFAULT_MAX_STREAMS
    cors_origins: tuple[str, ...] = attrs.field(default=(), converter=_origins)
    max_body_bytes: int = DEFAULT_MAX_BODY
    #: Seconds of upstream silence before a ``: keep-alive`` comment is sent.
    keepalive: float = 15.0
    #: Seconds to wait for the first chunk before committing to a 200 and keep-alives.
    first_chunk_wait: float = 15.0
    #: How often a waiting stream checks whether its client is still there.
    poll: float = 0.2
    #: Chunks buffered between the upstream and a slow client before the upstream waits.
    max_pending: int = 4096

    def __attrs_post_init__(self) -> None:
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("the API key is empty")
        for name, opt in LIMITS.items():  # InvalidRequestError, a ValueError, naming it
            opt.check(getattr(self, name), where="", label=name)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> GatewayConfig:
        """``G4F_CORE_API_KEY``, ``G4F_CORE_MAX_STREAMS``, ``G4F_CORE_CORS_ORIGINS`` (comma
        separated) and ``G4F_CORE_MAX_BODY_BYTES``; keyword arguments win over them."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        key = env.get("G4F_CORE_API_KEY", "").strip()
        if key:
            values["api_key"] = key
        for variable, field in _VARIABLES.items():
            raw = env.get(variable, "").strip()
            if raw:
                values[field] = LIMITS[field].parse(raw, label=variable)
        origins = env.get("G4F_CORE_CORS_ORIGINS", "").strip()
        if origins:
            values["cors_origins"] = tuple(origins.split(","))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server reachable from this machine only."""
    if host.strip().lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
