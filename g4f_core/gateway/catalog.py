"""What the gateway offers: model ids, the provider listing, health, and id resolution.

A model id is ``Provider/model`` (that provider only) or a bare model name (every
working provider serving it, in name order, falling back before the first token: the
library's ``provider=None`` rule). A provider whose name two distributions declare is
listed under its qualified name, ``distribution:Name/model``.
"""

from __future__ import annotations

from typing import Any

from g4f_core.cli.output import providers_document
from g4f_core.errors import ProviderNotFoundError
from g4f_core.gateway.errors import WireError
from g4f_core.options import closest
from g4f_core.plugins.provider import ProviderInfo
from g4f_core.plugins.registry import Registry

__all__ = ["health", "model_ids", "models_document", "providers_listing", "resolve"]


def _label(info: ProviderInfo, clashing: set[str]) -> str:
    return info.qualified_name if info.name.lower() in clashing else info.name


def model_ids(registry: Registry) -> list[tuple[str, str]]:
    """Every id with its owner: ``Provider/model`` per provider and model, then bare names."""
    infos = registry.providers()
    names = [info.name.lower() for info in infos]
    clashing = {n for n in names if names.count(n) > 1}
    ids = [(f"{_label(i, clashing)}/{m}", _label(i, clashing)) for i in infos for m in i.models]
    bare = sorted({m for info in infos for m in info.models})
    return ids + [(m, "g4f-core") for m in bare]


def models_document(registry: Registry) -> dict[str, Any]:
    """The OpenAI list shape of ``GET /v1/models``."""
    return {
        "object": "list",
        "data": [
            {"id": model, "object": "model", "created": 0, "owned_by": owner}
            for model, owner in model_ids(registry)
        ],
    }


def model_entry(registry: Registry, model: str) -> dict[str, Any]:
    for found, owner in model_ids(registry):
        if found == model:
            return {"id": found, "object": "model", "created": 0, "owned_by": owner}
    raise _unknown(registry, model)


def providers_listing(registry: Registry) -> dict[str, Any]:
    """``g4f-core providers --json``, each provider with its last check."""
    from g4f_core.kit import checks

    infos = registry.providers()
    return providers_document(infos, registry.failures(), checks.load(infos))


def health(registry: Registry, active: int, limit: int) -> dict[str, Any]:
    infos = registry.providers()
    return {
        "status": "ok",
        "providers": len(infos),
        "working": sum(1 for info in infos if info.working),
        "failures": len(registry.failures()),
        "streams": {"active": active, "max": limit},
    }


def _unknown(registry: Registry, model: str) -> WireError:
    known = [m for m, _ in model_ids(registry)]
    hint = closest(model, known)
    maybe = f"; did you mean {hint!r}?" if hint else ""
    return WireError(
        404,
        f"the model {model!r} does not exist{maybe} (GET /v1/models lists every id)",
        code="model_not_found",
        param="model",
        retry=False,
    )


def resolve(registry: Registry, model: object) -> tuple[ProviderInfo | None, str]:
    """(provider, model) for an id: the provider is None for a bare model name."""
    if not isinstance(model, str) or not model.strip():
        raise WireError(
            400, "'model' is required: an id from GET /v1/models", param="model", retry=False
        )
    head, sep, tail = model.partition("/")
    if sep and tail:
        try:
            return registry.get(head), tail
        except ProviderNotFoundError as exc:
            if type(exc) is not ProviderNotFoundError:
                raise  # ambiguous: its message names the qualified choices
    if registry.select(model=model):
        return None, model
    raise _unknown(registry, model)
