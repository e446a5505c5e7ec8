"""``hookimpl`` without importing pluggy, and what the registry needs to know of the register hook.

Every listing loads the built-in plugins, and one of them (the OpenAI-compatible family)
implements ``g4f_core_register_providers``. pluggy costs more to import than discovery
itself, so the marker is g4f-core's own: it sets exactly the options pluggy's
``HookimplMarker("g4f_core")`` sets, so the plugin manager reads it unchanged when a
plugin implements observer hooks, and a plugin whose only hook is the register hook
never needs pluggy at all (the registry calls that hook itself).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

__all__ = ["IMPL_MARK", "REGISTER_ARGS", "REGISTER_HOOK", "hookimpl", "impl_argnames"]

IMPL_MARK = "g4f_core_impl"  # the attribute pluggy's HookimplMarker("g4f_core") sets
REGISTER_HOOK = "g4f_core_register_providers"
#: The register hook's arguments; tests/test_config_registry.py pins them to the hookspec.
REGISTER_ARGS = ("register", "fail", "config")

_F = TypeVar("_F", bound=Callable[..., Any])


class HookimplMarker:
    """Marks a function as a hook implementation, as ``pluggy.HookimplMarker`` does."""

    project_name = "g4f_core"

    @overload
    def __call__(self, function: _F) -> _F: ...

    @overload
    def __call__(
        self,
        function: None = None,
        *,
        hookwrapper: bool = False,
        optionalhook: bool = False,
        tryfirst: bool = False,
        trylast: bool = False,
        specname: str | None = None,
        wrapper: bool = False,
    ) -> Callable[[_F], _F]: ...

    def __call__(
        self,
        function: _F | None = None,
        *,
        hookwrapper: bool = False,
        optionalhook: bool = False,
        tryfirst: bool = False,
        trylast: bool = False,
        specname: str | None = None,
        wrapper: bool = False,
    ) -> _F | Callable[[_F], _F]:
        opts = {
            "wrapper": wrapper,
            "hookwrapper": hookwrapper,
            "optionalhook": optionalhook,
            "tryfirst": tryfirst,
            "trylast": trylast,
            "specname": specname,
        }

        def mark(func: _F) -> _F:
            setattr(func, IMPL_MARK, dict(opts))
            return func

        return mark if function is None else mark(function)


hookimpl = HookimplMarker()


def impl_argnames(function: Callable[..., Any]) -> tuple[str, ...] | None:
    """The arguments pluggy would pass a plain function: its positional ones without a
    default (None for anything else: a method, ``*args``, keyword-only; pluggy decides)."""
    code = getattr(function, "__code__", None)
    if code is None or getattr(function, "__self__", None) is not None:
        return None
    if code.co_flags & 0x0C or code.co_kwonlyargcount:  # *args, **kwargs, keyword-only
        return None
    names = code.co_varnames[: code.co_argcount]
    return tuple(names[: len(names) - len(getattr(function, "__defaults__", None) or ())])
