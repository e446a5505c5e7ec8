"""Checks that read a provider's declarations without calling it.

The registry already refuses a module that breaks the contract outright; these checks
catch what loads but misleads callers: models that collide case-insensitively, option
defaults of the wrong type, keyword parameters no caller can ever reach, a hand-written
``params`` that forgets options.
"""

from __future__ import annotations

from g4f_core.context import env_name
from g4f_core.errors import InvalidRequestError
from g4f_core.plugins.provider import InvalidProviderError, ProviderInfo, parameters
from g4f_core.testing.session import Fail, Session

__all__ = ["check_declarations", "check_options"]


def check_declarations(session: Session) -> str:
    info = session.original
    if info.module is not None:
        try:
            ProviderInfo.from_module(info.module, name=info.name)
        except InvalidProviderError as exc:
            raise Fail(f"the module breaks the provider contract: {exc}") from None
    problems = []
    seen: dict[str, str] = {}
    for model in info.models:
        if model != model.strip() or "," in model:
            problems.append(f"model {model!r} has surrounding spaces or a comma")
        other = seen.setdefault(model.lower(), model)
        if other != model:
            problems.append(
                f"models {other!r} and {model!r} differ only in case, but callers select "
                "models case-insensitively"
            )
    if problems:
        raise Fail("; ".join(problems))
    contract = getattr(info.module, "contract_version", None)
    parts = [
        f"{len(info.models)} model(s)",
        "streams" if info.supports_stream else "does not stream",
        "needs a credential" if info.needs_auth else "no credential",
        f"contract version {contract}"
        if contract is not None
        else "contract version 1 (not declared)",
    ]
    if not info.working:
        parts.append("declares working = False (checked anyway)")
    if info.url is None:
        parts.append(f"no url (live runs need {env_name(info.name, 'URL')})")
    return ", ".join(parts)


def check_options(session: Session) -> str:
    info = session.original
    problems = _default_types(info)
    problems += _signature_problems(info)
    notes = []
    explicit = getattr(info.module, "params", None) if info.module is not None else None
    if isinstance(explicit, str):
        missing = [opt.name for opt in info.options if opt.name not in explicit]
        if missing:
            problems.append(
                f"`params` is written by hand and omits {', '.join(missing)}: "
                "delete it and g4f-core derives it from `options`"
            )
        notes.append("params written by hand")
    else:
        notes.append("params derived")
    if problems:
        raise Fail("; ".join(problems))
    if info.accepts_any_option:
        notes.append(
            "no options declared and **kwargs taken: any keyword passes through unchecked "
            "(declare `options` to have them checked)"
        )
    else:
        notes.insert(0, f"{len(info.options)} option(s) agree with _create_completion")
    return "; ".join(notes)


def _default_types(info: ProviderInfo) -> list[str]:
    problems = []
    for opt in info.options:
        if opt.default is None:
            continue
        try:
            opt.check(opt.default, where="")
        except InvalidRequestError:
            problems.append(
                f"option {opt.name!r} is declared {opt.type_name} but its default "
                f"{opt.default!r} is a {type(opt.default).__name__}"
            )
    return problems


def _signature_problems(info: ProviderInfo) -> list[str]:
    """Parameters of ``_create_completion`` that the declared options contradict."""
    try:
        params = parameters(info.create_completion)
    except InvalidProviderError:  # a builtin or C callable: nothing to compare
        return []
    declared = {opt.name: opt for opt in info.options}
    problems = []
    for param in params[3:]:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        opt = declared.get(param.name)
        if param.default is param.empty and opt is None:
            problems.append(
                f"`_create_completion` requires {param.name!r}, but the core passes only "
                "model, messages, stream and the declared options: declare it or give it a "
                "default"
            )
        if opt is None and not info.accepts_any_option:
            problems.append(
                f"`_create_completion` takes {param.name!r}, which `options` does not "
                "declare, so no caller can pass it: declare it"
            )
        elif opt is not None and param.default is not param.empty and param.default != opt.default:
            problems.append(
                f"`_create_completion` defaults {param.name!r} to {param.default!r} but "
                f"`options` declares {opt.default!r}, which is what the core passes: drop the "
                "parameter's default or make it the same"
            )
    return problems
