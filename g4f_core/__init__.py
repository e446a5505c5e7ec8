"""g4f-core: call LLM chat providers by name through one interface.

Importing the package is nearly free: names are loaded on first use, and providers
are discovered only when first asked for. See README.md for a tour.
"""

from __future__ import annotations

import importlib

# `typing` alone costs more than the rest of this module; mypy reads the name, not its origin.
TYPE_CHECKING = False

__version__ = "0.1.0"

__all__ = [
    "AllProvidersFailedError",
    "AmbiguousProviderError",
    "AsyncChatStream",
    "Attempt",
    "AuthRequiredError",
    "CallContext",
    "CallEvent",
    "ChatCompletion",
    "ChatStream",
    "Client",
    "Config",
    "Emulator",
    "G4FError",
    "GatewayConfig",
    "InvalidRequestError",
    "ModelNotSupportedError",
    "Option",
    "Origin",
    "PluginFailure",
    "PluginLoadError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderInfo",
    "ProviderNotFoundError",
    "ProviderNotWorkingError",
    "ProviderResponseError",
    "ProviderTable",
    "ProviderTimeoutError",
    "RateLimitError",
    "Registry",
    "StreamNotSupportedError",
    "__version__",
    "acomplete",
    "astream",
    "complete",
    "current",
    "default_registry",
    "failures",
    "get_provider",
    "hookimpl",
    "list_providers",
    "load_config",
    "make_gateway",
    "stream",
]

_HOME = {
    "AsyncChatStream": "aio.stream",
    "acomplete": "aio",
    "astream": "aio",
    "ChatCompletion": "api",
    "complete": "api",
    "failures": "api",
    "get_provider": "api",
    "list_providers": "api",
    "stream": "api",
    "ChatStream": "calls",
    "CallContext": "context",
    "current": "context",
    "Client": "transport.client",
    "Emulator": "plugins.provider",
    "GatewayConfig": "gateway.config",
    "make_gateway": "gateway.app",
    "CallEvent": "plugins.hookspecs",
    "hookimpl": "plugins.marker",
    "Option": "options",
    "Config": "plugins.config",
    "Origin": "plugins.config",
    "ProviderTable": "plugins.config",
    "load_config": "plugins.config",
    "ProviderInfo": "plugins.provider",
    "PluginFailure": "plugins.registry",
    "Registry": "plugins.registry",
    "default_registry": "plugins.registry",
}

if TYPE_CHECKING:
    from typing import Any

    from g4f_core.aio import acomplete, astream
    from g4f_core.aio.stream import AsyncChatStream
    from g4f_core.api import (
        ChatCompletion,
        complete,
        failures,
        get_provider,
        list_providers,
        stream,
    )
    from g4f_core.calls import ChatStream
    from g4f_core.context import CallContext, current
    from g4f_core.errors import (
        AllProvidersFailedError,
        AmbiguousProviderError,
        Attempt,
        AuthRequiredError,
        G4FError,
        InvalidRequestError,
        ModelNotSupportedError,
        PluginLoadError,
        ProviderConnectionError,
        ProviderError,
        ProviderHTTPError,
        ProviderNotFoundError,
        ProviderNotWorkingError,
        ProviderResponseError,
        ProviderTimeoutError,
        RateLimitError,
        StreamNotSupportedError,
    )
    from g4f_core.gateway.app import make_gateway
    from g4f_core.gateway.config import GatewayConfig
    from g4f_core.options import Option
    from g4f_core.plugins.config import Config, Origin, ProviderTable, load_config
    from g4f_core.plugins.hookspecs import CallEvent
    from g4f_core.plugins.marker import hookimpl
    from g4f_core.plugins.provider import Emulator, ProviderInfo
    from g4f_core.plugins.registry import PluginFailure, Registry, default_registry
    from g4f_core.transport.client import Client


def __getattr__(name: str) -> Any:
    """Import public names on first use, so `import g4f_core` costs almost nothing."""
    if name not in __all__:
        raise AttributeError(f"module 'g4f_core' has no attribute {name!r}")
    module = importlib.import_module(f".{_HOME.get(name, 'errors')}", __name__)
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
