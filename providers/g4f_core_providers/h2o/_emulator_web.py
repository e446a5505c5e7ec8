"""chat-ui 0.4 on SvelteKit 1.15 as the emulator reproduces it, with no sockets involved.

Content negotiation decides the shape of almost every answer (JSON or HTML, endpoint or page,
200-JSON redirect or 303), so it is copied here rule for rule, together with the session
cookie, the referer check, form parsing and the Falcon-style prompt chat-ui built.
"""

from __future__ import annotations

import email.parser
import email.policy
import html
import json
import re
import time
import urllib.parse
from collections.abc import Sequence
from email.utils import formatdate

COOKIE_NAME = "hf-chat"
COOKIE_LIFETIME = 365 * 24 * 3600
JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded", "text/plain")
OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}")
# zod 3's uuid check
UUID = re.compile(
    r"([a-f0-9]{8}-[a-f0-9]{4}-[1-5][a-f0-9]{3}-[a-f0-9]{4}-[a-f0-9]{12}"
    r"|00000000-0000-0000-0000-000000000000)",
    re.IGNORECASE,
)
USER_TOKEN, ASSISTANT_TOKEN, END_TOKEN = "<|prompt|>", "<|answer|>", "<|endoftext|>"


def negotiate(accept: str, types: Sequence[str]) -> str | None:
    """SvelteKit's ``negotiate``: the offered type matching the best-ranked Accept entry."""
    parts: list[tuple[float, bool, bool, int, str, str]] = []
    for index, item in enumerate(accept.split(",")):
        media, *params = item.split(";")
        kind, slash, sub = media.strip().partition("/")
        if not slash or not kind or not sub:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    continue
        parts.append((-q, sub == "*", kind == "*", index, kind, sub))
    parts.sort()
    best: str | None = None
    best_rank = len(parts)
    for offered in types:
        kind, _, sub = offered.partition("/")
        for rank, (*_, part_kind, part_sub) in enumerate(parts):
            if part_kind in (kind, "*") and part_sub in (sub, "*") and rank < best_rank:
                best, best_rank = offered, rank
                break
    return best


def error_as_json(accept: str | None) -> bool:
    """handle_fatal_error: JSON only if Accept (default text/html) negotiates to JSON."""
    return negotiate(accept or "text/html", [JSON_TYPE, "text/html"]) == JSON_TYPE


def action_as_json(accept: str | None) -> bool:
    """is_action_json_request: the form action answers JSON unless HTML is preferred."""
    return negotiate(accept or "*/*", [JSON_TYPE, "text/html"]) == JSON_TYPE


def routes_to_page(accept: str | None) -> bool:
    """is_endpoint_request, inverted: a POST preferring text/html goes to the page."""
    return negotiate(accept or "*/*", ["*", "text/html"]) == "text/html"


def hook_error(message: str, accept: str | None, content_type: str | None) -> tuple[bytes, str]:
    """chat-ui's hook ``errorResponse``: JSON if either header mentions JSON, else plain text."""
    if JSON_TYPE in (accept or "") or JSON_TYPE in (content_type or ""):
        return json.dumps({"error": message}, separators=(",", ":")).encode(), JSON_TYPE
    return message.encode(), "text/plain"


def error_page(status: int, message: str) -> bytes:
    """A page shaped like SvelteKit's default error page: the message is title and heading."""
    text = html.escape(message)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8" />\n'
        f'<title>{text}</title>\n</head>\n<body>\n<div class="error">'
        f'<span class="status">{status}</span>'
        f'<div class="message"><h1>{text}</h1></div></div>\n</body>\n</html>\n'
    ).encode()


def home_page(models: Sequence[str], active: str) -> bytes:
    """The chat page with the welcome modal's form, fields as LoginModal.svelte posts them."""
    options = "".join(f"<li>{html.escape(m)}</li>" for m in models)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8" />\n'
        "<title>HuggingChat</title>\n</head>\n<body>\n"
        f"<ul>{options}</ul>\n"
        '<form action="/settings" method="POST">'
        '<input type="hidden" name="ethicsModalAccepted" value="true" />'
        '<input type="hidden" name="shareConversationsWithModelAuthors" value="true" />'
        '<input type="hidden" name="ethicsModalAcceptedAt" value="" />'
        f'<input type="hidden" name="activeModel" value="{html.escape(active)}" />'
        '<button type="submit">Start chatting</button></form>\n</body>\n</html>\n'
    ).encode()


def read_cookie(header: str | None) -> str | None:
    """The first ``hf-chat`` value, unquoted and percent-decoded like the ``cookie`` package."""
    for pair in (header or "").split(";"):
        name, sep, value = pair.partition("=")
        if sep and name.strip() == COOKIE_NAME:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return urllib.parse.unquote(value)
    return None


def session_cookie(session: str, now: float | None = None) -> str:
    """refreshSessionCookie in dev mode: no Secure (plain http), SameSite=Lax, one year."""
    expires = formatdate((time.time() if now is None else now) + COOKIE_LIFETIME, usegmt=True)
    value = urllib.parse.quote(session, safe="!~*'()")
    return f"{COOKIE_NAME}={value}; Path=/; Expires={expires}; HttpOnly; SameSite=Lax"


def origin_of(url: str) -> str:
    """``new URL(url).origin``; raises ValueError where the URL constructor would throw."""
    parts = urllib.parse.urlsplit(url.strip())
    if not parts.scheme or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", parts.scheme):
        raise ValueError("not an absolute URL")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return "null"
    port = parts.port  # raises ValueError on a bad port, like the URL constructor
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = 80 if scheme == "http" else 443
    return f"{scheme}://{host}" + ("" if port in (None, default) else f":{port}")


def parse_json(body: bytes) -> object:
    """``JSON.parse(await request.text())``: UTF-8 with replacement, no NaN or Infinity.

    Nesting too deep for Python's parser is a ValueError like any other bad JSON (the
    route answers its error), never a RecursionError that drops the connection.
    """

    def reject(name: str) -> object:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(body.decode("utf-8-sig", "replace"), parse_constant=reject)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def lone_surrogate(value: object) -> bool:
    """Whether parsed JSON holds a lone surrogate (from a ``\\ud800`` escape) anywhere.

    JavaScript strings may hold one, so chat-ui passes it on; serde_json (TGI) refuses it.
    """
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except (ValueError, TypeError, RecursionError):
        return False
    return False


def parse_form(content_type: str | None, body: bytes) -> dict[str, str] | None:
    """``Object.fromEntries(await request.formData())``; None where formData() would throw."""
    essence = (content_type or "").split(";")[0].strip().lower()
    if essence == "application/x-www-form-urlencoded":
        pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        return dict(pairs)
    if essence != "multipart/form-data" or "boundary=" not in (content_type or ""):
        return None
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        return None
    form: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            form[name] = payload.decode("utf-8", "replace")
    return form


def build_prompt(history: Sequence[tuple[str, str]], inputs: str) -> str:
    """buildPrompt with h2oGPT's prompt_answer tokens; one new message gives
    ``<|prompt|>{inputs}<|endoftext|><|answer|>``."""
    prompt = ""
    for role, content in [*history, ("user", inputs)]:
        prompt += (USER_TOKEN if role == "user" else ASSISTANT_TOKEN) + content
        prompt += "" if content.endswith(END_TOKEN) else END_TOKEN
    return prompt + ASSISTANT_TOKEN
