"""Pluggy plumbing: registering a plugin's hooks all or nothing, and calling them.

The plugin manager is made only when a plugin implements an observer hook (or a
register hook pluggy must judge), so listing providers never imports pluggy for plain
provider modules, nor for plugins (such as the built-in OpenAI-compatible family) whose
only hook is a plain register hook, which the registry calls itself. Each
implementation is called on its own (an observer that raises is logged and skipped,
never breaking a call), in pluggy's order: ``tryfirst`` first, ``trylast`` last, and
otherwise the last registered first. A wrapper (``hookwrapper=True`` or
``wrapper=True``) cannot be called on its own, so it is refused when its plugin loads
rather than accepted and never run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from g4f_core.options import closest
from g4f_core.plugins.marker import REGISTER_ARGS, REGISTER_HOOK, impl_argnames
from g4f_core.plugins.sources import exception_text, hook_functions, impl_options

if TYPE_CHECKING:
    import pluggy

__all__ = ["Hooks", "call"]

log = logging.getLogger("g4f_core")


class Hooks:
    """The hook implementations of every loaded plugin."""

    def __init__(self) -> None:
        self.pm: pluggy.PluginManager | None = None

    @property
    def active(self) -> bool:
        """Whether any plugin's hooks are registered (so calls must notify observers)."""
        return self.pm is not None and bool(self.pm.list_name_plugin())

    def _manager(self) -> pluggy.PluginManager:
        if self.pm is None:
            import pluggy

            from g4f_core.plugins import hookspecs

            self.pm = pluggy.PluginManager(hookspecs.PROJECT)
            self.pm.add_hookspecs(hookspecs)
        return self.pm

    def register(self, plugin: object, key: str) -> str | None:
        """Register ``plugin``'s hooks, all or nothing; return what is wrong, if anything.

        pluggy's own register() leaves a half-registered plugin behind when validation
        fails, and accepts a misspelt hook until check_pending(); both are undone here.
        """
        if _only_register_hook(plugin):
            return None
        import pluggy

        pm = self._manager()
        # Names with a spec, taken before registering: a misspelt hook must not suggest itself.
        known = [
            n for n in vars(pm.hook) if not n.startswith("_") and pm.hook.__dict__[n].has_spec()
        ]
        try:
            pm.register(plugin, name=key)
        except BaseException as exc:
            if pm.has_plugin(key):
                pm.unregister(name=key)
            if isinstance(exc, KeyboardInterrupt):
                raise
            if isinstance(exc, pluggy.PluginValidationError | ValueError):
                return f"invalid hook: {exc}"
            return f"its hooks could not be read: {exception_text(exc)}"
        problem = _problem(pm, plugin, key, known)
        if problem:
            pm.unregister(name=key)
        return problem

    def implementations(self, hook: str, plugin: object | None = None) -> Iterator[Any]:
        """The implementations of ``hook`` in call order, only ``plugin``'s when given."""
        if self.pm is None:
            return
        for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls()):
            if plugin is None or impl.plugin is plugin:
                yield impl

    def register_hooks(self, plugin: object) -> list[tuple[Callable[..., Any], tuple[str, ...]]]:
        """The plugin's register-hook implementations in call order, each with the
        arguments it takes: pluggy's reading when pluggy holds the plugin (observers,
        ``specname=``, methods), else the plain function's own, read the same way."""
        if self.pm is not None and self.pm.is_registered(plugin):
            impls = self.implementations(REGISTER_HOOK, plugin)
            return [(impl.function, tuple(impl.argnames)) for impl in impls]
        function = hook_functions(plugin).get(REGISTER_HOOK)
        if function is None:
            return []
        names = impl_argnames(function)
        return [] if names is None else [(function, names)]

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Call every implementation of an observer hook; one that raises is logged, skipped."""
        for impl in self.implementations(hook):
            try:
                call(impl, **kwargs)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # noqa: BLE001 - an observer must never break a call
                log.warning(
                    "hook %s of plugin %s raised %s", hook, impl.plugin_name, exception_text(exc)
                )


def call(impl: Any, **kwargs: Any) -> Any:
    """Call one implementation with the subset of the spec's arguments it takes."""
    return impl.function(*[kwargs[arg] for arg in impl.argnames])


def _problem(pm: pluggy.PluginManager, plugin: object, key: str, known: list[str]) -> str | None:
    """What is wrong with a registered plugin's hooks that pluggy let through."""
    for caller in pm.get_hookcallers(plugin) or []:
        if not caller.has_spec():
            hint = closest(caller.name, known)
            maybe = f" (did you mean {hint!r}?)" if hint else ""
            return f"implements unknown hook {caller.name!r}{maybe}"
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin and (impl.hookwrapper or impl.wrapper):
                flag = "hookwrapper=True" if impl.hookwrapper else "wrapper=True"
                return (
                    f"plugin {key!r} implements hook {caller.name!r} with {flag}, which "
                    "g4f-core does not support: it calls each implementation on its own, so "
                    "that one that fails cannot break a call; drop the flag and write a plain "
                    "function (g4f_core_call_started and g4f_core_call_finished bracket a call)"
                )
    return None


def _only_register_hook(plugin: object) -> bool:
    """Whether the plugin's one hook is a plain register hook pluggy would accept as is."""
    marked = hook_functions(plugin)  # read statically, as has_hooks does
    if list(marked) != [REGISTER_HOOK]:
        return False
    impl = marked[REGISTER_HOOK]
    opts = impl_options(impl)
    if not isinstance(opts, dict) or any(opts.get(k) for k in ("wrapper", "hookwrapper")):
        return False
    if opts.get("specname") not in (None, REGISTER_HOOK):
        return False
    names = impl_argnames(impl)
    return names is not None and set(names) <= set(REGISTER_ARGS)
