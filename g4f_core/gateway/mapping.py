"""An OpenAI chat-completions body -> one library call, checked before any I/O.

Standard parameters reach a provider through its declared options: an ``Option`` lists
the OpenAI names it answers to (H2o's ``max_new_tokens`` answers to ``max_tokens``).
A provider's own options that OpenAI lacks are extra body fields under their own
names. A standard parameter the provider cannot honour is a 400 naming it, except the
harmless ones below. Transport settings (``base_url``, ``proxy``, ``auth``, ...) are
the server's alone: a body naming one is refused, so no client can point the gateway
at an address of its choosing or make it use another credential.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from g4f_core.calls import ChatStream
from g4f_core.gateway.catalog import resolve
from g4f_core.gateway.errors import WireError, bad_request
from g4f_core.options import FRAMEWORK_OPTIONS
from g4f_core.planning import prepare
from g4f_core.plugins.provider import ProviderInfo
from g4f_core.plugins.registry import Registry

__all__ = ["HARMLESS", "STANDARD", "TRANSPORT", "ChatCall", "build_call", "open_stream"]

#: OpenAI chat-completions parameters a provider must honour (or the call is refused).
STANDARD = frozenset(
    {
        "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
        "max_completion_tokens", "max_tokens", "metadata", "modalities", "n",
        "parallel_tool_calls", "prediction", "presence_penalty", "reasoning_effort",
        "response_format", "seed", "service_tier", "stop", "store", "stream_options",
        "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user",
        "web_search_options", "verbosity", "prompt_cache_key", "safety_identifier",
    }
)  # fmt: skip

#: Accepted and ignored whatever the provider: they change nothing a provider produces.
HARMLESS = frozenset({"user", "stream_options", "metadata", "store", "prompt_cache_key",
                      "safety_identifier", "service_tier"})  # fmt: skip

#: Values that are OpenAI's own defaults, so sending them asks for nothing.
NEUTRAL: Mapping[str, tuple[Any, ...]] = {
    "n": (1,),
    "top_p": (1, 1.0),
    "presence_penalty": (0, 0.0),
    "frequency_penalty": (0, 0.0),
    "logprobs": (False,),
    "logit_bias": ({},),
    "stop": ([],),
    "tools": ([],),
    "response_format": ({"type": "text"},),
}

#: Names a body may never carry: the server decides where and how it connects.
TRANSPORT = frozenset({opt.name for opt in FRAMEWORK_OPTIONS}) | {
    "api_key", "api_base", "headers", "proxies", "verify", "cert", "cookies", "url",
}  # fmt: skip

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


@attrs.frozen
class ChatCall:
    """A checked chat request: who answers, what it is told, and with which options."""

    model_id: str  # as the client named it, echoed in the reply
    provider: ProviderInfo | None
    model: str
    messages: list[dict[str, str]] = attrs.field(repr=False)
    stream: bool  # what the client asked for
    options: dict[str, Any] = attrs.field(repr=False)


def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise bad_request("the request body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object", code="invalid_json")
    return body


def _content(content: object, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind != "text" or not isinstance(part.get("text"), str):
                shown = repr(kind) if isinstance(kind, str) and len(kind) < 40 else "this"
                raise bad_request(
                    f"{where}.content[{j}]: content parts of type {shown} are not supported; "
                    "send text, or parts of type 'text'",
                    param="messages",
                )
            texts.append(part["text"])
        return "".join(texts)
    raise bad_request(
        f"{where}.content must be a string or a list of text parts, not {type(content).__name__}",
        param="messages",
    )


def convert_messages(messages: object) -> list[dict[str, str]]:
    """OpenAI messages -> the library's (system/user/assistant, str content)."""
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty list", param="messages")
    result = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise bad_request(f"{where} must be an object", param="messages")
        role = message.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            shown = repr(role) if isinstance(role, str) and len(role) < 40 else "missing"
            raise bad_request(
                f"{where}.role {shown} is not supported (system, developer, user, assistant)",
                param="messages",
            )
        result.append({"role": _ROLES[role], "content": _content(message.get("content"), where)})
    return result


def _refuse(key: str, info: ProviderInfo) -> WireError:
    return bad_request(
        f"provider {info.name!r} cannot honour {key!r}; leave it out or choose another model",
        param=key,
        code="unsupported_parameter",
    )


def map_options(info: ProviderInfo, body: Mapping[str, Any]) -> dict[str, Any]:
    """The provider options a body asks for; 400 for what the provider cannot do."""
    declared = {opt.name for opt in info.options}
    by_openai = {name: opt.name for opt in info.options for name in opt.openai}
    options: dict[str, Any] = {}
    source: dict[str, str] = {}
    for key, value in body.items():
        if key in ("model", "messages", "stream"):
            continue
        target = key
        if key not in declared and key in STANDARD:
            if value is None or key in HARMLESS or value in NEUTRAL.get(key, ()):
                continue
            if key == "n":
                raise bad_request("only n=1 is supported", param="n", code="unsupported_value")
            if key in by_openai:
                target = by_openai[key]
            elif not info.accepts_any_option:
                raise _refuse(key, info)
        if target in options and options[target] != value:
            raise bad_request(
                f"{source[target]!r} and {key!r} both set {target!r}, to different values",
                param=key,
            )
        options[target] = value
        source[target] = key
    return options


def _options_by_model(registry: Registry, model: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """For a bare model: the mapping of the first serving provider that can honour the body.

    Providers that take other option names are then skipped by the library, as it skips
    any candidate that cannot take a call.
    """
    first: WireError | None = None
    for info in registry.select(model=model, working=True) or registry.select(model=model):
        try:
            return map_options(info, body)
        except WireError as exc:
            first = first or exc
    assert first is not None
    raise first


def build_call(registry: Registry, body: Mapping[str, Any]) -> ChatCall:
    """Check a chat-completions body against the registry; typed errors, no I/O."""
    for key in body:
        if key in TRANSPORT:
            raise bad_request(
                f"{key!r} is a transport setting of the gateway's own; a request cannot set it",
                param=key,
                code="forbidden_parameter",
            )
    model_id = body.get("model")
    info, model = resolve(registry, model_id)
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise bad_request("'stream' must be true or false", param="stream")
    messages = convert_messages(body.get("messages"))
    options = map_options(info, body) if info else _options_by_model(registry, model, body)
    return ChatCall(str(model_id), info, model, messages, stream, options)


def open_stream(registry: Registry, call: ChatCall) -> ChatStream:
    """The one place the gateway calls the library; raises typed errors before any I/O.

    A provider that cannot stream answers whole, and the relay sends that as a stream.
    """
    if call.provider is not None:
        stream = call.stream and call.provider.supports_stream
    else:
        serving = registry.select(model=call.model)
        stream = call.stream and any(info.supports_stream for info in serving)
    plan = prepare(
        registry,
        call.messages,
        provider=call.provider,
        model=call.model,
        stream=stream,
        options=call.options,
    )
    return ChatStream(plan)
