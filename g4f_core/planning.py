"""Checking a request before anything is sent, and choosing who answers it.

:func:`prepare` checks the messages, the framework options, the provider (or the
candidates that serve the model), the model, streaming, credentials, the provider's
own options and the endpoint settings. It returns a :class:`Plan`, or raises a typed
error naming what is wrong; no connection is ever opened here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from g4f_core.context import CallContext, credential, credential_settings, max_retries
from g4f_core.errors import (
    AuthRequiredError,
    G4FError,
    InvalidRequestError,
    ModelNotSupportedError,
    ProviderNotWorkingError,
    StreamNotSupportedError,
)
from g4f_core.messages import Message, normalize_messages
from g4f_core.options import FRAMEWORK_OPTIONS, check_options, closest, with_defaults
from g4f_core.plugins.provider import ProviderInfo
from g4f_core.plugins.registry import Registry, match_model

__all__ = ["Candidate", "Plan", "context_for", "prepare"]

_FRAMEWORK = {opt.name: opt for opt in FRAMEWORK_OPTIONS}


@attrs.frozen
class Candidate:
    """One provider to try; ``kwargs`` holds every option it declares (defaults filled in)."""

    info: ProviderInfo
    model: str
    kwargs: Mapping[str, Any]


@attrs.frozen
class Plan:
    """A checked request: who to try, in order, and with what."""

    candidates: tuple[Candidate, ...]
    messages: tuple[Message, ...] = attrs.field(repr=False)
    stream: bool
    framework: Mapping[str, Any] = attrs.field(repr=False)
    max_retries: int
    by_name: bool
    registry: Registry = attrs.field(repr=False)


def prepare(
    registry: Registry,
    messages: object,
    *,
    provider: str | ProviderInfo | None,
    model: str | None,
    stream: bool,
    options: Mapping[str, Any],
) -> Plan:
    """Check everything about a request; raise a typed error before any I/O."""
    checked = normalize_messages(messages)
    if model is not None and not isinstance(model, str):
        model = getattr(model, "name", model)  # gpt4free's Model objects carry .name
        if not isinstance(model, str):
            raise InvalidRequestError(f"model must be a str, not {type(model).__name__}")
    # None means "not given" for framework options: the default (or environment) applies.
    framework = {k: v for k, v in options.items() if k in _FRAMEWORK and v is not None}
    framework = check_options(framework, FRAMEWORK_OPTIONS, owner="g4f-core", open_ended=False)
    extra = {k: v for k, v in options.items() if k not in _FRAMEWORK}
    retries = max_retries(framework, registry.environ)
    ask = _Ask(registry, model, stream, framework, extra)
    if provider is not None:
        candidates: tuple[Candidate, ...] = (_check_provider(registry.get(provider), ask),)
    else:
        candidates = _by_model(ask)
    # Settings and environment are checked now too (bad URLs, bad env values).
    for cand in candidates:
        context_for(cand.info, framework, registry.environ)
    return Plan(
        candidates=candidates,
        messages=tuple(checked),
        stream=stream,
        framework=framework,
        max_retries=retries,
        by_name=provider is not None,
        registry=registry,
    )


def context_for(
    info: ProviderInfo,
    framework: Mapping[str, Any],
    environ: Mapping[str, str],
    *,
    started: float | None = None,
) -> CallContext:
    """The settings of one attempt at ``info``: its URL, credential and where it goes."""
    return CallContext.build(
        info.name,
        info.url,
        framework,
        environ,
        started=started,
        auth_env=info.auth_env,
        auth_scheme=info.auth_scheme,
    )


@attrs.frozen
class _Ask:
    """What the caller asked for, as every candidate is checked against it."""

    registry: Registry
    model: str | None
    stream: bool
    framework: Mapping[str, Any]
    extra: Mapping[str, Any]  # the options that are not the framework's


def _check_provider(info: ProviderInfo, ask: _Ask) -> Candidate:
    model = ask.model
    if not info.working:
        raise ProviderNotWorkingError(
            f"provider {info.name!r} declares itself not working; choose another with "
            "`g4f-core providers --working`"
        )
    if model is None:
        short = info.default_model
    else:
        found = match_model(info, model)
        if found is None:
            hint = closest(model, info.models)
            maybe = f"; did you mean {hint!r}?" if hint else ""
            raise ModelNotSupportedError(
                f"provider {info.name!r} does not serve model {model!r}{maybe} "
                f"(served: {', '.join(info.models)})"
            )
        short = found
    if ask.stream and not info.supports_stream:
        raise StreamNotSupportedError(
            f"provider {info.name!r} cannot stream; call it without streaming "
            "(complete(), stream=False or --no-stream)"
        )
    if (
        info.needs_auth
        and credential(info.name, ask.framework, ask.registry.environ, info.auth_env)[0] is None
    ):
        raise AuthRequiredError(
            f"provider {info.name!r} needs a credential: "
            f"{credential_settings(info.name, info.auth_env)}"
        )
    kwargs = check_options(
        ask.extra, info.options, owner=f"provider {info.name!r}", open_ended=info.accepts_any_option
    )
    return Candidate(info, short, with_defaults(kwargs, info.options))


def _by_model(ask: _Ask) -> tuple[Candidate, ...]:
    registry, model = ask.registry, ask.model
    if model is None:
        raise InvalidRequestError("name a provider= or a model= to choose providers by")
    serving = registry.select(model=model)
    if not serving:
        every = sorted({m for p in registry.providers() for m in p.models})
        hint = closest(model, every)
        maybe = f"; did you mean {hint!r}?" if hint else ""
        raise ModelNotSupportedError(
            f"no installed provider serves model {model!r}{maybe} (see `g4f-core models`)"
        )
    candidates, errors = [], []
    for info in serving:
        try:
            candidates.append(_check_provider(info, ask))
        except G4FError as exc:
            errors.append(exc)
    if not candidates:
        raise (
            errors[0]
            if len(errors) == 1
            else type(errors[0])(
                f"no provider can take this call for model {model!r}: "
                + "; ".join(str(e) for e in errors)
            )
        )
    return tuple(candidates)
