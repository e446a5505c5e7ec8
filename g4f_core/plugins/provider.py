"""The provider contract: what a provider module declares, read once into a frozen record.

A provider is any object (normally a module) with the attributes in the table of
CONTRIBUTING.md. :meth:`ProviderInfo.from_module` reads and validates them when the
plugin loads, so a bad declaration is reported then, not at the first call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

import attrs

from g4f_core.options import FRAMEWORK_OPTIONS, Option, options_from
from g4f_core.plugins.sources import describe

__all__ = [
    "CONTRACT_VERSIONS",
    "Emulator",
    "InvalidProviderError",
    "ProviderInfo",
]

#: Versions of the provider contract this release understands (``contract_version``).
CONTRACT_VERSIONS = (1,)
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_RESERVED = {"model", "messages", "stream"} | {opt.name for opt in FRAMEWORK_OPTIONS}
_CO_VARKEYWORDS = 0x08
_T = TypeVar("_T")


class InvalidProviderError(ValueError):
    """A provider module breaks the contract; the message says which attribute and why."""


def _attr(module: object, name: str, default: Any = None) -> Any:
    """``getattr`` that turns whatever the plugin's code raises into a contract problem.

    A module ``__getattr__`` (the lazy optional-dependency pattern) or a property may
    raise anything, ImportError above all; only AttributeError means "not declared".
    """
    try:
        return getattr(module, name, default)
    except Exception as exc:  # noqa: BLE001 - plugin code: any failure is the plugin's
        raise InvalidProviderError(f"reading `{name}` raised {describe(exc)}") from None


def _shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` for a message, short, and safe from a ``__repr__`` that raises."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - plugin objects may not even print
        return f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _plain(text: str) -> str:
    """The text of a ``str`` subclass as a plain ``str``: its methods never run again."""
    return str.__str__(text)


class Emulator(Protocol):
    """What a provider's optional ``emulator(host=..., port=..., token_delay=...)`` returns."""

    @property
    def url(self) -> str: ...

    def start(self) -> str: ...

    def stop(self) -> None: ...

    def serve_forever(self) -> None: ...


CreateCompletion = Callable[..., Iterator[str] | str]


def _models(module: object) -> tuple[tuple[str, ...], Mapping[str, str]]:
    declared = _attr(module, "models")
    if declared is None:
        declared = _attr(module, "model")
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
    plain: list[tuple[str, str]] = []
    for short, upstream in pairs:
        if not isinstance(short, str) or not _plain(short).strip():
            raise InvalidProviderError(
                f"model names must be non-empty strings, not {_shown(short)}"
            )
        if not isinstance(upstream, str) or not _plain(upstream):
            raise InvalidProviderError(
                f"model {_plain(short)!r}: upstream id must be a non-empty string"
            )
        plain.append((_plain(short), _plain(upstream)))
    pairs = plain
    names = tuple(short for short, _ in pairs)
    if len(set(names)) != len(names):
        raise InvalidProviderError("`models` lists a model twice")
    return names, MappingProxyType(dict(pairs))


def _options(module: object) -> tuple[Option, ...]:
    declared = _attr(module, "options")
    try:
        options = tuple(_plain_option(opt) for opt in options_from(declared))
    except InvalidProviderError:
        raise
    except ValueError as exc:
        raise InvalidProviderError(f"`options`: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - iterating plugin objects runs plugin code
        raise InvalidProviderError(f"reading `options` raised {describe(exc)}") from None
    for opt in options:
        if opt.name in _RESERVED:
            raise InvalidProviderError(f"option {opt.name!r} is reserved by the framework")
    return options


def _plain_option(opt: Option) -> Option:
    """A plain :class:`Option` (not a subclass) whose declaration can be shown as JSON.

    ``providers --json`` and ``show --json`` print every declaration, so a default that
    JSON cannot carry (bytes, a set, NaN, infinity) is refused now, not half-way
    through a listing of every provider.
    """
    fields = {field.name: getattr(opt, field.name) for field in attrs.fields(Option)}
    fields["name"] = _plain(fields["name"])
    if isinstance(fields["help"], str):
        fields["help"] = _plain(fields["help"])
    try:
        plain = Option(**fields)
    except (TypeError, ValueError) as exc:
        raise InvalidProviderError(f"`options`: {exc}") from None
    problem = _json_problem(plain.default)
    if problem:
        raise InvalidProviderError(
            f"option {plain.name!r}: its default {_shown(plain.default)} {problem}; "
            "a default must be JSON data: a bool, a finite number, a str, a list of str or None"
        )
    problem = _json_problem(plain.to_dict())
    if problem:
        raise InvalidProviderError(f"option {plain.name!r}: its declaration {problem}")
    return plain


def _json_problem(value: object) -> str | None:
    """Why ``value`` cannot be printed as strict JSON in UTF-8, or None when it can."""
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "holds text that is not valid Unicode (a lone surrogate)"
    except ValueError:
        return "is not finite (NaN or infinity)"
    except (TypeError, RecursionError) as exc:
        return f"cannot be shown as JSON ({describe(exc)})"
    return None


def _flag(module: object, attr: str, default: bool | None = None) -> bool:
    value = _attr(module, attr, default)
    if value is None:
        raise InvalidProviderError(f"does not declare `{attr}` (True or False)")
    if not isinstance(value, bool):
        raise InvalidProviderError(f"`{attr}` must be True or False, not {_shown(value)}")
    return value


def _text(module: object, name: str, wrong: str) -> str | None:
    """An optional str attribute, as a plain str; None when it is not declared."""
    value = _attr(module, name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidProviderError(f"{wrong}, not {_shown(value)}")
    return _plain(value)


def _checked_signature(fn: Callable[..., Any]) -> tuple[list[tuple[str, str]], set[str], bool]:
    try:
        return _signature(fn)
    except Exception as exc:  # noqa: BLE001 - a callable object's attributes are plugin code
        raise InvalidProviderError(
            f"the signature of `_create_completion` could not be read: {describe(exc)}"
        ) from None


def _signature(fn: Callable[..., Any]) -> tuple[list[tuple[str, str]], set[str], bool]:
    """Positional parameters with type names, keyword names, and whether **kwargs is taken."""
    code = getattr(fn, "__code__", None)
    if code is None:  # a partial or callable object: fall back to the slower inspect
        import inspect

        sig = inspect.signature(fn)
        positional = [
            (p.name, _type_name(None if p.annotation is p.empty else p.annotation))
            for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        names = {p.name for p in sig.parameters.values()}
        varkw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        return positional, names, varkw
    hints = getattr(fn, "__annotations__", {})
    count = code.co_argcount
    names_all = code.co_varnames[: count + code.co_kwonlyargcount]
    positional = [(name, _type_name(hints.get(name))) for name in names_all[:count]]
    return positional, set(names_all), bool(code.co_flags & _CO_VARKEYWORDS)


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
    #: What to tell a user who cannot reach the declared ``url`` (the module's ``connect_hint``).
    connect_hint: str | None = attrs.field(default=None, repr=False, eq=False)

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
    ) -> ProviderInfo:
        """Read and validate a provider's declarations; raise InvalidProviderError if broken."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidProviderError(
                f"provider name {name!r} must start with a letter and hold only letters, "
                "digits, '_', '.' or '-'"
            )
        contract = _attr(module, "contract_version", 1)
        if type(contract) is not int or contract not in CONTRACT_VERSIONS:
            supported = ", ".join(map(str, CONTRACT_VERSIONS))
            raise InvalidProviderError(
                f"targets provider contract version {_shown(contract)}; this g4f-core supports "
                f"{supported}: upgrade g4f-core or use a release of the provider for it"
            )
        # Every independent problem is reported at once, so an author fixes them in one go.
        problems: list[str] = []

        def attempt(read: Callable[[], _T], fallback: _T) -> _T:
            try:
                return read()
            except InvalidProviderError as exc:
                problems.append(str(exc))
                return fallback

        fn: CreateCompletion | None = attempt(lambda: _attr(module, "_create_completion"), None)
        if fn is None:
            if not problems:
                problems.append("has no `_create_completion` function")
        elif not callable(fn):
            problems.append("`_create_completion` is not callable")
            fn = None
        no_models: tuple[tuple[str, ...], Mapping[str, str]] = ((), MappingProxyType({}))
        models, model_ids = attempt(lambda: _models(module), no_models)
        supports_stream = attempt(lambda: _flag(module, "supports_stream"), False)
        needs_auth = attempt(lambda: _flag(module, "needs_auth"), False)
        working = attempt(lambda: _flag(module, "working", True), True)
        url = attempt(lambda: _text(module, "url", "`url` must be an http(s) URL string"), None)
        if url is not None and not url.startswith(("http://", "https://")):
            problems.append(f"`url` must be an http(s) URL string, not {url!r}")
        hint = attempt(lambda: _text(module, "connect_hint", "`connect_hint` must be a str"), None)
        no_options: tuple[Option, ...] = ()
        options = attempt(lambda: _options(module), no_options)
        varkw = False
        if fn is not None:
            read_signature = fn
            signature = attempt(lambda: _checked_signature(read_signature), None)
            if signature is None:
                fn = None
            else:
                positional, keywords, varkw = signature
                if [p for p, _ in positional[:3]] != ["model", "messages", "stream"]:
                    problems.append(
                        "`_create_completion` must take (model, messages, stream, **kwargs)"
                    )
                for opt in options:
                    if not varkw and opt.name not in keywords:
                        problems.append(
                            f"declares option {opt.name!r} but `_create_completion` neither "
                            "names it nor takes **kwargs"
                        )
        emulator = attempt(lambda: _attr(module, "emulator"), None)
        if emulator is not None and not callable(emulator):
            problems.append("`emulator` must be a callable returning an emulator")
        params = attempt(lambda: _text(module, "params", "`params` must be a string"), None)
        if problems or fn is None:
            raise InvalidProviderError("; ".join(problems))
        if params is None:
            module_name = attempt(lambda: _text(module, "__name__", "`__name__`"), None)
            params = derive_params(module_name or name, fn, options)
        text = [url, hint, params, *models, *model_ids.values()]
        if _json_problem(text):
            raise InvalidProviderError(
                "declared text (url, models, params, connect_hint) holds a lone surrogate: "
                "it must be valid Unicode"
            )
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
        }
