"""H2o: gpt4free's 2023 provider for gpt-gm.h2o.ai, ported to g4f-core.

The site ran Hugging Face chat-ui (mid-2023), which proxied text-generation-inference
and streamed its server-sent events back unchanged. The flow, per the compatibility
checklist of the protocol notes: one cookie session for all requests of a conversation;
accept the welcome modal with a form ``POST /settings`` carrying a same-origin
``Referer``; ``POST /conversation`` with the upstream model id; ``POST
/conversation/{id}`` with ``inputs``, ``parameters``, ``stream`` and ``options``; then
``DELETE`` the conversation, also when the caller stops early or the call fails.

An accepted session is kept per endpoint and reused by later conversations, so a warm
call costs three requests instead of four. That is safe: the session is anonymous,
holds only the modal acceptance and a model preference, and every conversation is
deleted after its call. A server that has forgotten the session (a restart) answers
the next conversation with 401/403/405; the session is then accepted afresh, once.

The prompt (``inputs``) is one ``"{role}: {content}\\n"`` line per message, in
order, then ``"assistant: "``. That is the format of gpt4free's fix for issue #735
(commit c60d5ef), the last requests-based version known to work against the live
site; the first version's instruction line ("this is a conversation beween ...") was
dropped by that fix. The whole transcript goes into one ``inputs`` because the
server keeps no history across g4f's fresh conversations.

The site is gone; :func:`emulator` serves a faithful local stand-in.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

from g4f_core import Option

if TYPE_CHECKING:
    import requests

    from g4f_core import Client, Emulator

url = "https://gpt-gm.h2o.ai"
models = {
    "falcon-40b": "h2oai/h2ogpt-gm-oasst1-en-2048-falcon-40b-v1",
    "falcon-7b": "h2oai/h2ogpt-gm-oasst1-en-2048-falcon-7b-v3",
    "llama-13b": "h2oai/h2ogpt-gm-oasst1-en-2048-open-llama-13b",
}
supports_stream = True
needs_auth = False
working = True
contract_version = 1
connect_hint = (
    "gpt-gm.h2o.ai is gone: run the local emulator (`g4f-core emulate H2o`) and pass its URL "
    "as base_url (--base-url) or G4F_CORE_H2O_URL, or point H2o at a chat-ui server of mid-2023"
)

#: gpt4free's defaults, sent as text-generation-inference ``parameters``.
options = (
    Option("temperature", float, 0.4, "sampling temperature", gt=0, openai=["temperature"]),
    Option("truncate", int, 2048, "keep only this many input tokens", gt=0),
    Option(
        "max_new_tokens",
        int,
        1024,
        "most tokens to generate",
        gt=0,
        openai=["max_tokens", "max_completion_tokens"],
    ),
    Option("do_sample", bool, True, "sample instead of greedy decoding"),
    Option("repetition_penalty", float, 1.2, "penalty for repeated tokens", gt=0),
    Option("return_full_text", bool, False, "prefix the reply with the prompt"),
)

log = logging.getLogger("g4f_core.providers.h2o")
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_RETRYABLE_EVENTS = {"overloaded", "incomplete_generation"}
_COOKIE = "hf-chat"
_sessions: dict[str, str] = {}  # base URL -> accepted chat-ui session cookie
_sessions_lock = threading.Lock()


def _new_lock_after_fork() -> None:
    """A lock held by another thread at fork() would stay held in the child."""
    global _sessions_lock
    _sessions_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_after_fork)


def emulator(host: str = "localhost", port: int = 0, token_delay: float = 0.0) -> Emulator:
    """A local server speaking the site's protocol, for tests, demos and offline use."""
    from .server import Faults, H2oEmulator

    server: Emulator = H2oEmulator(host, port, faults=Faults(token_delay=token_delay))
    return server


def format_prompt(messages: list[dict[str, str]]) -> str:
    """The ``inputs`` text: every message as ``role: content``, then the assistant's turn."""
    return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "


def _create_completion(
    model: str, messages: list[dict[str, str]], stream: bool, **kwargs: Any
) -> Iterator[str]:
    from g4f_core import Client, current

    upstream = models.get(model, model)
    parameters = {opt.name: kwargs[opt.name] for opt in options}  # the core fills defaults
    http = Client(current(), base_url=url)
    conversation = None
    try:
        conversation, fresh = _open_conversation(http, upstream)
        if fresh:
            _keep_session(http)
        body = {
            "inputs": format_prompt(messages),
            "parameters": parameters,
            "stream": True,
            "options": {
                "id": str(uuid.uuid4()),
                "response_id": str(uuid.uuid4()),
                "is_retry": False,
                "use_cache": False,
                "web_search_id": "",
            },
        }
        response = http.request(
            "POST",
            f"/conversation/{conversation}",
            json=body,
            headers=_json_headers(http),
            stream=True,
        )
        yield from _tokens(http, response)
    finally:
        if conversation is not None:
            _delete_conversation(http, conversation)
        http.close()


def _json_headers(http: Client) -> dict[str, str]:
    # chat-ui answers JSON only when Accept negotiates to it; without one it renders HTML.
    return {"Accept": "*/*", "Referer": f"{http.base_url}/"}


def _accept_welcome_modal(http: Client, upstream: str) -> None:
    form = {
        "ethicsModalAccepted": "true",
        "shareConversationsWithModelAuthors": "true",
        "ethicsModalAcceptedAt": "",
        "activeModel": upstream,
        "searchEnabled": "true",
    }
    # A form POST needs a same-origin Referer (chat-ui's CSRF check). With Accept */*
    # SvelteKit answers 200 with a JSON redirect object; a browser Accept gets a 303.
    http.request("POST", "/settings", data=form, headers=_json_headers(http), expect=(200, 303))


def _open_conversation(http: Client, upstream: str) -> tuple[str, bool]:
    """Create a conversation, in the kept session when there is one; (id, session is new).

    The id is returned before anything else can fail, so the caller always deletes it.
    """
    from g4f_core import ProviderHTTPError

    with _sessions_lock:
        kept = _sessions.get(http.base_url)
    if kept is not None:
        http.session.cookies.set(_COOKIE, kept)
        try:
            return _new_conversation(http, upstream), False
        except ProviderHTTPError as exc:
            if exc.status not in (401, 403, 405):
                raise
            http.session.cookies.clear()  # the server forgot us: start a session afresh
    _accept_welcome_modal(http, upstream)
    return _new_conversation(http, upstream), True


def _keep_session(http: Client) -> None:
    """Keep the accepted session for the next conversation at this endpoint."""
    cookie = _session_cookie(http)
    if cookie:
        with _sessions_lock:
            _sessions[http.base_url] = cookie


def _session_cookie(http: Client) -> str | None:
    """The ``hf-chat`` session, even when the server set it twice (two paths or domains).

    ``cookies.get`` raises CookieConflictError then; the site-wide one (path ``/``) is
    the session chat-ui reads first.
    """
    found = [c for c in http.session.cookies if c.name == _COOKIE and c.value]
    found.sort(key=lambda c: (c.path != "/", len(c.path or "")))
    return found[0].value if found else None


def _new_conversation(http: Client, upstream: str) -> str:
    from g4f_core import ProviderResponseError

    response = http.request(
        "POST", "/conversation", json={"model": upstream}, headers=_json_headers(http)
    )
    try:
        data = response.json()
    except (ValueError, RecursionError):  # hostile nesting raises RecursionError, not ValueError
        data = None
    conversation = data.get("conversationId") if isinstance(data, dict) else None
    if not isinstance(conversation, str) or not _ID.fullmatch(conversation):
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ProviderResponseError(
            f"{http.origin} did not return a usable conversationId (got: {keys}); "
            "is this a chat-ui server?"
        )
    return conversation


def _tokens(http: Client, response: requests.Response) -> Generator[str, None, None]:
    """Yield each token's text as its event arrives; stop at the final event.

    One pass per event: parse it once, then check exactly what is used of it.
    """
    from g4f_core.errors import ProviderConnectionError

    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "text/event-stream":
        try:
            raise _not_a_token_stream(http, response, ctype)
        finally:
            response.close()
    events = http.events(response)
    decoded = _decoded
    try:
        for data in events:
            event = decoded(data)
            if type(event) is not dict or "error" in event:
                raise _bad_event(data, event)
            token = event.get("token")
            if type(token) is not dict or type(text := token.get("text")) is not str:
                raise _bad_event(data, event)
            special = token.get("special", False)
            if type(special) is not bool:
                raise _not_a_flag(special)
            if not special:
                yield text
            if event.get("generated_text") is not None:
                http.finish(response)
                return
        raise ProviderConnectionError(
            f"the stream from {http.origin} ended before its final event", provider="H2o"
        )
    finally:
        events.close()


def _not_a_flag(special: object) -> Exception:
    """``token.special`` that is not true or false: a token cannot be silently dropped."""
    from g4f_core import ProviderResponseError

    return ProviderResponseError(
        f"an event's token.special is {type(special).__name__}, not true or false: "
        "cannot tell whether its text belongs to the reply",
        provider="H2o",
    )


_raw_decode = json.JSONDecoder().raw_decode
_JSON_SPACE = " \t\n\r"  # the whitespace json.loads allows around a value


def _decoded(data: str) -> object:
    """What ``json.loads(data)`` gives, or None where it raises: one decoder call per event."""
    text = data.strip(_JSON_SPACE)
    try:
        event, end = _raw_decode(text)
    except (ValueError, RecursionError):  # hostile nesting raises RecursionError
        return None
    return event if end == len(text) else None


def _bad_event(data: str, event: object) -> Exception:
    """The error for an event that is not a token: an error TGI reported, or malformed."""
    from g4f_core.errors import ProviderResponseError

    if not isinstance(event, dict):
        return ProviderResponseError(
            f"malformed event ({len(data)} characters of data that is not a JSON object)",
            provider="H2o",
        )
    if "error" in event:
        kind = event.get("error_type")
        kind = kind if isinstance(kind, str) else None
        return ProviderResponseError(
            f"the model server reported {kind or 'an error'}: {_quoted(event['error'])}",
            provider="H2o",
            error_type=kind,
            retryable=kind in _RETRYABLE_EVENTS,
        )
    return ProviderResponseError("an event carried no token text", provider="H2o")


def _not_a_token_stream(http: Client, response: requests.Response, ctype: str) -> Exception:
    from g4f_core import ProviderResponseError

    head = http.read_some(response, 4096)
    if head.lstrip().startswith(b'{"type"'):
        return ProviderResponseError(
            f"{http.origin} streams chat-ui's newline-delimited JSON updates (chat-ui after its "
            "2023-09 refactor), not the token stream H2o speaks"
        )
    return ProviderResponseError(
        f"{http.origin} answered HTTP {response.status_code} with {ctype or 'no content type'}, "
        "expected text/event-stream"
    )


def _quoted(value: object) -> str:
    """An error event's text for a message: without the call's prompt and credential."""
    from g4f_core.redaction import quote

    try:
        text = value if isinstance(value, str) else json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return quote(text)


def _delete_conversation(http: Client, conversation: str) -> None:
    """Best effort: bounded by the timeout, and never hiding the error that got us here."""
    from g4f_core import G4FError

    try:
        response = http.request(
            "DELETE",
            f"/conversation/{conversation}",
            headers=_json_headers(http),
            expect=(200, 204, 404),
            timeout=5.0,
            cleanup=True,
        )
        response.close()
    except G4FError as exc:
        log.debug("could not delete the conversation: %s", type(exc).__name__)
