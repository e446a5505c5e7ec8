"""Declared options: one declaration feeds ``params``, ``g4f-core show``, validation and the CLI.

Providers declare their options either as :class:`Option` records or as a plain
``{"name": default}`` dict (the type is the default's type), so that a provider
written without importing g4f-core still gets checked options.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from g4f_core.errors import InvalidRequestError

__all__ = [
    "FALSE_WORDS",
    "FRAMEWORK_DEFAULTS",
    "FRAMEWORK_OPTIONS",
    "TRUE_WORDS",
    "Option",
    "OptionType",
    "check_options",
    "closest",
    "with_defaults",
]

_TYPES: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "str", list: "list[str]"}
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})

DAY = 86400  # seconds: the longest timeout or deadline
GIB = 1 << 30  # bytes: the largest line or reply limit

#: What ``Option.type`` may be: one of these, or a tuple of them (``(str, list)``: either).
OptionType = type | tuple[type, ...]


def _kinds(value: OptionType) -> tuple[type, ...]:
    return value if isinstance(value, tuple) else (value,)


def _check_type(instance: Option, attribute: attrs.Attribute[OptionType], value: Any) -> None:
    kinds = _kinds(value)
    if not kinds or any(kind not in _TYPES for kind in kinds):
        raise ValueError(
            f"option {instance.name!r}: type must be bool, int, float, str or list "
            "(a list of str), or a tuple of them"
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_bound(instance: Option, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not (_is_number(value) and math.isfinite(value)):
        raise ValueError(f"option {instance.name!r}: {attribute.name} must be a finite number")


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@attrs.frozen
class Option:
    """One keyword a provider (or the framework) accepts, with its type, default and limits.

    ``ge``/``gt``/``le``/``lt`` and ``choices`` are checked before any I/O, so a value the
    server would refuse never leaves the process. ``openai`` names the OpenAI
    chat-completions parameters this option answers to (the gateway maps ``max_tokens``
    to H2o's ``max_new_tokens`` with it).
    """

    name: str = attrs.field(validator=attrs.validators.matches_re(r"[A-Za-z_][A-Za-z0-9_]*"))
    type: OptionType = attrs.field(validator=_check_type)
    default: Any = None
    help: str = ""
    ge: float | None = attrs.field(default=None, kw_only=True, validator=_check_bound)
    gt: float | None = attrs.field(default=None, kw_only=True, validator=_check_bound)
    le: float | None = attrs.field(default=None, kw_only=True, validator=_check_bound)
    lt: float | None = attrs.field(default=None, kw_only=True, validator=_check_bound)
    choices: tuple[Any, ...] | None = attrs.field(
        default=None, kw_only=True, converter=attrs.converters.optional(tuple)
    )
    openai: tuple[str, ...] = attrs.field(default=(), kw_only=True, converter=_names)

    @property
    def type_name(self) -> str:
        return " | ".join(_TYPES[kind] for kind in _kinds(self.type))

    @property
    def limits(self) -> str:
        """The declared range and choices as text (``> 0, <= 2``), or ""."""
        parts = [
            f"{sign} {bound:g}"
            for sign, bound in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt))
            if bound is not None
        ]
        if self.choices is not None:
            parts.append("one of " + ", ".join(repr(c) for c in self.choices))
        return ", ".join(parts)

    def describe(self) -> str:
        """``name: type = default``, as shown in ``params``."""
        return f"{self.name}: {self.type_name} = {self.default!r}"

    def to_dict(self) -> dict[str, Any]:
        """The declaration as JSON, for ``show --json``, ``providers --json`` and the gateway."""
        entry: dict[str, Any] = {
            "name": self.name,
            "type": self.type_name,
            "default": self.default,
            "help": self.help,
        }
        for key in ("ge", "gt", "le", "lt"):
            if getattr(self, key) is not None:
                entry[key] = getattr(self, key)
        if self.choices is not None:
            entry["choices"] = list(self.choices)
        if self.openai:
            entry["openai"] = list(self.openai)
        return entry

    def check(self, value: Any, *, where: str, label: str | None = None) -> Any:
        """Return ``value`` if it fits the declared type and limits (ints pass for floats).

        ``label`` names the value's source in messages (``--timeout``,
        ``G4F_CORE_TIMEOUT``) instead of ``option 'timeout'``.
        """
        if value is None and self.default is None:
            return None
        who = label or f"option {self.name!r}"
        for kind in _kinds(self.type):
            ok, converted = _fits(kind, value)
            if ok:
                self._check_limits(converted, where, who)
                return converted
        if isinstance(value, float) and not math.isfinite(value) and float in _kinds(self.type):
            raise InvalidRequestError(f"{where}{who} must be a finite number, not {value!r}")
        article = "a list of str" if self.type is list else _a(self.type_name)
        if self.type is float:
            article = "a finite float"
        raise InvalidRequestError(f"{where}{who} must be {article}, not {type(value).__name__}")

    def _check_limits(self, value: Any, where: str, who: str) -> None:
        if isinstance(value, str) and not _is_text(value):
            raise InvalidRequestError(
                f"{where}{who} holds a lone surrogate: it must be valid Unicode text"
            )
        if self.choices is not None and value not in self.choices:
            raise InvalidRequestError(
                f"{where}{who} must be one of " + ", ".join(repr(c) for c in self.choices)
            )
        if not _is_number(value):
            return
        tests = (
            (self.ge, value >= (self.ge or 0), ">="),
            (self.gt, value > (self.gt or 0), ">"),
            (self.le, value <= (self.le or 0), "<="),
            (self.lt, value < (self.lt or 0), "<"),
        )
        for bound, holds, sign in tests:
            if bound is not None and not holds:
                raise InvalidRequestError(
                    f"{where}{who} must be {sign} {bound:g} (allowed: {self.limits}); got {value:g}"
                )

    def parse(self, text: str, *, label: str | None = None) -> Any:
        """Turn command-line (or environment) text into a checked value of the declared type.

        Text that reads as the type but breaks a limit gets the limit's message, not
        "cannot read": ``--timeout -1`` is a number, only not an allowed one.
        """
        who = label or f"option {self.name!r}"
        kinds = _kinds(self.type)
        if list in kinds and text.lstrip().startswith("["):
            try:
                value = json.loads(text)
            except (ValueError, RecursionError):
                value = None
            if not isinstance(value, list):
                raise InvalidRequestError(f"{who}: {_quoted(text)} is not a JSON list of strings")
            return self.check(value, where="", label=label)
        refused: InvalidRequestError | None = None
        for kind in kinds:
            try:
                value = _parse(kind, text)
            except ValueError:
                continue
            try:
                return self.check(value, where="", label=label)
            except InvalidRequestError as exc:
                refused = refused or exc
        if refused is not None:
            raise refused
        raise InvalidRequestError(
            f"{who} takes {_a(self.type_name)}; cannot read {_quoted(text)} as one"
        ) from None


def _quoted(text: str, limit: int = 40) -> str:
    """Command-line text quoted in a message: short, and printable."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _is_text(value: str) -> bool:
    """Whether ``value`` is valid Unicode: no lone surrogate, so it can be sent as UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _a(type_name: str) -> str:
    return ("an " if type_name[0] in "aeiou" else "a ") + type_name


def _fits(kind: type, value: Any) -> tuple[bool, Any]:
    """Whether ``value`` is of ``kind`` (ints pass for floats; bools never pass for numbers)."""
    if kind is list:
        ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        return ok, list(value) if ok else value
    if isinstance(value, bool) and kind is not bool:
        return False, value
    if kind is float and isinstance(value, int):
        value = float(value)
    if kind is float and isinstance(value, float) and not math.isfinite(value):
        return False, value
    return isinstance(value, kind), value


def _parse(kind: type, text: str) -> Any:
    """Command-line text as ``kind``; ValueError when it cannot be read so."""
    if kind is bool:
        low = text.strip().lower()
        if low in TRUE_WORDS:
            return True
        if low in FALSE_WORDS:
            return False
        raise ValueError(text)
    if kind is list:
        return [text]
    return kind(text)


def options_from(declared: object) -> tuple[Option, ...]:
    """Read a provider's ``options`` attribute: Options, or a dict of name -> default."""
    if declared is None:
        return ()
    if isinstance(declared, Mapping):
        result = []
        for name, default in declared.items():
            if not isinstance(name, str):
                raise ValueError("option names must be strings")
            kind = type(default)
            if kind not in _TYPES or kind is list:
                raise ValueError(
                    f"option {name!r}: default {default!r} is not a bool, int, float or str; "
                    "declare it as g4f_core.Option(name, type, default)"
                )
            result.append(Option(name, kind, default))
        return tuple(result)
    if isinstance(declared, Iterable) and not isinstance(declared, str | bytes):
        items = tuple(declared)
        if all(isinstance(item, Option) for item in items):
            names = [item.name for item in items]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"options declared twice: {', '.join(dupes)}")
            return items
    raise ValueError("options must be a dict of name -> default or a sequence of g4f_core.Option")


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to ``word``, compared case-insensitively."""
    by_lower = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def check_options(
    given: Mapping[str, Any], declared: Iterable[Option], *, owner: str, open_ended: bool
) -> dict[str, Any]:
    """Validate ``given`` against ``declared``; undeclared names pass only when open-ended."""
    table = {opt.name: opt for opt in declared}
    checked: dict[str, Any] = {}
    for name, value in given.items():
        opt = table.get(name)
        if opt is None:
            if open_ended:
                checked[name] = value
                continue
            hint = closest(name, table)
            accepted = ", ".join(sorted(table)) or "none"
            suggestion = f"; did you mean {hint!r}?" if hint else ""
            raise InvalidRequestError(
                f"{owner} does not accept option {name!r}{suggestion} (accepted: {accepted})"
            )
        checked[name] = opt.check(value, where=f"{owner}: ")
    return checked


#: Options every call accepts, whatever the provider; they shape the transport, not the request.
#: The numeric ones declare the only ranges they may take, from a call, the environment
#: (``G4F_CORE_<NAME>``) or the command line alike (README.md, "Settings").
#: Their defaults here are the framework's only defaults (``G4F_CORE_<OPTION>`` overrides them).
FRAMEWORK_OPTIONS: tuple[Option, ...] = (
    Option(
        "timeout",
        float,
        30.0,
        "seconds any single wait may take (connect, first byte, gap)",
        gt=0,
        le=DAY,
    ),
    Option(
        "deadline", float, None, "seconds the whole call may take, stream included", gt=0, le=DAY
    ),
    Option("base_url", str, None, "the provider's endpoint instead of its declared url"),
    Option("proxy", str, None, "proxy URL for this call"),
    Option("auth", str, None, "credential for providers that need one"),
    Option("max_retries", int, 2, "retries before the first token", ge=0, le=20),
    Option("ca_bundle", str, None, "CA bundle file to verify TLS against"),
    Option(
        "max_line_bytes", int, 1 << 20, "largest single line the stream may carry", ge=1, le=GIB
    ),
    Option(
        "max_reply_bytes", int, 64 << 20, "largest reply body the stream may carry", ge=1, le=GIB
    ),
)

#: name -> default of every framework option.
FRAMEWORK_DEFAULTS: Mapping[str, Any] = {opt.name: opt.default for opt in FRAMEWORK_OPTIONS}


def with_defaults(given: Mapping[str, Any], declared: Iterable[Option]) -> dict[str, Any]:
    """``given`` with every declared option it leaves out set to its default.

    The core passes a provider all of its declared options, so an author reads
    ``kwargs["temperature"]`` and never repeats a default already declared once.
    """
    filled = {opt.name: opt.default for opt in declared}
    filled.update(given)
    return filled
