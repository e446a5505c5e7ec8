"""Fixtures: fresh registries over throwaway distributions, never the installed plugins."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from plugin_kit import make_dist
from scripted_server import Reply, Script, ScriptedServer

from g4f_core.plugins import registry as registry_module
from g4f_core.plugins.registry import Registry

DEFAULT_REPLY = Reply()


@pytest.fixture(autouse=True)
def _no_installed_plugins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every test starts with an empty process-wide registry and no G4F_CORE_* settings.

    Recorded check outcomes go to a throwaway folder, never the developer's cache, and the
    default config file is looked for in an empty folder, never the developer's own.
    """
    for key in list(os.environ):
        if key.startswith("G4F_CORE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("G4F_CORE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    old = registry_module._set_default(Registry([], environ={}))
    yield
    registry_module._set_default(old)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path to install throwaway distributions into.

    Modules imported from it are removed from sys.modules afterwards.
    """
    root = tmp_path / "site-packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    yield root
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and Path(file).is_relative_to(root):
            del sys.modules[name]


@pytest.fixture
def registry_for(site: Path) -> Callable[..., Registry]:
    """Build a fresh registry of the distributions in ``site``; ``environ`` defaults to {}."""

    def build(environ: Mapping[str, str] | None = None) -> Registry:
        return Registry.from_path([str(site)], environ=dict(environ or {}))

    return build


@pytest.fixture
def use_registry() -> Callable[[Registry], Registry]:
    """Make ``registry`` the process-wide one for the rest of the test."""

    def use(registry: Registry) -> Registry:
        registry_module._set_default(registry)
        return registry

    return use


@pytest.fixture
def install(
    site: Path, registry_for: Callable[..., Registry], use_registry: Callable[[Registry], Registry]
) -> Callable[..., Registry]:
    """Install one distribution per provider (``<name>-dist`` 1.0); return the default registry."""

    def _install(environ: Mapping[str, str] | None = None, /, **sources: str) -> Registry:
        for name, source in sources.items():
            make_dist(site, f"{name.lower()}-dist", "1.0", {name: source})
        return use_registry(registry_for(environ))

    return _install


@pytest.fixture
def serve() -> Iterator[Callable[..., ScriptedServer]]:
    """Start scripted loopback servers; every one is stopped at the end of the test."""
    servers: list[ScriptedServer] = []

    def start(script: Script = DEFAULT_REPLY, *, lifetime: float = 30.0) -> ScriptedServer:
        server = ScriptedServer(script, lifetime=lifetime)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
