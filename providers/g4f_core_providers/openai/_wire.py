"""The chat-completions wire protocol, spoken through g4f-core's public provider surface.

``POST {base_url}/chat/completions`` with ``model``, ``messages``, ``stream`` and the
options the caller gave. A stream is server-sent events until ``data: [DONE]``: the text
is ``choices[0].delta.content``; role-only, empty and usage-only (``choices: []``)
chunks carry none. A complete stream has a chunk with a ``finish_reason``: it may then
end with ``[DONE]`` or just close the body (some servers do); one that ends before any
``finish_reason``, with ``[DONE]`` or without, is a truncated reply (llama.cpp's server
ends an interrupted stream with ``[DONE]``). A whole reply's text is
``choices[0].message.content``. Error replies are mapped by g4f-core's
client; this module adds what only the protocol knows: which setting holds the
credential (401/403), which model was asked for (404), and that the prompt a server
quotes back in an error never reaches a message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from g4f_core import (
    Client,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderResponseError,
    ProviderTimeoutError,
    current,
)

if TYPE_CHECKING:
    import requests

    from g4f_core import CallContext, Origin

__all__ = ["Endpoint", "chat"]

_MASK = "[prompt]"
_RETRYABLE_EVENTS = {"server_error", "overloaded_error", "overloaded", "timeout"}


@dataclass(frozen=True)
class Endpoint:
    """What a call needs of its table: where, which models, which extra headers."""

    name: str
    url: str
    models: Mapping[str, str]
    headers: Mapping[str, str]
    origin: Origin | None = None


def chat(
    endpoint: Endpoint,
    model: str,
    messages: list[dict[str, str]],
    stream: bool,
    options: Mapping[str, Any],
) -> Iterator[str]:
    """Yield the reply's text as it arrives (one chunk when not streaming)."""
    upstream = endpoint.models.get(model, model)
    body: dict[str, Any] = {"model": upstream, "messages": messages, "stream": stream}
    body.update((key, value) for key, value in options.items() if value is not None)
    headers = {"Accept": "text/event-stream" if stream else "application/json"}
    headers.update(endpoint.headers)
    ctx = current()
    try:
        with Client(ctx, base_url=endpoint.url) as http:
            try:
                response = http.request(
                    "POST", "/chat/completions", json=body, headers=headers, stream=stream
                )
            except ProviderHTTPError as exc:
                raise _explained(exc, ctx, endpoint, model, upstream) from None
            if stream:
                yield from _events(http, response)
            else:
                yield _whole(http, response)
    except ProviderError as exc:
        _scrub(exc, messages)
        raise


def _events(http: Client, response: requests.Response) -> Iterator[str]:
    """The text of each content chunk, as its event arrives."""
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "text/event-stream":
        raise _not_a_stream(http, response, ctype)
    events = http.events(response)
    loads = json.loads
    finished = False
    count = 0
    try:
        for data in events:
            if data == "[DONE]":
                if not finished:
                    raise _cut_short(http, "[DONE] came")
                http.finish(response)
                return
            count += 1
            try:
                event = loads(data)
            except (ValueError, RecursionError):
                raise _malformed(http, "an event that is not JSON") from None
            if type(event) is not dict:
                raise _malformed(http, "an event that is not a JSON object")
            if event.get("error") is not None:
                raise _error_event(event["error"])
            choices = event.get("choices")
            if not choices:  # absent, or [] in a usage-only chunk
                continue
            if type(choices) is not list:
                raise _malformed(http, "`choices` that is not a list")
            for choice in choices:
                if type(choice) is not dict:
                    raise _malformed(http, "a choice that is not an object")
                if choice.get("index", 0) != 0:
                    continue  # n > 1: only the first choice is this call's reply
                delta = choice.get("delta")
                if delta:
                    if type(delta) is not dict:
                        raise _malformed(http, "a `delta` that is not an object")
                    text = delta.get("content")
                    if text:
                        if type(text) is not str:
                            raise _malformed(http, "`delta.content` that is not a string")
                        yield text
                if choice.get("finish_reason") is not None:
                    finished = True
    except ProviderTimeoutError:
        if not finished:
            raise
        return  # the last chunk came, then the server held the connection open: complete
    finally:
        events.close()
    if not finished:
        raise _ended_early(http, count)


def _ended_early(http: Client, count: int) -> ProviderError:
    """A body that ended before any finish_reason: empty, or a reply cut short."""
    if count == 0:
        return ProviderResponseError(
            f"{http.origin} answered with an empty stream (no event at all); llama.cpp's "
            "server does this when the prompt exceeds its context window: a call with "
            "stream=False shows the server's own error"
        )
    return _cut_short(http, "the body ended")


def _cut_short(http: Client, how: str) -> ProviderConnectionError:
    """A stream that ended before any chunk carried a finish_reason: a truncated reply."""
    return ProviderConnectionError(
        f"the stream from {http.origin} was cut short: {how} before any chunk carried a "
        "finish_reason (llama.cpp's server does this to a stream that another request "
        "interrupts; start it with --interrupt_requests false)"
    )


def _whole(http: Client, response: requests.Response) -> str:
    try:
        data = json.loads(response.content)
    except (ValueError, RecursionError):
        ctype = response.headers.get("content-type", "") or "no content type"
        raise _malformed(http, f"a reply that is not JSON ({ctype})") from None
    if type(data) is not dict:
        raise _malformed(http, "a reply that is not a JSON object")
    if data.get("error") is not None:
        raise _error_event(data["error"])
    choices = data.get("choices")
    if type(choices) is not list or not choices or type(choices[0]) is not dict:
        raise _malformed(http, "a reply without choices")
    choice = next((c for c in choices if type(c) is dict and c.get("index", 0) == 0), choices[0])
    message = choice.get("message")
    text = message.get("content") if type(message) is dict else None
    if text is None:
        reason = choice.get("finish_reason")
        raise ProviderResponseError(
            f"the reply from {http.origin} carried no text (finish_reason {reason!r}); "
            "tool calls and refusals are not text replies"
        )
    if type(text) is not str:
        raise _malformed(http, "`message.content` that is not a string")
    return text


def _not_a_stream(http: Client, response: requests.Response, ctype: str) -> ProviderError:
    """What a reply to a streaming request that is not a stream means; closes it."""
    try:
        head = http.read_some(response, 4096)
    finally:
        response.close()
    try:
        data = json.loads(head)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict) and data.get("error") is not None:
        return _error_event(data["error"])
    return ProviderResponseError(
        f"{http.origin} answered a streaming request with {ctype or 'no content type'}, not "
        "text/event-stream; if the server cannot stream, set supports_stream = false"
    )


def _malformed(http: Client, what: str) -> ProviderResponseError:
    return ProviderResponseError(
        f"{http.origin} sent {what}; is base_url an OpenAI-compatible API?"
    )


def _error_event(error: object) -> ProviderResponseError:
    """``{"error": ...}`` in a 200 reply or a stream: the server's own failure."""
    kind = None
    if isinstance(error, Mapping):
        message = error.get("message")
        kind = error.get("type") or error.get("code")
        kind = kind if isinstance(kind, str) else None
    else:
        message = error
    text = message if isinstance(message, str) else json.dumps(message)[:300]
    text = " ".join(text.split())
    text = text if len(text) <= 300 else text[:297] + "..."
    return ProviderResponseError(
        f"the server reported {kind or 'an error'}: {text}",
        error_type=kind,
        retryable=kind in _RETRYABLE_EVENTS,
    )


def _explained(
    exc: ProviderHTTPError, ctx: CallContext, endpoint: Endpoint, model: str, upstream: str
) -> ProviderHTTPError:
    """The client's error, with what the protocol says about its cause."""
    where = f" in {endpoint.origin}" if endpoint.origin else ""
    if exc.status in (401, 403):
        if ctx.auth is None:
            hint = (
                f'the server wants a credential: add auth_env = "MY_API_KEY" to the '
                f"table{where} and export it, or {ctx.credential_settings()}"
            )
        else:
            hint = f"the server refused the credential from {ctx.auth_from}: check it"
        exc.args = (f"{exc.message}; {hint}", *exc.args[1:])
    elif exc.status == 404:
        about_model = exc.error_type == "model_not_found" or "model" in exc.message.lower()
        if about_model:
            sent = f" (sent as {upstream!r})" if upstream != model else ""
            hint = f"model {model!r}{sent} is not served there: fix `models`{where}"
        else:
            hint = (
                "is base_url the API root that /chat/completions is added to "
                "(it often ends in /v1)?"
            )
        exc.args = (f"{exc.message}; {hint}", *exc.args[1:])
    return exc


def _scrub(exc: ProviderError, messages: list[dict[str, str]]) -> None:
    """Replace any prompt text a server quoted back in its error (best effort, never raises).

    Servers quote it raw, JSON-escaped or as a Python repr, and the message may be cut at
    its length limit, so the longest quoted stretch of any of those forms is what goes.
    """
    text = exc.message
    forms = set()
    for message in messages:
        content = message.get("content")
        if isinstance(content, str) and len(content.strip()) >= 4:
            forms |= {content, json.dumps(content)[1:-1], repr(content)[1:-1]}
    quoted = [" ".join(form.split()) for form in forms]  # as the message collapsed them
    quoted = [q for q in quoted if q not in _MASK]
    for _ in range(16):  # each pass removes one quotation; messages are short
        spans = [span for span in (_quoted(text, q) for q in quoted) if span is not None]
        if not spans:
            break
        at, end = max(spans, key=lambda span: span[1] - span[0])
        text = text[:at] + _MASK + text[end:]
    if text != exc.message:
        exc.args = (text, *exc.args[1:])


def _quoted(text: str, quoted: str) -> tuple[int, int] | None:
    """Where ``quoted`` (or its start, cut by a length limit) stands in ``text``."""
    if len(quoted) < 4:
        return None
    at = text.find(quoted)
    if at >= 0:
        return at, at + len(quoted)
    probe = quoted[:24]
    at = text.find(probe) if len(quoted) > 24 else -1
    if at < 0:
        return None
    end = at + len(probe)
    while end < len(text) and end - at < len(quoted) and text[end] == quoted[end - at]:
        end += 1
    return at, end
