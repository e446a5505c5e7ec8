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

import attrs
import pluggy

__all__ = ["PROJECT", "CallEvent", "hookimpl", "hookspec"]

PROJECT = "g4f_core"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


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
def g4f_core_register_providers(register: Callable[..., None]) -> None:
    """Register providers made in code rather than declared as entry points.

    Call ``register(provider, name=..., distribution=None)`` once per provider, where
    ``provider`` is any object with the provider attributes (a module, a class, a
    ``types.SimpleNamespace``). Each registration is validated on its own: one bad
    provider is reported as a failure and the others still load. Use it for a package
    that ships many providers, or for providers built from configuration.
    """


@hookspec
def g4f_core_call_started(event: CallEvent) -> None:
    """Called before each attempt at a provider (retries and fallbacks included)."""


@hookspec
def g4f_core_call_finished(event: CallEvent) -> None:
    """Called once each attempt has ended, with ``elapsed`` seconds and the outcome."""
