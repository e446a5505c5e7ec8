"""OpenAI-compatible endpoints: one provider per ``[providers.NAME]`` table of the config file.

Most services and local servers speak the OpenAI chat-completions protocol (OpenAI,
Ollama, vLLM, llama.cpp's server, LM Studio, text-generation-inference's Messages API,
OpenRouter, Groq, Together, DeepSeek, Mistral), so one module serves them all: the
config file says where each endpoint is, and this plugin's register hook turns each
table with ``protocol = "openai"`` into a provider of its own, listed, selected,
checked and configured (``G4F_CORE_<NAME>_URL``, ``G4F_CORE_<NAME>_AUTH``) like any
other. It uses only g4f-core's public provider-author names. Nothing here touches the
network while providers are listed: the wire protocol (``_wire.py``) is imported by
the first call, and the emulator (``server.py``) by the first ``emulator(...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from g4f_core import Option, hookimpl

if TYPE_CHECKING:
    from g4f_core import Config, Emulator, Origin, ProviderTable

__all__ = ["PROTOCOL", "Endpoint", "g4f_core_register_providers", "options"]

PROTOCOL = "openai"

#: The chat-completions parameters every endpoint accepts, with the API's own ranges.
#: None means "not sent": the server's default applies.
options = (
    Option("temperature", float, None, "sampling temperature", ge=0, le=2, openai="temperature"),
    Option("top_p", float, None, "nucleus sampling: mass kept", ge=0, le=1, openai="top_p"),
    Option(
        "max_tokens",
        int,
        None,
        "most tokens to generate",
        ge=1,
        openai=["max_tokens", "max_completion_tokens"],
    ),
    Option("stop", (str, list), None, "text (or list of texts) ending the reply", openai="stop"),
    Option("seed", int, None, "seed for repeatable sampling, where supported", openai="seed"),
    Option(
        "presence_penalty",
        float,
        None,
        "penalty for tokens already present",
        ge=-2,
        le=2,
        openai="presence_penalty",
    ),
    Option(
        "frequency_penalty",
        float,
        None,
        "penalty for frequent tokens",
        ge=-2,
        le=2,
        openai="frequency_penalty",
    ),
)


@hookimpl
def g4f_core_register_providers(
    register: Callable[..., None], fail: Callable[..., None], config: Config
) -> None:
    """One provider per table of the config file that speaks this protocol."""
    for table in config.tables_for(PROTOCOL):
        problem = _problem(table)
        if problem:
            fail(table.name, problem, origin=table.origin)
            continue
        register(Endpoint(table), name=table.name, origin=table.origin)


def _problem(table: ProviderTable) -> str | None:
    """What this protocol refuses in a table the core found sound."""
    path = table.base_url.lower().rstrip("/")
    if path.endswith(("/chat/completions", "/completions")):
        return (
            "key 'base_url': give the API root (like http://localhost:11434/v1): "
            "/chat/completions is added to it"
        )
    return None


class Endpoint:
    """One configured endpoint, as a provider: the contract's attributes, from its table."""

    contract_version = 1
    options = options

    def __init__(self, table: ProviderTable) -> None:
        self.url = table.base_url
        self.models: Mapping[str, str] = dict(table.models)
        self.supports_stream = table.supports_stream
        # Needs-auth follows from the presence of a credential setting.
        self.needs_auth = table.auth_env is not None
        self.auth_env = table.auth_env
        self.working = table.working
        self._create_completion = _completion(table.name, self.url, self.models, table)
        self.emulator = _emulator(list(self.models.values()), self.needs_auth)
        self._name = table.name

    def __repr__(self) -> str:
        return f"<OpenAI-compatible endpoint {self._name}>"


def _completion(
    name: str, url: str, models: Mapping[str, str], table: ProviderTable
) -> Callable[..., Iterator[str]]:
    headers = dict(table.headers)
    origin: Origin = table.origin

    def _create_completion(
        model: str, messages: list[dict[str, str]], stream: bool, **kwargs: Any
    ) -> Iterator[str]:
        from ._wire import Endpoint as Route
        from ._wire import chat

        yield from chat(Route(name, url, models, headers, origin), model, messages, stream, kwargs)

    _create_completion.__qualname__ = f"{name}._create_completion"
    return _create_completion


def _emulator(upstream: list[str], needs_auth: bool) -> Callable[..., Emulator]:
    def emulator(host: str = "localhost", port: int = 0, token_delay: float = 0.0) -> Emulator:
        """This endpoint's protocol on loopback: its models, and a key if it wants one."""
        from .server import OpenAIEmulator

        return OpenAIEmulator(
            host, port, models=upstream, token_delay=token_delay, require_auth=needs_auth
        )

    return emulator
