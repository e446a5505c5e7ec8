"""What the OpenAI-compatible emulator answers: request checks, replies, errors, event framing.

Pure functions and records, no sockets: ``server.py`` feeds them requests and writes out
what they return. The checks are the chat-completions API's own (ranges, roles, known
parameters), so a provider that let a bad value through would see the 400 a real server
sends. :class:`Behaviour` holds the switches for the variants real servers produce and
for the failures tests need; each request reads it when it arrives.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FRAMINGS",
    "Behaviour",
    "Reply",
    "check_request",
    "error_body",
    "event_prefix",
    "frame",
    "reply_tokens",
]

#: How events are written: ``data: x\n\n`` (OpenAI, vLLM, Ollama), ``data:x\n\n`` (no space
#: after the colon), ``data: x\r\n\r\n`` (llama.cpp's own server, some proxies).
FRAMINGS = ("standard", "compact", "crlf")
ROLES = {"system", "user", "assistant", "developer", "tool"}
KNOWN = {
    "model", "messages", "stream", "temperature", "top_p", "max_tokens",
    "max_completion_tokens", "stop", "seed", "presence_penalty", "frequency_penalty",
    "n", "user", "stream_options", "logprobs", "top_logprobs", "logit_bias",
    "response_format", "tools", "tool_choice", "parallel_tool_calls",
}  # fmt: skip
_RANGES = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}


@dataclass
class Behaviour:
    """Switches read by every request as it arrives; tests may change them between calls."""

    token_delay: float = 0.0  # seconds before each token
    framing: str = "standard"  # one of FRAMINGS
    keepalive: bool = False  # a ": keep-alive" comment before every event
    role_chunk: bool = True  # a first chunk carrying only the assistant role
    finish: bool = True  # the last chunk carries finish_reason
    usage: bool = False  # a usage-only chunk (choices: []) before the end
    done: bool = True  # end with data: [DONE] (some servers just close the body)
    empty_stream: bool = False  # a 200 stream with no events (llama.cpp, context overflow)
    cut_after: int | None = None  # end the body cleanly after N tokens: no finish, no [DONE]
    abort_after: int | None = None  # close the connection after N tokens, mid-body
    error_after: int | None = None  # after N tokens, an {"error": ...} event
    fail_status: int | None = None  # answer chat requests with this status ...
    fail_times: int | None = None  # ... this many times (None: every time)
    error_shape: str = "openai"  # "openai" ({"error": {...}}), "detail", or "text"
    error_message: str = "the emulator was told to fail"
    retry_after: str | None = None  # the Retry-After header of a failure
    reply: str | None = None  # the reply's text instead of the default one
    reply_tokens: int | None = None  # a reply of exactly this many tokens (benchmarks)


@dataclass(frozen=True)
class Reply:
    """A checked request: what to answer, and how."""

    model: str
    tokens: tuple[str, ...]
    finish_reason: str
    stream: bool
    prompt_tokens: int


class RequestError(Exception):
    """A request the API refuses: status, error type, code and message."""

    def __init__(self, status: int, message: str, kind: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.code, self.message = status, kind, code, message


def _bad(message: str, param: str | None = None) -> RequestError:
    return RequestError(400, message, "invalid_request_error", param)


def check_request(body: object, models: Sequence[str], behaviour: Behaviour) -> Reply:
    """Check a chat-completions body as the API does; raise RequestError for a refusal."""
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object")
    unknown = sorted(set(body) - KNOWN)
    if unknown:
        raise _bad(f"Unrecognized request argument supplied: {unknown[0]}", unknown[0])
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("you must provide a model parameter", "model")
    if model not in models:
        raise RequestError(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        )
    messages = _messages(body.get("messages"))
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("'stream' must be a boolean", "stream")
    _check_options(body)
    tokens = reply_tokens(messages, model, behaviour)
    text_limit = body.get("max_tokens") or body.get("max_completion_tokens")
    finish = "stop"
    stops = body.get("stop")
    if stops:
        tokens, cut = _cut_at_stop(tokens, [stops] if isinstance(stops, str) else stops)
        finish = "stop" if cut else finish
    if isinstance(text_limit, int) and len(tokens) > text_limit:
        tokens, finish = tokens[:text_limit], "length"
    prompt = sum(len(str(m.get("content", "")).split()) for m in messages)
    return Reply(model, tuple(tokens), finish, stream, prompt)


def _messages(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise _bad("'messages' must be a non-empty array", "messages")
    for index, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise _bad(f"messages[{index}]: 'role' must be one of {sorted(ROLES)}", "messages")
        if not isinstance(message.get("content"), str | list):
            raise _bad(f"messages[{index}]: 'content' must be a string", "messages")
    return value


def _check_options(body: Mapping[str, Any]) -> None:
    for name, (low, high) in _RANGES.items():
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad(f"'{name}' must be a number", name)
        if not low <= value <= high:
            raise _bad(f"{value} is out of range for '{name}': {low:g} to {high:g}", name)
    for name in ("max_tokens", "max_completion_tokens", "seed"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise _bad(f"'{name}' must be an integer", name)
        if name != "seed" and value is not None and value < 1:
            raise _bad(f"'{name}' must be at least 1", name)
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str):
        if not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
            raise _bad("'stop' must be a string or an array of strings", "stop")
        if len(stop) > 4:
            raise _bad("'stop' takes at most 4 sequences", "stop")


def reply_tokens(
    messages: Sequence[Mapping[str, Any]], model: str, behaviour: Behaviour
) -> list[str]:
    """The reply before any cut: deterministic, so a streamed and a whole reply agree."""
    if behaviour.reply_tokens is not None:
        words = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta")
        return [f" {words[i % len(words)]}" for i in range(behaviour.reply_tokens)]
    text = behaviour.reply
    if text is None:
        text = (
            f"Hello from {model}! This is the g4f-core emulator of the OpenAI chat "
            f"completions API, answering {len(messages)} message(s)."
        )
    return re.findall(r"\s*\S+|\s+$", text) or [text]


def _cut_at_stop(tokens: list[str], stops: Sequence[str]) -> tuple[list[str], bool]:
    text = "".join(tokens)
    at = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    if at < 0:
        return tokens, False
    kept, length = [], 0
    for token in tokens:
        if length + len(token) > at:
            if at > length:
                kept.append(token[: at - length])
            break
        kept.append(token)
        length += len(token)
    return kept, True


def error_body(
    shape: str, status: int, message: str, kind: str = "server_error", code: str | None = None
) -> tuple[bytes, str]:
    """An error reply in one of the three shapes real servers send, and its content type."""
    if shape == "detail":  # FastAPI servers (vLLM's older routes, many proxies)
        return json.dumps({"detail": message}).encode(), "application/json"
    if shape == "text":  # reverse proxies, plain servers
        return message.encode(), "text/plain; charset=utf-8"
    error = {"message": message, "type": kind, "param": None, "code": code}
    return json.dumps({"error": error}).encode(), "application/json"


def event_prefix(model: str, serial: int) -> tuple[bytes, bytes]:
    """The bytes of a content chunk before and after its JSON-encoded text.

    Built once per stream, so each token costs one ``json.dumps`` of its text: the server
    must be fast enough that a client, not the emulator, is what a benchmark measures.
    """
    head = (
        f'{{"id":"chatcmpl-emu-{serial}","object":"chat.completion.chunk",'
        f'"created":{int(time.time())},"model":{json.dumps(model)},'
        '"choices":[{"index":0,"delta":{"content":'
    )
    return head.encode(), b'},"finish_reason":null}]}'


def chunk(model: str, serial: int, delta: Mapping[str, Any], finish: str | None) -> bytes:
    choice = {"index": 0, "delta": dict(delta), "finish_reason": finish}
    return json.dumps(
        {
            "id": f"chatcmpl-emu-{serial}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [choice],
        }
    ).encode()


def usage_chunk(model: str, serial: int, reply: Reply) -> bytes:
    usage = {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": len(reply.tokens),
        "total_tokens": reply.prompt_tokens + len(reply.tokens),
    }
    data = {"id": f"chatcmpl-emu-{serial}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model, "choices": [], "usage": usage}  # fmt: skip
    return json.dumps(data).encode()


def whole(reply: Reply, serial: int) -> bytes:
    """The non-streaming answer."""
    text = "".join(reply.tokens)
    return json.dumps(
        {
            "id": f"chatcmpl-emu-{serial}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": len(reply.tokens),
                "total_tokens": reply.prompt_tokens + len(reply.tokens),
            },
        }
    ).encode()


def frame(data: bytes, framing: str, keepalive: bool) -> bytes:
    """One server-sent event carrying ``data``, as the chosen framing writes it."""
    end = b"\r\n" if framing == "crlf" else b"\n"
    head = b"data:" if framing == "compact" else b"data: "
    ping = b": keep-alive" + end + end if keepalive else b""
    return ping + head + data + end + end


def stream_events(reply: Reply, serial: int, behaviour: Behaviour) -> Iterator[tuple[str, bytes]]:
    """The events of a streamed reply, each tagged "token" (one per token) or "meta"."""
    framing, ping = behaviour.framing, behaviour.keepalive
    if behaviour.empty_stream:
        return
    if behaviour.role_chunk:
        yield "meta", frame(chunk(reply.model, serial, {"role": "assistant"}, None), framing, ping)
    head, tail = event_prefix(reply.model, serial)
    framed: dict[str, bytes] = {}  # a token seen before costs one lookup
    for index, token in enumerate(reply.tokens):
        if behaviour.error_after is not None and index == behaviour.error_after:
            error = {"message": behaviour.error_message, "type": "server_error", "code": None}
            yield "meta", frame(json.dumps({"error": error}).encode(), framing, ping)
            return
        if behaviour.cut_after is not None and index == behaviour.cut_after:
            return
        if behaviour.abort_after is not None and index == behaviour.abort_after:
            yield "abort", b""
            return
        data = framed.get(token)
        if data is None:
            data = framed[token] = frame(head + json.dumps(token).encode() + tail, framing, ping)
        yield "token", data
    if behaviour.finish:
        yield "meta", frame(chunk(reply.model, serial, {}, reply.finish_reason), framing, ping)
    if behaviour.usage:
        yield "meta", frame(usage_chunk(reply.model, serial, reply), framing, ping)
    if behaviour.done:
        yield "meta", frame(b"[DONE]", framing, ping)
