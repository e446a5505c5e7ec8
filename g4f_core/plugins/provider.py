"""The provider contract: what a provider module declares, read once into a frozen record.

A provider is any object (normally a module) with the attributes in the table of
CONTRIBUTING.md. :meth:`ProviderInfo.from_module` reads and validates them when the
plugin loads, so a bad declaration is reported then, not at the first call.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

import attrs

from g4f_core.options import FRAMEWORK_OPTIONS, Option, options_from
from g4f_core.plugins.sources import Origin

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


class InvalidProviderError(ValueError):
    """A provider module breaks the contract; the message says which attribute and why."""


class Emulator(Protocol):
    """What a provider's optional ``emulator(host=..., port=..., token_delay=...)`` returns."""

    @property
    def url(self) -> str: ...

    def start(self) -> str: ...

    def stop(self) -> None: ...


CreateCompletion = Callable[..., Iterator[str] | str]


def _models(module: object) -> tuple[tuple[str, ...], Mapping[str, str]]:
    declared = getattr(module, "models", None)
    if declared is None:
        declared = getattr(module, "model", None)
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
    for short, upstream in pairs:
        if not isinstance(short, str) or not short.strip():
            raise InvalidProviderError(f"model names must be non-empty strings, not {short!r}")
        if not isinstance(upstream, str) or not upstream:
            raise InvalidProviderError(f"model {short!r}: upstream id must be a non-empty string")
    names = tuple(short for short, _ in pairs)
    if len(set(names)) != len(names):
        raise InvalidProviderError("`models` lists a model twice")
    return names, MappingProxyType(dict(pairs))


def _options(module: object) -> tuple[Option, ...]:
    try:
        options = options_from(getattr(module, "options", None))
    except ValueError as exc:
        raise InvalidProviderError(f"`options`: {exc}") from None
    reserved = [
        f"option {opt.name!r} is reserved by the framework"
        for opt in options
        if opt.name in _RESERVED
    ]
    if reserved:
        raise InvalidProviderError("; ".join(reserved))
    return options


def _flag(module: object, attr: str, default: bool | None = None) -> bool:
    value = getattr(module, attr, default)
    if value is None:
        raise InvalidProviderError(f"does not declare `{attr}` (True or False)")
    if not isinstance(value, bool):
        raise InvalidProviderError(f"`{attr}` must be True or False, not {value!r}")
    return value


def _auth_env(module: object) -> str | None:
    value = getattr(module, "auth_env", None)
    if value is not None and not (isinstance(value, str) and _ENV.fullmatch(value)):
        raise InvalidProviderError(
            "`auth_env` must name an environment variable (like 'OPENAI_API_KEY'), or be None"
        )
    return value


def _auth_scheme(module: object) -> str:
    """Where the Client puts the credential: "bearer", "header:NAME" or "none"."""
    value = getattr(module, "auth_scheme", "bearer")
    if value in ("bearer", "none"):
        return str(value)
    prefix = "header:"
    if isinstance(value, str) and value.startswith(prefix) and _HEADER.fullmatch(value[7:]):
        return value
    raise InvalidProviderError(
        "`auth_scheme` must be 'bearer' (Authorization: Bearer <credential>), "
        "'header:NAME' (NAME: <credential>) or 'none' (the provider places it itself)"
    )


_NO_AUTH: Mapping[str, Any] = MappingProxyType({"auth_env": None, "auth_scheme": "bearer"})


def _auth(module: object) -> Mapping[str, Any]:
    """``auth_env`` and ``auth_scheme``, both checked, so both problems are reported at once."""
    problems: list[str] = []
    found: dict[str, Any] = {}
    for key, read in (("auth_env", _auth_env), ("auth_scheme", _auth_scheme)):
        try:
            found[key] = read(module)
        except InvalidProviderError as exc:
            problems.append(str(exc))
    if problems:
        raise InvalidProviderError("; ".join(problems))
    return found


def parameters(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    """The parameters a caller passes to ``fn``: a function, bound method, partial or object.

    Raises InvalidProviderError when Python cannot tell (some builtins).
    """
    try:
        return list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError) as exc:
        raise InvalidProviderError(
            f"the signature of `_create_completion` cannot be read ({type(exc).__name__})"
        ) from None


def _check_identity(module: object, name: str) -> None:
    """The name and the contract version: without these nothing else is worth reading."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidProviderError(
            f"provider name {name!r} must start with a letter and hold only letters, "
            "digits, '_', '.' or '-'"
        )
    contract = getattr(module, "contract_version", 1)
    if contract not in CONTRACT_VERSIONS:
        supported = ", ".join(map(str, CONTRACT_VERSIONS))
        raise InvalidProviderError(
            f"targets provider contract version {contract!r}; this g4f-core supports "
            f"{supported}: upgrade g4f-core or use a release of the provider for it"
        )


def _function(module: object) -> CreateCompletion:
    fn: CreateCompletion | None = getattr(module, "_create_completion", None)
    if fn is None:
        raise InvalidProviderError("has no `_create_completion` function")
    if not callable(fn):
        raise InvalidProviderError("`_create_completion` is not callable")
    return fn


def _takes_options(fn: CreateCompletion, options: tuple[Option, ...]) -> bool:
    """Whether ``fn`` takes **kwargs, once its parameters are known to fit the contract."""
    positional, keywords, varkw = _signature(fn)
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
    url = getattr(module, "url", None)
    if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        raise InvalidProviderError(f"`url` must be an http(s) URL string, not {url!r}")
    return url


def _emulator(module: object) -> Callable[..., Emulator] | None:
    emulator = getattr(module, "emulator", None)
    if emulator is not None and not callable(emulator):
        raise InvalidProviderError("`emulator` must be a callable returning an emulator")
    return emulator


def _params(module: object) -> str | None:
    params = getattr(module, "params", None)
    if params is not None and not isinstance(params, str):
        raise InvalidProviderError("`params` must be a string")
    return params


def _signature(fn: Callable[..., Any]) -> tuple[list[tuple[str, str]], set[str], bool]:
    """Positional parameters with type names, keyword names, and whether **kwargs is taken."""
    params = parameters(fn)
    positional = [
        (p.name, _type_name(None if p.annotation is p.empty else p.annotation))
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    keywords = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    varkw = any(p.kind is p.VAR_KEYWORD for p in params)
    return positional, keywords, varkw


def _type_name(annotation: object) -> str:
    if annotation is None:
        return "Any"
    if isinstance(annotation, str):  # postponed annotation: "list[dict[str, str]]" -> "list"
        return annotation.split("[", 1)[0].strip()
    origin = getattr(annotation, "__origin__", None)
    return getattr(origin or annotation, "__name__", None) or str(annotation)


def derive_params(qualified: str, fn: Callable[..., Any], options: tuple[Option, ...]) -> str:
    """gpt4free's ``params`` string, with every declared option and its default added."""
    positional, _, _ = _signature(fn)
    declared = {opt.name for opt in options}
    parts = [f"{name}: {kind}" for name, kind in positional if name not in declared]
    parts += [opt.describe() for opt in options]
    return f"{qualified} supports: ({', '.join(parts)})"


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

        def attempt(read: Callable[[], _T], fallback: _T) -> _T:
            try:
                return read()
            except InvalidProviderError as exc:
                problems.append(str(exc))
                return fallback

        fn: CreateCompletion | None = attempt(lambda: _function(module), None)
        no_models: tuple[tuple[str, ...], Mapping[str, str]] = ((), MappingProxyType({}))
        models, model_ids = attempt(lambda: _models(module), no_models)
        supports_stream = attempt(lambda: _flag(module, "supports_stream"), False)
        needs_auth = attempt(lambda: _flag(module, "needs_auth"), False)
        working = attempt(lambda: _flag(module, "working", True), True)
        auth = attempt(lambda: _auth(module), _NO_AUTH)
        url = attempt(lambda: _url(module), None)
        no_options: tuple[Option, ...] = ()
        options = attempt(lambda: _options(module), no_options)
        varkw = False if fn is None else attempt(lambda: _takes_options(fn, options), False)
        emulator = attempt(lambda: _emulator(module), None)
        params = attempt(lambda: _params(module), None)
        if problems or fn is None:
            raise InvalidProviderError("; ".join(problems))
        if params is None:
            params = derive_params(getattr(module, "__name__", name), fn, options)
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
