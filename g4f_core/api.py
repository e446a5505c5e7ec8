"""The public call and lookup functions, over the process-wide registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from g4f_core.calls import ChatStream
from g4f_core.errors import InvalidRequestError
from g4f_core.planning import prepare
from g4f_core.plugins.provider import InvalidProviderError, ProviderInfo
from g4f_core.plugins.registry import PluginFailure, Registry, default_registry

if TYPE_CHECKING:
    from g4f_core.aio.stream import AsyncChatStream

__all__ = [
    "ChatCompletion",
    "complete",
    "failures",
    "get_provider",
    "list_providers",
    "stream",
]


def list_providers(
    *,
    model: str | None = None,
    stream: bool | None = None,
    needs_auth: bool | None = None,
    working: bool | None = None,
) -> list[ProviderInfo]:
    """Installed providers matching every given filter, sorted by name."""
    return default_registry().select(
        model=model, stream=stream, needs_auth=needs_auth, working=working
    )


def get_provider(name: str) -> ProviderInfo:
    """A provider by name (case-insensitive) or ``distribution:Name``."""
    return default_registry().get(name)


def failures() -> list[PluginFailure]:
    """Plugins that failed to load, with their distribution and the reason."""
    return default_registry().failures()


def stream(
    messages: Any,
    *,
    provider: str | ProviderInfo | None = None,
    model: str | None = None,
    registry: Registry | None = None,
    **options: Any,
) -> ChatStream:
    """Stream a reply chunk by chunk; everything is checked before this returns.

    ``registry`` is where ``provider`` (or the providers serving ``model``) are looked
    up, and whose observers see the call; by default the installed providers.
    """
    return _call(messages, provider, model, registry, True, options)


def complete(
    messages: Any,
    *,
    provider: str | ProviderInfo | None = None,
    model: str | None = None,
    registry: Registry | None = None,
    **options: Any,
) -> str:
    """The whole reply as one string (``registry`` as for :func:`stream`)."""
    with _call(messages, provider, model, registry, False, options) as chunks:
        return "".join(chunks)


def _call(
    messages: Any,
    provider: str | ProviderInfo | None,
    model: str | None,
    registry: Registry | None,
    streaming: bool,
    options: dict[str, Any],
) -> ChatStream:
    plan = prepare(
        registry or default_registry(),
        messages,
        provider=provider,
        model=model,
        stream=streaming,
        options=options,
    )
    return ChatStream(plan)


def _as_provider(provider: object, registry: Registry) -> str | ProviderInfo | None:
    """Accept gpt4free-style provider modules and objects as well as names."""
    if provider is None or isinstance(provider, str | ProviderInfo):
        return provider
    for info in registry.providers():
        if info.module is provider:
            return info
    name = str(getattr(provider, "__name__", type(provider).__name__)).rsplit(".", 1)[-1]
    try:
        return ProviderInfo.from_module(provider, name=name)
    except InvalidProviderError as exc:
        raise InvalidRequestError(
            f"provider object {name!r} is not a valid provider: {exc}"
        ) from None


class ChatCompletion:
    """gpt4free's entry point, kept so that existing code runs unchanged."""

    @staticmethod
    def create(
        model: str | None,
        messages: Any,
        provider: object = None,
        stream: bool = False,
        auth: str | bool | None = None,
        *,
        registry: Registry | None = None,
        **kwargs: Any,
    ) -> str | ChatStream:
        """A str, or an iterator of str chunks when ``stream=True``."""
        if isinstance(auth, str) and auth:
            kwargs["auth"] = auth  # gpt4free passed auth=False when there was none
        registry = registry or default_registry()
        chunks = _call(messages, _as_provider(provider, registry), model, registry, stream, kwargs)
        if stream:
            return chunks
        with chunks:
            return "".join(chunks)

    @staticmethod
    async def create_async(
        model: str | None,
        messages: Any,
        provider: object = None,
        stream: bool = False,
        auth: str | bool | None = None,
        *,
        registry: Registry | None = None,
        **kwargs: Any,
    ) -> str | AsyncChatStream:
        """``create`` for asyncio: a str, or an async iterator of str when ``stream=True``."""
        from g4f_core.aio import open_stream  # asyncio is imported only by async callers

        if isinstance(auth, str) and auth:
            kwargs["auth"] = auth
        registry = registry or default_registry()
        chunks = open_stream(
            registry,
            messages,
            provider=_as_provider(provider, registry),
            model=model,
            stream=stream,
            options=kwargs,
        )
        return chunks if stream else await chunks._collect()
