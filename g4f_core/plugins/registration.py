"""The register hook: providers a plugin makes in code, or from the config file's tables.

One :class:`Registration` serves one discovery. It calls each plugin's
``g4f_core_register_providers`` with the arguments the implementation takes
(``register``, ``fail``, ``config``), reads the config file only if one of them asks
for it, records every config problem as a failure naming the file, table and key,
and, once every plugin ran, reports the tables no plugin took. A provider made from a
table never shadows an installed one: the clash is the table's failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from g4f_core.plugins.config import Config, config_path, load_config
from g4f_core.plugins.marker import REGISTER_HOOK
from g4f_core.plugins.provider import InvalidProviderError, ProviderInfo
from g4f_core.plugins.sources import Origin, Source, exception_text, name_of

__all__ = ["Registration", "located", "yield_to_installed"]

Fail = Callable[[Source, str, "BaseException | None"], None]
#: Runs plugin code so that whatever it raises is the source's failure (Registry._isolated).
Isolated = Callable[[Source, str, Callable[[], Any]], "tuple[bool, Any]"]


def located(origin: Origin | None, error: str) -> str:
    """An error prefixed with the file and table it is about (once)."""
    if origin is None or error.startswith(origin.file):
        return error
    where = f"{origin.file}, table [{origin.table}]" if origin.table else origin.file
    return f"{where}: {error}"


class Registration:
    """Register-hook calls of one discovery."""

    def __init__(
        self,
        *,
        environ: Mapping[str, str],
        read: Callable[[object, Source], ProviderInfo],
        fail: Fail,
        disabled: Callable[[str, str | None], bool],
        isolated: Isolated,
    ) -> None:
        self._environ = environ
        self._read = read
        self._fail = fail
        self._disabled = disabled
        self._isolated = isolated
        self._config: Config | None = None
        self._claimed: set[Origin] = set()

    def config(self) -> Config:
        """The config file, read (and its problems recorded) on first use."""
        if self._config is None:
            try:
                self._config = load_config(environ=self._environ)
            except Exception as exc:  # noqa: BLE001 - a config bug must not break discovery
                path, _ = config_path(self._environ)
                self._config = Config(path, False, True)
                self._fail(
                    Source(os.path.basename(path), origin=Origin(path)),
                    located(Origin(path), f"could not be read: {exception_text(exc)}"),
                    exc,
                )
                return self._config
            for problem in self._config.problems:
                self._fail(Source(problem.name, origin=problem.origin), str(problem), None)
        return self._config

    def call(
        self,
        impls: list[tuple[Callable[..., Any], tuple[str, ...]]],
        source: Source,
        found: list[ProviderInfo],
    ) -> None:
        """Call one plugin's register-hook implementations (``Hooks.register_hooks``)."""

        def register(
            provider: object,
            name: str | None = None,
            distribution: str | None = None,
            origin: Origin | None = None,
        ) -> None:
            # A module's __name__ is dotted; a name given (a config table's) is kept whole.
            given = str.__str__(name) if isinstance(name, str) and name else None
            pname = given or name_of(provider).rsplit(".", 1)[-1]
            sub = self._sub(source, pname, distribution, origin)
            if self._disabled(sub.name, sub.distribution):
                return

            def read() -> None:
                try:
                    found.append(self._read(provider, sub))
                except InvalidProviderError as exc:
                    self._fail(sub, located(sub.origin, f"invalid provider: {exc}"), exc)

            self._isolated(sub, located(sub.origin, "could not be read"), read)  # each on its own

        def fail(name: str, error: str, origin: Origin | None = None) -> None:
            sub = self._sub(source, str(name), None, origin)
            self._fail(sub, located(sub.origin, str(error)), None)

        for function, wanted in impls:
            offered: dict[str, Any] = {"register": register, "fail": fail}
            if "config" in wanted:
                offered["config"] = self.config()
            run = partial(function, *[offered[arg] for arg in wanted])
            self._isolated(source, f"{REGISTER_HOOK} raised", run)

    def _sub(
        self, source: Source, name: str, distribution: str | None, origin: Origin | None
    ) -> Source:
        if origin is not None and not isinstance(origin, Origin):
            origin = None  # provenance is informative; a wrong type must not break loading
        if origin is not None:
            self._claimed.add(origin)
        return Source(
            name,
            f"{source.entry_point} (registered by hook)" if source.entry_point else None,
            str.__str__(distribution)
            if isinstance(distribution, str) and distribution
            else source.distribution,
            source.version,
            origin,
        )

    def finish(self) -> None:
        """Report the tables of protocols that no installed plugin speaks."""
        if self._config is None:
            return
        from g4f_core.options import closest

        for table in self._config.tables:
            if table.origin in self._claimed or table.protocol in self._config.asked:
                continue
            if self._disabled(table.name, None):
                continue
            hint = closest(table.protocol, self._config.asked)
            maybe = f"; did you mean {hint!r}?" if hint else ""
            error = f"no installed plugin speaks protocol {table.protocol!r}{maybe}"
            self._fail(Source(table.name, origin=table.origin), located(table.origin, error), None)


def yield_to_installed(
    found: list[ProviderInfo], fail: Callable[[ProviderInfo, str], None]
) -> list[ProviderInfo]:
    """Drop providers made from config tables whose name an installed provider has."""
    installed = {info.name.lower(): info for info in found if info.origin is None}
    kept = []
    for info in found:
        other = installed.get(info.name.lower()) if info.origin is not None else None
        if other is None:
            kept.append(info)
            continue
        by = f"{other.distribution} {other.version}".strip() if other.distribution else "code"
        fail(
            info,
            located(
                info.origin,
                f"name clash: {info.name!r} is the name of an installed provider (from {by}); "
                "rename the table (provider names ignore case)",
            ),
        )
    return kept
