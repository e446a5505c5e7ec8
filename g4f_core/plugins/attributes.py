"""Reading a plugin's declarations: whatever its code raises is a contract problem.

A provider module (or object) is plugin code: its ``__getattr__``, properties, ``str``
subclasses, ``__repr__`` and option objects may all run code that raises. Every read
here turns that into an :class:`InvalidProviderError` naming the attribute, and every
text is kept as a plain ``str`` whose methods never run again.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from g4f_core.options import Option
from g4f_core.plugins.sources import exception_text

__all__ = ["InvalidProviderError", "json_problem", "plain", "plain_option", "read", "shown", "text"]


class InvalidProviderError(ValueError):
    """A provider module breaks the contract; the message says which attribute and why."""


def read(module: object, name: str, default: Any = None) -> Any:
    """``getattr`` that turns whatever the plugin's code raises into a contract problem.

    A module ``__getattr__`` (the lazy optional-dependency pattern) or a property may
    raise anything, ImportError above all; only AttributeError means "not declared".
    """
    try:
        return getattr(module, name, default)
    except Exception as exc:  # noqa: BLE001 - plugin code: any failure is the plugin's
        raise InvalidProviderError(f"reading `{name}` raised {exception_text(exc)}") from None


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` for a message, short, and safe from a ``__repr__`` that raises."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - plugin objects may not even print
        return f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def plain(text: str) -> str:
    """The text of a ``str`` subclass as a plain ``str``: its methods never run again."""
    return str.__str__(text)


def text(module: object, name: str, wrong: str) -> str | None:
    """An optional str attribute, as a plain str; None when it is not declared."""
    value = read(module, name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidProviderError(f"{wrong}, not {shown(value)}")
    return plain(value)


def plain_option(opt: Option) -> Option:
    """A plain :class:`Option` (not a subclass) whose declaration can be shown as JSON.

    ``providers --json`` and ``show --json`` print every declaration, so a default that
    JSON cannot carry (bytes, a set, NaN, infinity) is refused now, not half-way
    through a listing of every provider.
    """
    fields = {field.name: getattr(opt, field.name) for field in attrs.fields(Option)}
    fields["name"] = plain(fields["name"])
    if isinstance(fields["help"], str):
        fields["help"] = plain(fields["help"])
    try:
        option = Option(**fields)
    except (TypeError, ValueError) as exc:
        raise InvalidProviderError(f"`options`: {exc}") from None
    problem = json_problem(option.default)
    if problem:
        raise InvalidProviderError(
            f"option {option.name!r}: its default {shown(option.default)} {problem}; "
            "a default must be JSON data: a bool, a finite number, a str, a list of str or None"
        )
    problem = json_problem(option.to_dict())
    if problem:
        raise InvalidProviderError(f"option {option.name!r}: its declaration {problem}")
    return option


def json_problem(value: object) -> str | None:
    """Why ``value`` cannot be printed as strict JSON in UTF-8, or None when it can."""
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "holds text that is not valid Unicode (a lone surrogate)"
    except ValueError:
        return "is not finite (NaN or infinity)"
    except (TypeError, RecursionError) as exc:
        return f"cannot be shown as JSON ({exception_text(exc)})"
    return None
