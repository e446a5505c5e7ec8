"""Pluggy plumbing: registering a plugin's hooks all or nothing, and calling observers.

The plugin manager is made only when a plugin implements an observer hook, so listing
providers never imports pluggy for plain provider modules, nor for plugins (such as the
built-in OpenAI-compatible family) whose only hook is the register hook, which the
registry calls itself.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from g4f_core.options import closest
from g4f_core.plugins.marker import IMPL_MARK, REGISTER_ARGS, REGISTER_HOOK, impl_argnames
from g4f_core.plugins.sources import describe

if TYPE_CHECKING:
    import pluggy

__all__ = ["Hooks"]

log = logging.getLogger("g4f_core")


class Hooks:
    """The hook implementations of every loaded plugin."""

    def __init__(self) -> None:
        self.pm: pluggy.PluginManager | None = None

    @property
    def active(self) -> bool:
        """Whether any plugin implements a hook (so calls must notify observers)."""
        return self.pm is not None

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
        except (pluggy.PluginValidationError, ValueError) as exc:
            if pm.has_plugin(key):
                pm.unregister(name=key)
            return f"invalid hook: {exc}"
        for caller in pm.get_hookcallers(plugin) or []:
            if not caller.has_spec():
                pm.unregister(name=key)
                hint = closest(caller.name, known)
                maybe = f" (did you mean {hint!r}?)" if hint else ""
                return f"implements unknown hook {caller.name!r}{maybe}"
        return None

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Call every implementation of an observer hook; one that raises is logged, skipped."""
        if self.pm is None:
            return
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            try:
                impl.function(*[kwargs[arg] for arg in impl.argnames])
            except Exception as exc:  # noqa: BLE001 - an observer must never break a call
                log.warning("hook %s of plugin %s raised %s", hook, impl.plugin_name, describe(exc))


def _only_register_hook(plugin: object) -> bool:
    """Whether the plugin's one hook is a plain register hook pluggy would accept as is."""
    marked = [n for n, v in list(getattr(plugin, "__dict__", {}).items()) if hasattr(v, IMPL_MARK)]
    if marked != [REGISTER_HOOK]:
        return False
    impl = getattr(plugin, REGISTER_HOOK)
    opts = getattr(impl, IMPL_MARK)
    if not isinstance(opts, dict) or any(opts.get(k) for k in ("wrapper", "hookwrapper")):
        return False
    if opts.get("specname") not in (None, REGISTER_HOOK):
        return False
    names = impl_argnames(impl)
    return names is not None and set(names) <= set(REGISTER_ARGS)
