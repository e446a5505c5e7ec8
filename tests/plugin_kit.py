"""Throwaway provider distributions, written on disk the way pip installs them.

A distribution is a ``<name>-<version>.dist-info`` folder (``METADATA`` and an
``entry_points.txt`` with a ``[g4f_core.providers]`` section) next to the module
files its entry points name. Put the folder on ``sys.path`` and build a registry
with ``g4f_core.Registry.from_path([folder])``: ``ep.load()`` then really imports
the modules, exactly as for a plugin installed from PyPI.
"""

from __future__ import annotations

import importlib
import re
import textwrap
from collections.abc import Iterable, Iterator, Mapping
from importlib import metadata
from pathlib import Path

__all__ = ["MISSING", "CountedDists", "make_dist", "module_name_for", "provider_source"]

GROUP = "g4f_core.providers"


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: Leave the attribute out of the generated module.
MISSING: object = _Missing()


class CountedDists(list[metadata.Distribution]):
    """Distributions for a Registry that count its discoveries: each one reads them once."""

    def __init__(self, dists: Iterable[metadata.Distribution] = ()) -> None:
        super().__init__(dists)
        self.reads = 0

    @classmethod
    def under(cls, root: Path) -> CountedDists:
        return cls(metadata.distributions(path=[str(root)]))

    def __iter__(self) -> Iterator[metadata.Distribution]:
        self.reads += 1
        return super().__iter__()


def module_name_for(dist_name: str, provider: str) -> str:
    """The module name ``make_dist`` gives a provider: unique per distribution and name."""
    return "g4ftest_" + re.sub(r"\W+", "_", f"{dist_name}_{provider}").lower()


def make_dist(
    root: Path,
    dist_name: str,
    version: str = "1.0",
    providers: Mapping[str, str] | None = None,
    *,
    module_name: str | None = None,
    entry_points: Mapping[str, str] | None = None,
    modules: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Install a distribution under ``root``; return provider name -> module name.

    ``providers`` maps each entry-point name to the source of its own module;
    ``module_name`` names that module when there is a single provider.
    ``entry_points`` adds raw ``name = value`` lines (for targets that do not exist
    or live in ``modules``); ``modules`` writes extra module files, with no entry point.
    """
    providers = dict(providers or {})
    if module_name is not None and len(providers) != 1:
        raise ValueError("module_name names the module of a single provider")
    lines: dict[str, str] = {}
    names: dict[str, str] = {}
    for name, source in providers.items():
        mod = module_name or module_name_for(dist_name, name)
        _write(root / f"{mod}.py", source)
        lines[name] = mod
        names[name] = mod
    lines.update(entry_points or {})
    for mod, source in (modules or {}).items():
        _write(root / f"{mod}.py", source)
    info = root / f"{re.sub(r'[-.]+', '_', dist_name)}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n", encoding="utf-8"
    )
    body = "".join(f"{name} = {value}\n" for name, value in lines.items())
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{body}", encoding="utf-8")
    importlib.invalidate_caches()  # the import system caches directory listings
    return names


def _write(path: Path, source: str) -> None:
    path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")


def provider_source(
    *,
    models: object = ("m1",),
    supports_stream: object = True,
    needs_auth: object = False,
    working: object = MISSING,
    url: object = MISSING,
    params: object = MISSING,
    options: str | None = None,
    signature: str = "model: str, messages: list, stream: bool, **kwargs",
    body: str = 'yield "ok"',
    header: str = "",
    footer: str = "",
) -> str:
    """The source of a provider module; attributes are written with ``repr``.

    A tuple for ``models`` is written as a list. ``options`` is source text (it may
    use ``Option``, which the module imports from g4f_core). ``body`` is the body of
    ``_create_completion`` and ``header``/``footer`` go before/after the declarations
    (``from __future__`` lines of the header go first).
    """
    if isinstance(models, tuple):
        models = list(models)
    head = textwrap.dedent(header).strip("\n").splitlines()
    future = [line for line in head if line.startswith("from __future__")]
    rest = [line for line in head if not line.startswith("from __future__")]
    out = [*future, "from g4f_core import Option  # noqa: F401", *rest]
    for attr, value in (
        ("models", models),
        ("supports_stream", supports_stream),
        ("needs_auth", needs_auth),
        ("working", working),
        ("url", url),
        ("params", params),
    ):
        if value is not MISSING:
            out.append(f"{attr} = {value!r}")
    if options is not None:
        out.append(f"options = {options}")
    out.append(f"def _create_completion({signature}):")
    out.append(textwrap.indent(textwrap.dedent(body).strip("\n"), "    "))
    out.append(textwrap.dedent(footer).strip("\n"))
    return "\n".join(out) + "\n"
