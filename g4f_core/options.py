"""Declared options: one declaration feeds ``params``, ``g4f-core show``, validation and the CLI.

Providers declare their options either as :class:`Option` records or as a plain
``{"name": default}`` dict (the type is the default's type), so that a provider
written without importing g4f-core still gets checked options.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from g4f_core.errors import InvalidRequestError

__all__ = ["FRAMEWORK_OPTIONS", "Option", "check_options", "closest"]

_TYPES: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "str"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _check_type(instance: Option, attribute: attrs.Attribute[type], value: type) -> None:
    if value not in _TYPES:
        raise ValueError(f"option {instance.name!r}: type must be one of bool, int, float, str")


@attrs.frozen
class Option:
    """One keyword a provider (or the framework) accepts, with its type and default."""

    name: str = attrs.field(validator=attrs.validators.matches_re(r"[A-Za-z_][A-Za-z0-9_]*"))
    type: type = attrs.field(validator=_check_type)
    default: Any = None
    help: str = ""

    @property
    def type_name(self) -> str:
        return _TYPES[self.type]

    def describe(self) -> str:
        """``name: type = default``, as shown in ``params``."""
        return f"{self.name}: {self.type_name} = {self.default!r}"

    def check(self, value: Any, *, where: str) -> Any:
        """Return ``value`` if it fits the declared type (ints are accepted for floats)."""
        if value is None and self.default is None:
            return None
        kind = self.type
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if kind is float and ok and not math.isfinite(value):
            ok = False
        if not ok:
            raise InvalidRequestError(
                f"{where}option {self.name!r} must be a finite {self.type_name}, "
                f"not {type(value).__name__}"
            )
        return value

    def parse(self, text: str) -> Any:
        """Turn command-line text into a value of the declared type."""
        try:
            if self.type is bool:
                low = text.strip().lower()
                if low in _TRUE:
                    return True
                if low in _FALSE:
                    return False
                raise ValueError(text)
            if self.type is str:
                return text
            return self.check(self.type(text), where="")
        except ValueError:
            raise InvalidRequestError(
                f"option {self.name!r} takes a {self.type_name}; cannot read {text!r} as one"
            ) from None


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
            if kind not in _TYPES:
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
FRAMEWORK_OPTIONS: tuple[Option, ...] = (
    Option("timeout", float, None, "seconds any single wait may take (connect, first byte, gap)"),
    Option("deadline", float, None, "seconds the whole call may take, stream included"),
    Option("base_url", str, None, "the provider's endpoint instead of its declared url"),
    Option("proxy", str, None, "proxy URL for this call"),
    Option("auth", str, None, "credential for providers that need one"),
    Option("max_retries", int, None, "retries before the first token (default 2)"),
    Option("ca_bundle", str, None, "CA bundle file to verify TLS against"),
    Option("max_line_bytes", int, None, "largest single line the stream may carry"),
    Option("max_reply_bytes", int, None, "largest reply body the stream may carry"),
)
