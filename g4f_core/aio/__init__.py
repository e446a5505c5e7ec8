"""The async API: ``acomplete`` and ``astream``, for code running on an asyncio loop.

There is no second implementation of calls. A request is checked by the same
``planning.prepare`` as the sync API, on the caller's thread and before anything is
awaited, so a bad request raises the same typed error at once. The call is then the
sync :class:`~g4f_core.calls.ChatStream`, stepped on a bounded pool of worker threads
(workers.py) and handed to the loop in batches (handoff.py); retries, fallback,
``timeout``, ``deadline``, ``partial_text``, ``attempts`` and the observer hooks are
therefore exactly the sync API's. Providers need nothing new.
"""

from __future__ import annotations

from typing import Any

from g4f_core.aio.stream import AsyncChatStream
from g4f_core.aio.workers import read_limit
from g4f_core.planning import prepare
from g4f_core.plugins.provider import ProviderInfo
from g4f_core.plugins.registry import Registry, default_registry

__all__ = ["AsyncChatStream", "acomplete", "astream"]


def open_stream(
    registry: Registry | None,
    messages: Any,
    *,
    provider: str | ProviderInfo | None,
    model: str | None,
    stream: bool,
    options: dict[str, Any],
) -> AsyncChatStream:
    """Check everything (typed errors, no I/O, nothing awaited) and make the stream."""
    plan = prepare(
        registry or default_registry(),
        messages,
        provider=provider,
        model=model,
        stream=stream,
        options=options,
    )
    read_limit()  # a bad G4F_CORE_ASYNC_WORKERS is a bad request too
    return AsyncChatStream(plan)


def astream(
    messages: Any,
    *,
    provider: str | ProviderInfo | None = None,
    model: str | None = None,
    registry: Registry | None = None,
    **options: Any,
) -> AsyncChatStream:
    """Stream a reply on an event loop; everything is checked before this returns.

    Use ``async with astream(...) as chunks: async for chunk in chunks: ...``.
    """
    return open_stream(
        registry, messages, provider=provider, model=model, stream=True, options=options
    )


async def acomplete(
    messages: Any,
    *,
    provider: str | ProviderInfo | None = None,
    model: str | None = None,
    registry: Registry | None = None,
    **options: Any,
) -> str:
    """The whole reply as one string, without blocking the loop."""
    chunks = open_stream(
        registry, messages, provider=provider, model=model, stream=False, options=options
    )
    return await chunks._collect()
