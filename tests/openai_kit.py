"""Helpers for the OpenAI-compatible provider's tests: config files and registries over them.

Registries hold only this project's own distribution (never the developer's plugins) and
read the config file the test wrote, through ``G4F_CORE_CONFIG``.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from g4f_core.plugins.registry import Registry

__all__ = ["configured", "own_registry", "table"]


def own_registry(environ: dict[str, str] | None = None) -> Registry:
    return Registry([metadata.distribution("g4f-core")], environ=dict(environ or {}))


def table(
    name: str,
    base_url: str,
    models: str = '["gpt-4o-mini"]',
    extra: str = "",
    protocol: str = "openai",
) -> str:
    """The text of one ``[providers.NAME]`` table."""
    lines = [
        f"[providers.{name}]",
        f'protocol = "{protocol}"',
        f'base_url = "{base_url}"',
        f"models = {models}",
    ]
    return "\n".join(lines) + ("\n" + extra.strip() if extra.strip() else "") + "\n\n"


def configured(folder: Path, text: str, **environ: str) -> Registry:
    """A registry over a config file holding ``text``."""
    path = folder / "g4f-core.toml"
    path.write_text(text, encoding="utf-8")
    return own_registry({"G4F_CORE_CONFIG": str(path), **environ})
