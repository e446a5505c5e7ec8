"""Hooks a plugin may implement. These docstrings are the hook reference.

Implement a hook in a provider module (or in a plugin module registered through
the same ``g4f_core.providers`` entry-point group) with g4f-core's own marker::

    from g4f_core import hookimpl

    @hookimpl
    def g4f_core_call_finished(event):
        metrics.observe(event.provider, event.elapsed)

Hooks are called with keyword arguments; an implementation may take any subset of
the names in the spec, so specs can grow without breaking plugins. Observer hooks
can never break a call: an implementation that raises is logged and skipped.
Implementations are plain functions, called in pluggy's order (``tryfirst``,
``trylast``); a ``hookwrapper=True`` or ``wrapper=True`` one is refused when its plugin
loads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs
import pluggy

from g4f_core.plugins.marker import hookimpl

if TYPE_CHECKING:
    from g4f_core.plugins.config import Config

__all__ = ["PROJECT", "CallEvent", "hookimpl", "hookspec"]

PROJECT = "g4f_core"
hookspec = pluggy.HookspecMarker(PROJECT)


@attrs.frozen
class CallEvent:
    """What observers learn about one attempt at one provider: never prompts or text.

    ``outcome`` is None when the attempt starts, then "ok", "error" or "cancelled"
    (the caller stopped reading); ``error`` is the error's class name.
    """

    provider: str
    model: str
    stream: bool
    attempt: int
    elapsed: float | None = None
    outcome: str | None = None
    error: str | None = None
    chunks: int = 0
    characters: int = 0


@hookspec
def g4f_core_register_providers(
    register: Callable[..., None], fail: Callable[..., None], config: Config
) -> None:
    """Register providers made in code rather than declared as entry points.

    Call ``register(provider, name=..., distribution=None, origin=None)`` once per
    provider, where ``provider`` is any object with the provider attributes (a module,
    a class, a ``types.SimpleNamespace``). Each registration is validated on its own:
    one bad provider is reported as a failure and the others still load. Use it for a
    package that ships many providers, or for providers built from configuration.

    ``config`` is the config file (``g4f_core.Config``, read only when an
    implementation asks for it): ``config.tables_for("openai")`` gives the
    ``[providers.NAME]`` tables of one protocol, already checked, each with its
    ``origin`` (file and table). Pass ``origin=table.origin`` to ``register`` so that
    ``g4f-core providers`` and ``show`` say where the provider was declared, and call
    ``fail(name, error, origin=table.origin)`` for a table the plugin cannot use: it
    is listed with the plugin problems, and every other provider still loads. A table
    whose protocol no plugin takes is reported by the core. A provider made from a
    table never shadows an installed provider of the same name: it is refused with a
    failure naming the table.
    """


@hookspec
def g4f_core_call_started(event: CallEvent) -> None:
    """Called before each attempt at a provider (retries and fallbacks included)."""


@hookspec
def g4f_core_call_finished(event: CallEvent) -> None:
    """Called once each attempt has ended, with ``elapsed`` seconds and the outcome."""
