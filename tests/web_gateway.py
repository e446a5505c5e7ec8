"""The gateway the page's browser tests talk to: real waitress on loopback, real H2o emulator.

One registry holds H2o (this project's own distribution, pointed at a loopback emulator
through ``G4F_CORE_H2O_URL``), a broken plugin installed as a throwaway distribution, and
an OpenAI-compatible endpoint declared in a config file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from plugin_kit import make_dist

from g4f_core.plugins.dists import distributions
from g4f_core.plugins.registry import Registry
from g4f_core_providers.h2o import _sessions
from g4f_core_providers.h2o.server import H2oEmulator

__all__ = ["BROKEN_REASON", "OPENAI_NAME", "Served", "serve_gateway"]

OPENAI_NAME = "LocalAI"
OPENAI_MODELS = ["gpt-4o-mini", "qwen2.5-7b"]
BROKEN_REASON = "the vendor SDK is not installed"


#: An OpenAI-compatible endpoint declared in a config file, as users declare theirs.
_CONFIG = f"""
[providers.{OPENAI_NAME}]
protocol = "openai"
base_url = "https://llm.internal.example/v1"
models = {OPENAI_MODELS!r}
auth_env = "LOCALAI_API_KEY"
"""


class Served:
    """A running gateway (``url``) in front of a running H2o emulator (``emulator``)."""

    def __init__(self, url: str, emulator: H2oEmulator, registry: Registry) -> None:
        self.url, self.emulator, self.registry = url, emulator, registry


def build_registry(root: Path, h2o_url: str) -> Registry:
    make_dist(
        root,
        "acme-broken",
        "0.3",
        {"AcmeBroken": f"raise ImportError({BROKEN_REASON!r})\n"},
    )
    config = root / "g4f-core.toml"
    config.write_text(_CONFIG.replace("'", '"'), encoding="utf-8")
    dists = [metadata.distribution("g4f-core"), *distributions([str(root)])]
    environ = {"G4F_CORE_H2O_URL": h2o_url, "G4F_CORE_CONFIG": str(config)}
    return Registry(dists, environ=environ)


@contextmanager
def serve_gateway(root: Path, **settings: Any) -> Iterator[Served]:
    """H2o's emulator and the gateway (``GatewayConfig(**settings)``) served by waitress."""
    from g4f_core.gateway import GatewayConfig, make_gateway
    from g4f_core.gateway.serve import GatewayServer

    root.mkdir(parents=True, exist_ok=True)
    _sessions.clear()
    with pytest.MonkeyPatch.context() as patch, H2oEmulator() as emulator:
        patch.syspath_prepend(str(root))
        registry = build_registry(root, emulator.url)
        registry.load()
        with GatewayServer(make_gateway(registry, GatewayConfig(**settings))) as server:
            yield Served(server.url, emulator, registry)
