"""Discovery and lookup of providers.

Each entry point of the ``g4f_core.providers`` group is loaded on its own: a plugin
that raises on import, breaks the provider contract or declares a bad hook becomes
a :class:`PluginFailure` and leaves nothing registered, while every other plugin
still loads. Discovery is lazy, runs once under a lock, and its result never
changes afterwards, so lookups need no locking. Two distributions declaring the
same name are both kept under ``distribution:Name``; the bare name is refused as
ambiguous instead of being decided by install order. Register hooks, and the config
file's tables they turn into providers, are handled by ``registration.py``; a provider
made from a table never shadows an installed one.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

from g4f_core.context import env_flag
from g4f_core.errors import AmbiguousProviderError, PluginLoadError, ProviderNotFoundError
from g4f_core.plugins import forking
from g4f_core.plugins.dists import Distribution, distributions
from g4f_core.plugins.hooks import Hooks
from g4f_core.plugins.provider import InvalidProviderError, ProviderInfo
from g4f_core.plugins.registration import Registration, yield_to_installed
from g4f_core.plugins.sources import (
    GROUP,
    PluginFailure,
    Source,
    canonical,
    entry_points,
    exception_text,
    has_hooks,
    not_found,
    search_path,
)

__all__ = ["GROUP", "PluginFailure", "Registry", "default_registry"]

log = logging.getLogger("g4f_core")
# A library leaves output to the application: without a handler of its own, Python
# would print warnings through its last-resort handler to stderr.
log.addHandler(logging.NullHandler())


class Registry(forking.ForkSafe):
    """A set of providers found through entry points (and hooks), loaded on first use."""

    def __init__(
        self,
        distributions: Iterable[Distribution] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._dists = distributions
        self._environ = environ
        self._lock = threading.RLock()
        self._loading = False
        self._loaded = False
        self._fork_locked = False
        self._providers: list[ProviderInfo] = []
        self._by_name: dict[str, list[ProviderInfo]] = {}
        self._by_qualified: dict[str, ProviderInfo] = {}
        self._failures: list[PluginFailure] = []
        self._disabled: set[str] = set()
        self._strict = False
        self._hooks = Hooks()
        forking.track(self)

    @classmethod
    def from_path(cls, paths: Iterable[str], **kwargs: Any) -> Registry:
        """A registry of only the distributions installed under ``paths`` (used by tests)."""
        return cls(list(distributions(list(paths))), **kwargs)

    def with_environ(self, environ: Mapping[str, str]) -> Registry:
        """A fresh registry of the same distributions and plugins, reading ``environ``.

        The gateway's ``--emulators`` uses it to route each provider to its emulator.
        """
        return Registry(self._dists, environ=environ)

    # -- discovery -------------------------------------------------------------------

    @property
    def environ(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    def load(self) -> None:
        """Run discovery now (it otherwise runs on first use); later calls do nothing."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            if self._loading:  # a plugin asked for providers while being imported
                raise PluginLoadError(
                    "providers cannot be looked up while plugins are loading: a plugin "
                    "uses g4f_core at import time; look providers up when called instead"
                )
            self._loading = True
            try:
                self._discover()
                self._loaded = True
            finally:
                self._loading = False

    def _discover(self) -> None:
        # Start from nothing, so a discovery that raised (strict mode) can run again.
        self._providers, self._by_name, self._by_qualified = [], {}, {}
        self._failures, self._hooks = [], Hooks()
        env = self.environ
        self._strict = env_flag("G4F_CORE_STRICT", env)
        self._disabled = {
            part.strip().lower() for part in env.get("G4F_CORE_DISABLE", "").split(",")
        } - {""}
        dists = self._dists
        if dists is None:
            dists = distributions(search_path())
        found: list[ProviderInfo] = []
        hook_plugins: list[tuple[object, Source]] = []
        for ep, source in entry_points(dists):
            if self._is_disabled(source.name, source.distribution):
                continue
            loaded, obj = self._isolated(source, "failed to import", ep.load)
            if loaded:
                add = partial(self._add, obj, source, found, hook_plugins)
                self._isolated(source, "could not be read", add)
        registration = Registration(
            environ=env,
            read=self._read,
            fail=self._fail,
            disabled=self._is_disabled,
            isolated=self._isolated,
        )
        for plugin, source in hook_plugins:
            read = partial(self._hooks.register_hooks, plugin)
            loaded, impls = self._isolated(source, "its register hook could not be read", read)
            if loaded:
                registration.call(impls, source, found)
        registration.finish()
        self._index(found)

    def _isolated(self, source: Source, what: str, run: Callable[[], Any]) -> tuple[bool, Any]:
        """Run plugin code; whatever it raises is that plugin's failure, not discovery's.

        Only KeyboardInterrupt (the user) and strict mode's stop get out (a plugin's own
        PluginLoadError, from looking providers up at import, is its failure):
        SystemExit, GeneratorExit and custom BaseException subclasses raised by a
        plugin's import or attributes are recorded like any other error.
        """
        try:
            return True, run()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # plugin code may raise anything
            if isinstance(exc, _StrictStop):
                raise
            self._fail(source, f"{what}: {exception_text(exc)}", exc)
            return False, None

    def _add(
        self,
        obj: object,
        source: Source,
        found: list[ProviderInfo],
        hook_plugins: list[tuple[object, Source]],
    ) -> None:
        is_provider = hasattr(obj, "_create_completion")
        hooked = has_hooks(obj)
        if not is_provider and not hooked:
            self._fail(source, "has no `_create_completion` function and implements no hooks")
            return
        info = None
        if is_provider:
            try:
                info = self._read(obj, source)
            except InvalidProviderError as exc:
                self._fail(source, f"invalid provider: {exc}", exc)
                return
        if hooked:
            error = self._hooks.register(obj, f"{source.distribution or '-'}:{source.name}")
            if error:
                self._fail(source, error)
                return
            hook_plugins.append((obj, source))
        if info is not None:
            found.append(info)

    def _read(self, obj: object, source: Source) -> ProviderInfo:
        return ProviderInfo.from_module(
            obj,
            name=source.name,
            distribution=source.distribution,
            version=source.version,
            entry_point=source.entry_point,
            origin=source.origin,
        )

    def _is_disabled(self, name: str, distribution: str | None) -> bool:
        low = name.lower()
        qualified = f"{distribution}:{name}".lower() if distribution else None
        if low in self._disabled or qualified in self._disabled:
            self._disabled.add(low)
            return True
        return False

    def _fail(self, source: Source, error: str, exc: BaseException | None = None) -> None:
        failure = source.failure(error)
        self._failures.append(failure)
        log.debug("plugin %s from %s failed: %s", source.name, source.distribution, error)
        if self._strict:
            raise _StrictStop(
                f"plugin {source.name!r} from {source.distribution or 'code'} failed to load: "
                f"{error} (unset G4F_CORE_STRICT to skip broken plugins)"
            ) from exc

    def _index(self, found: list[ProviderInfo]) -> None:
        found = yield_to_installed(found, lambda info, error: self._fail(_source(info), error))
        found.sort(key=lambda p: (p.name.lower(), p.distribution or ""))
        by_name: dict[str, list[ProviderInfo]] = {}
        kept: list[ProviderInfo] = []
        for info in found:
            qualified = _qualified_key(info.qualified_name)
            if qualified in self._by_qualified:
                self._fail(_source(info), f"provider {info.qualified_name!r} is registered twice")
                continue
            self._by_qualified[qualified] = info
            by_name.setdefault(info.name.lower(), []).append(info)
            kept.append(info)
        for same in by_name.values():
            if len(same) > 1:
                dists = ", ".join(p.distribution or "code" for p in same)
                for info in same:
                    self._fail(
                        _source(info),
                        f"name clash: {info.name!r} is declared by {dists}; "
                        f"select this one as {info.qualified_name!r}",
                    )
        self._by_name = by_name
        self._providers = kept
        # Stable output whatever order the distributions were found in.
        self._failures.sort(key=lambda f: (f.name.lower(), f.distribution or "", f.error))

    # -- lookup ----------------------------------------------------------------------

    def providers(self) -> list[ProviderInfo]:
        self.load()
        return list(self._providers)

    def failures(self) -> list[PluginFailure]:
        self.load()
        return list(self._failures)

    def get(self, name: str | ProviderInfo) -> ProviderInfo:
        """Find a provider by name, case-insensitively, or by ``distribution:Name``."""
        if isinstance(name, ProviderInfo):
            return name
        if not isinstance(name, str):
            raise ProviderNotFoundError(
                f"provider must be a name or a ProviderInfo, not {type(name).__name__}"
            )
        self.load()
        key = name.strip().lower()
        if ":" in key:
            info = self._by_qualified.get(_qualified_key(key))
            if info is not None:
                return info
        same = self._by_name.get(key, [])
        if len(same) == 1:
            return same[0]
        if same:
            choices = " or ".join(repr(p.qualified_name) for p in same)
            dists = ", ".join(p.distribution or "code" for p in same)
            raise AmbiguousProviderError(
                f"provider name {name.strip()!r} is ambiguous: it is declared by {dists}; "
                f"choose {choices}"
            )
        raise ProviderNotFoundError(
            not_found(name.strip(), self._failures, self._disabled, self._providers)
        )

    def select(
        self,
        *,
        model: str | None = None,
        stream: bool | None = None,
        needs_auth: bool | None = None,
        working: bool | None = None,
    ) -> list[ProviderInfo]:
        """Providers matching every given filter, in name order."""
        result = []
        for info in self.providers():
            if model is not None and match_model(info, model) is None:
                continue
            if stream is not None and info.supports_stream != stream:
                continue
            if needs_auth is not None and info.needs_auth != needs_auth:
                continue
            if working is not None and info.working != working:
                continue
            result.append(info)
        return result

    # -- hooks -----------------------------------------------------------------------

    @property
    def has_observers(self) -> bool:
        self.load()
        return self._hooks.active

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Call every implementation of an observer hook; one that raises is logged, skipped."""
        self._hooks.notify(hook, **kwargs)


class _StrictStop(PluginLoadError):
    """Strict mode's stop at the first failure: the one error that leaves plugin isolation."""


def _source(info: ProviderInfo) -> Source:
    return Source(info.name, info.entry_point, info.distribution, info.version, info.origin)


def _qualified_key(qualified: str) -> str:
    """``dist:Name`` compared as pip compares names: case, '-', '_' and '.' do not matter."""
    dist, _, name = qualified.rpartition(":")
    return f"{canonical(dist)}:{name.lower()}"


def match_model(info: ProviderInfo, model: str) -> str | None:
    """The provider's own name for ``model`` (case-insensitive; upstream ids accepted)."""
    if model in info.model_ids:
        return model
    low = model.strip().lower()
    for short, upstream in info.model_ids.items():
        if short.lower() == low or upstream.lower() == low:
            return short
    return None


_default: Registry | None = None
_default_lock = threading.Lock()


def _new_default_lock() -> None:
    global _default_lock
    _default_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_default_lock)


def default_registry() -> Registry:
    """The process-wide registry of installed providers, created on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Registry()
    return _default


def _set_default(registry: Registry | None) -> Registry | None:
    """Swap the process-wide registry (for tests and embedding); returns the old one."""
    global _default
    old, _default = _default, registry
    return old
