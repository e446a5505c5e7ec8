"""The provider contract: what a provider module declares, read once into a frozen record.

A provider is any object (normally a module) with the attributes in the table of
CONTRIBUTING.md. :meth:`ProviderInfo.from_module` reads and validates them when the
plugin loads, so a bad declaration is reported then, not at the first call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

import attrs

from g4f_core.options import FRAMEWORK_OPTIONS, Option, options_from
from g4f_core.plugins.attributes import (
    InvalidProviderError,
    json_problem,
    plain,
    plain_option,
    read,
    shown,
    text,
)
from g4f_core.plugins.signature import derive_params, parameters, signature
from g4f_core.plugins.sources import Origin, exception_text

__all__ = [
    "CONTRACT_VERSIONS",
    "Emulator",
    "InvalidProviderError",
    "ProviderInfo",
    "parameters",
]

#: Versions of the provider contract this release understands (``contract_version``).
CONTRACT_VERSIONS = (1,)
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
# The arguments of _create_completion and of complete()/stream(), and the framework options.
_RESERVED = {"model", "messages", "stream", "provider", "registry"} | {
    opt.name for opt in FRAMEWORK_OPTIONS
}
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEADER = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_T = TypeVar("_T")


class Emulator(Protocol):
    """What a provider's optional ``emulator(host=..., port=..., token_delay=...)`` returns."""

    @property
    def url(self) -> str: ...

    def start(self) -> str: ...

    def stop(self) -> None: ...


CreateCompletion = Callable[..., Iterator[str] | str]


def _models(module: object) -> tuple[tuple[str, ...], Mapping[str, str]]:
    declared = read(module, "models")
    if declared is None:
        declared = read(module, "model")
    if declared is None:
        raise InvalidProviderError("declares no models (set `models` to a list or dict)")
    if isinstance(declared, Mapping):
        pairs = list(declared.items())
    elif isinstance(declared, list | tuple):
        pairs = [(m, m) for m in declared]
    else:
        raise InvalidProviderError(
            f"`models` must be a list of names or a dict of name -> upstream id, "
            f"not {type(declared).__name__}"
        )
    if not pairs:
        raise InvalidProviderError("`models` is empty: declare at least one model")
    kept: list[tuple[str, str]] = []
    for short, upstream in pairs:
        if not isinstance(short, str) or not plain(short).strip():
            raise InvalidProviderError(f"model names must be non-empty strings, not {shown(short)}")
        if not isinstance(upstream, str) or not plain(upstream):
            raise InvalidProviderError(
                f"model {plain(short)!r}: upstream id must be a non-empty string"
            )
        kept.append((plain(short), plain(upstream)))
    names = tuple(short for short, _ in kept)
    if len(set(names)) != len(names):
        raise InvalidProviderError("`models` lists a model twice")
    return names, MappingProxyType(dict(kept))


def _options(module: object) -> tuple[Option, ...]:
    declared = read(module, "options")
    try:
        options = tuple(plain_option(opt) for opt in options_from(declared))
    except InvalidProviderError:
        raise
    except ValueError as exc:
        raise InvalidProviderError(f"`options`: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - iterating plugin objects runs plugin code
        raise InvalidProviderError(f"reading `options` raised {exception_text(exc)}") from None
    reserved = [
        f"option {opt.name!r} is reserved by the framework"
        for opt in options
        if opt.name in _RESERVED
    ]
    if reserved:
        raise InvalidProviderError("; ".join(reserved))
    return options


def _flag(module: object, attr: str, default: bool | None = None) -> bool:
    value = read(module, attr, default)
    if value is None:
        raise InvalidProviderError(f"does not declare `{attr}` (True or False)")
    if not isinstance(value, bool):
        raise InvalidProviderError(f"`{attr}` must be True or False, not {shown(value)}")
    return value


def _auth_env(module: object) -> str | None:
    value = read(module, "auth_env")
    if value is not None and not (isinstance(value, str) and _ENV.fullmatch(plain(value))):
        raise InvalidProviderError(
            "`auth_env` must name an environment variable (like 'OPENAI_API_KEY'), or be None"
        )
    return None if value is None else plain(value)


def _auth_scheme(module: object) -> str:
    """Where the Client puts the credential: "bearer", "header:NAME" or "none"."""
    value = read(module, "auth_scheme", "bearer")
    value = plain(value) if isinstance(value, str) else value  # compared as a plain str
    if isinstance(value, str) and value in ("bearer", "none"):
        return value
    prefix = "header:"
    if isinstance(value, str) and value.startswith(prefix) and _HEADER.fullmatch(value[7:]):
        return value
    raise InvalidProviderError(
        "`auth_scheme` must be 'bearer' (Authorization: Bearer <credential>), "
        "'header:NAME' (NAME: <credential>) or 'none' (the provider places it itself)"
    )


_NO_MODELS: tuple[tuple[str, ...], Mapping[str, str]] = ((), MappingProxyType({}))
_NO_OPTIONS: tuple[Option, ...] = ()
_NO_AUTH: Mapping[str, Any] = MappingProxyType({"auth_env": None, "auth_scheme": "bearer"})


def _auth(module: object) -> Mapping[str, Any]:
    """``auth_env`` and ``auth_scheme``, both checked, so both problems are reported at once."""
    problems: list[str] = []
    found: dict[str, Any] = {}
    for key, reader in (("auth_env", _auth_env), ("auth_scheme", _auth_scheme)):
        try:
            found[key] = reader(module)
        except InvalidProviderError as exc:
            problems.append(str(exc))
    if problems:
        raise InvalidProviderError("; ".join(problems))
    return found


def _check_identity(module: object, name: str) -> None:
    """The name and the contract version: without these nothing else is worth reading."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidProviderError(
            f"provider name {name!r} must start with a letter and hold only letters, "
            "digits, '_', '.' or '-'"
        )
    contract = read(module, "contract_version", 1)
    if type(contract) is not int or contract not in CONTRACT_VERSIONS:
        supported = ", ".join(map(str, CONTRACT_VERSIONS))
        raise InvalidProviderError(
            f"targets provider contract version {shown(contract)}; this g4f-core supports "
            f"{supported}: upgrade g4f-core or use a release of the provider for it"
        )


def _function(module: object) -> CreateCompletion:
    fn: CreateCompletion | None = read(module, "_create_completion")
    if fn is None:
        raise InvalidProviderError("has no `_create_completion` function")
    if not callable(fn):
        raise InvalidProviderError("`_create_completion` is not callable")
    return fn


def _takes_options(fn: CreateCompletion, options: tuple[Option, ...]) -> bool:
    """Whether ``fn`` takes **kwargs, once its parameters are known to fit the contract."""
    positional, keywords, varkw = signature(fn)
    problems = []
    if [p for p, _ in positional[:3]] != ["model", "messages", "stream"]:
        problems.append("`_create_completion` must take (model, messages, stream, **kwargs)")
    for opt in options:
        if not varkw and opt.name not in keywords:
            problems.append(
                f"declares option {opt.name!r} but `_create_completion` neither names it "
                "nor takes **kwargs"
            )
    if problems:
        raise InvalidProviderError("; ".join(problems))
    return varkw


def _url(module: object) -> str | None:
    url = text(module, "url", "`url` must be an http(s) URL string")
    if url is not None and not url.startswith(("http://", "https://")):
        raise InvalidProviderError(f"`url` must be an http(s) URL string, not {url!r}")
    return url


def _connect_hint(module: object) -> str | None:
    return text(module, "connect_hint", "`connect_hint` must be a str")


def _emulator(module: object) -> Callable[..., Emulator] | None:
    emulator: Callable[..., Emulator] | None = read(module, "emulator")
    if emulator is not None and not callable(emulator):
        raise InvalidProviderError("`emulator` must be a callable returning an emulator")
    return emulator


def _params(module: object) -> str | None:
    return text(module, "params", "`params` must be a string")


def _derived_params(
    module: object, name: str, fn: CreateCompletion, options: tuple[Option, ...]
) -> str:
    """gpt4free's ``params``, named after the module (or the provider, if that is unreadable)."""
    try:
        module_name = text(module, "__name__", "`__name__`")
    except InvalidProviderError:
        module_name = None
    return derive_params(module_name or name, fn, options)


def _check_text(*declared: str | None) -> None:
    """Declared text is shown as JSON (``providers --json``): it must be valid Unicode."""
    if json_problem(list(declared)):
        raise InvalidProviderError(
            "declared text (url, models, params, connect_hint) holds a lone surrogate: "
            "it must be valid Unicode"
        )


@attrs.frozen
class ProviderInfo:
    """Everything the registry knows about one provider; read once, never changed."""

    name: str
    url: str | None
    models: tuple[str, ...]
    supports_stream: bool
    needs_auth: bool
    working: bool
    params: str
    options: tuple[Option, ...]
    distribution: str | None = None
    version: str | None = None
    entry_point: str | None = None
    model_ids: Mapping[str, str] = attrs.field(factory=dict, repr=False, eq=False)
    accepts_any_option: bool = attrs.field(default=False, repr=False)
    create_completion: CreateCompletion = attrs.field(default=None, repr=False, eq=False)
    emulator: Callable[..., Emulator] | None = attrs.field(default=None, repr=False, eq=False)
    module: object = attrs.field(default=None, repr=False, eq=False)
    #: What to tell a user who cannot reach the declared ``url`` (the module's ``connect_hint``).
    connect_hint: str | None = attrs.field(default=None, repr=False, eq=False)
    #: An environment variable the credential is also read from (after auth= and _AUTH).
    auth_env: str | None = None
    #: Where g4f_core.Client puts the credential: "bearer", "header:NAME" or "none".
    auth_scheme: str = attrs.field(default="bearer", repr=False)
    #: The config file and table this provider was made from, if it was.
    origin: Origin | None = None

    @property
    def qualified_name(self) -> str:
        """``distribution:Name``: unique even when two distributions share a name."""
        return f"{self.distribution}:{self.name}" if self.distribution else self.name

    @property
    def default_model(self) -> str:
        return self.models[0]

    def upstream_id(self, model: str) -> str:
        return self.model_ids.get(model, model)

    @classmethod
    def from_module(
        cls,
        module: object,
        *,
        name: str,
        distribution: str | None = None,
        version: str | None = None,
        entry_point: str | None = None,
        origin: Origin | None = None,
    ) -> ProviderInfo:
        """Read and validate a provider's declarations; raise InvalidProviderError if broken."""
        _check_identity(module, name)
        # Every independent problem is reported at once, so an author fixes them in one go.
        problems: list[str] = []

        def attempt(reader: Callable[[], _T], fallback: _T) -> _T:
            try:
                return reader()
            except InvalidProviderError as exc:
                problems.append(str(exc))
                return fallback

        fn: CreateCompletion | None = attempt(lambda: _function(module), None)
        models, model_ids = attempt(lambda: _models(module), _NO_MODELS)
        supports_stream = attempt(lambda: _flag(module, "supports_stream"), False)
        needs_auth = attempt(lambda: _flag(module, "needs_auth"), False)
        working = attempt(lambda: _flag(module, "working", True), True)
        auth = attempt(lambda: _auth(module), _NO_AUTH)
        url = attempt(lambda: _url(module), None)
        hint = attempt(lambda: _connect_hint(module), None)
        options = attempt(lambda: _options(module), _NO_OPTIONS)
        varkw = False if fn is None else attempt(lambda: _takes_options(fn, options), False)
        emulator = attempt(lambda: _emulator(module), None)
        params = attempt(lambda: _params(module), None)
        if problems or fn is None:
            raise InvalidProviderError("; ".join(problems))
        params = _derived_params(module, name, fn, options) if params is None else params
        _check_text(url, hint, params, *models, *model_ids.values())
        return cls(
            name=name,
            url=url,
            models=models,
            supports_stream=supports_stream,
            needs_auth=needs_auth,
            working=working,
            params=params,
            options=options,
            distribution=distribution,
            version=version,
            entry_point=entry_point,
            model_ids=model_ids,
            accepts_any_option=varkw and not options,
            create_completion=fn,
            emulator=emulator,
            module=module,
            connect_hint=hint,
            origin=origin,
            **auth,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``g4f-core providers --json`` and ``show --json``."""
        return {
            "name": self.name,
            "url": self.url,
            "models": list(self.models),
            "supports_stream": self.supports_stream,
            "needs_auth": self.needs_auth,
            "working": self.working,
            "params": self.params,
            "options": [o.to_dict() for o in self.options],
            "distribution": self.distribution,
            "version": self.version,
            "entry_point": self.entry_point,
            "auth_env": self.auth_env,
            "origin": self.origin.to_dict() if self.origin else None,
        }
