"""Reading ``_create_completion``'s signature: what it takes, and gpt4free's ``params``.

``inspect.signature`` reads any callable (a function, a bound method, a partial, an
object with ``__call__``); a callable whose signature cannot be read, or whose reading
runs plugin code that raises, is the provider's contract problem.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from g4f_core.options import Option
from g4f_core.plugins.attributes import InvalidProviderError
from g4f_core.plugins.sources import exception_text

__all__ = ["derive_params", "parameters", "signature", "type_name"]


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
    except Exception as exc:  # noqa: BLE001 - a callable object's attributes are plugin code
        raise InvalidProviderError(
            f"the signature of `_create_completion` could not be read: {exception_text(exc)}"
        ) from None


def signature(fn: Callable[..., Any]) -> tuple[list[tuple[str, str]], set[str], bool]:
    """Positional parameters with type names, keyword names, and whether **kwargs is taken."""
    params = parameters(fn)
    positional = [
        (p.name, type_name(None if p.annotation is p.empty else p.annotation))
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    keywords = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    varkw = any(p.kind is p.VAR_KEYWORD for p in params)
    return positional, keywords, varkw


def type_name(annotation: object) -> str:
    if annotation is None:
        return "Any"
    if isinstance(annotation, str):  # postponed annotation: "list[dict[str, str]]" -> "list"
        return annotation.split("[", 1)[0].strip()
    origin = getattr(annotation, "__origin__", None)
    return getattr(origin or annotation, "__name__", None) or str(annotation)


def derive_params(qualified: str, fn: Callable[..., Any], options: tuple[Option, ...]) -> str:
    """gpt4free's ``params`` string, with every declared option and its default added."""
    positional, _, _ = signature(fn)
    declared = {opt.name for opt in options}
    parts = [f"{name}: {kind}" for name, kind in positional if name not in declared]
    parts += [opt.describe() for opt in options]
    return f"{qualified} supports: ({', '.join(parts)})"
