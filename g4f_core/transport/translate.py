"""Turning transport failures and error replies into the g4f-core error tree.

Messages name ``scheme://host:port`` and a short server message (at most about 300
characters, an HTML page reduced to its title); never a path, query, header or body,
which may carry credentials or the prompt.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import math
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import requests
import urllib3

from g4f_core.context import current
from g4f_core.errors import (
    InvalidRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderResponseError,
    ProviderTimeoutError,
    RateLimitError,
)
from g4f_core.redaction import origin, quote
from g4f_core.redaction import reason as _reason
from g4f_core.transport.adapter import socket_of
from g4f_core.transport.watchdog import watched_read

if TYPE_CHECKING:
    from g4f_core.context import CallContext

__all__ = ["error_from_response", "origin", "parse_retry_after", "refused_request", "translate"]

_ERROR_BODY_LIMIT = 64 << 10


#: requests' and urllib3's refusals to build a request, and what each means; the URL or
#: header they quote may carry a credential, so the message names neither.
_REFUSALS: tuple[tuple[type[BaseException], str], ...] = (
    (requests.exceptions.InvalidProxyURL, "the proxy URL is not valid"),
    (requests.exceptions.MissingSchema, "the request URL has no scheme (http:// or https://)"),
    (requests.exceptions.InvalidSchema, "the request URL's scheme is not http:// or https://"),
    (
        requests.exceptions.InvalidURL,
        "the request URL is not valid (no host, a bad port, or a character URLs cannot hold)",
    ),
    (urllib3.exceptions.LocationValueError, "the request URL is not valid"),
    (
        requests.exceptions.InvalidHeader,
        "a request header has a name or value that cannot be sent (a line break, a leading "
        "space or a character headers cannot hold)",
    ),
    (requests.exceptions.InvalidJSONError, "the request body cannot be written as JSON"),
)


def refused_request(exc: BaseException, provider: str | None) -> InvalidRequestError | None:
    """The error for a request requests or urllib3 refused to build (nothing was sent), or
    None. Such a request is wrong, not the provider down: it is never retried."""
    if isinstance(exc, requests.exceptions.JSONDecodeError):  # a reply, not a request
        return None
    for kind, meaning in _REFUSALS:
        if isinstance(exc, kind):
            prefix = f"{provider}: " if provider else ""
            return InvalidRequestError(f"{prefix}{meaning}; nothing was sent")
    return None


def translate(
    exc: BaseException, provider: str | None, where: str = "", *, during_stream: bool = False
) -> ProviderError:
    """Map a ``requests``/``urllib3``/socket failure to the g4f-core error tree."""
    if not where:
        url = getattr(getattr(exc, "request", None), "url", None)
        where = origin(url) if isinstance(url, str) else "the provider"
    text = _reason(exc)
    timeout_types: tuple[type[BaseException], ...] = (
        requests.Timeout,
        urllib3.exceptions.TimeoutError,
        TimeoutError,
    )
    if isinstance(exc, requests.ConnectTimeout):
        return ProviderTimeoutError(
            f"connecting to {where} timed out", provider=provider, phase="connect"
        )
    if isinstance(exc, timeout_types) or "timed out" in text:
        phase = "idle" if during_stream else "headers"
        return ProviderTimeoutError(
            f"waiting for {where} timed out", provider=provider, phase=phase
        )
    broken = _broken_reply(exc)
    if broken is not None:
        kind, what = broken
        return kind(f"{where} {what}", provider=provider)
    if isinstance(exc, requests.exceptions.SSLError):
        error = ProviderConnectionError(
            f"TLS verification of {where} failed; pass ca_bundle= to trust a private CA",
            provider=provider,
        )
        error.retryable = False
        return error
    if isinstance(exc, requests.HTTPError) and exc.response is not None:  # raise_for_status()
        return error_from_response(exc.response, provider)
    if isinstance(exc, requests.TooManyRedirects):
        return ProviderResponseError(f"{where} redirected too many times", provider=provider)
    if during_stream or isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return ProviderConnectionError(
            f"the connection to {where} broke before the reply was complete ({text})",
            provider=provider,
        )
    if "refused" in text.lower():
        text = "connection refused; is the server running?"
    elif "resolve" in text.lower() or "name or service" in text.lower():
        error = ProviderConnectionError(
            f"could not connect to {where}: could not resolve the host name", provider=provider
        )
        error.retry_limit = 1  # a misspelt host does not heal; a flaky resolver gets one more go
        return error
    return ProviderConnectionError(f"could not connect to {where}: {text}", provider=provider)


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: causes, contexts, and exceptions among its args (urllib3)."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 12:
        item = todo.pop(0)
        if any(item is s for s in seen):
            continue
        seen.append(item)
        todo += [a for a in item.args if isinstance(a, BaseException)]
        todo += [e for e in (item.__cause__, item.__context__) if e is not None]
    return seen


def _broken_reply(exc: BaseException) -> tuple[type[ProviderError], str] | None:
    """A reply that is not HTTP/1.x as it must be: the error type and what went wrong."""
    for cause in _causes(exc):
        if isinstance(cause, http.client.RemoteDisconnected):
            return ProviderConnectionError, "closed the connection without sending a reply"
        if isinstance(cause, http.client.BadStatusLine):
            return ProviderResponseError, (
                "did not answer with an HTTP/1.x status line (an HTTP/0.9 reply, or not HTTP)"
            )
        if isinstance(cause, http.client.LineTooLong):
            return ProviderResponseError, "sent a response head with a line over 64 KiB"
        if isinstance(cause, http.client.HTTPException) and "more than" in str(cause):
            return ProviderResponseError, (
                f"sent a response head that is too big ({_reason(cause)}: {cause})"
            )
        if isinstance(cause, urllib3.exceptions.DecodeError):
            return ProviderResponseError, (
                "sent a body that its Content-Encoding does not decode (a wrong, chained "
                "or unsupported encoding)"
            )
    return None


def error_from_response(
    response: requests.Response,
    provider: str | None,
    context: CallContext | None = None,
    *,
    until: float | None = None,
) -> ProviderError:
    """A typed error for a non-success response, with a short server message.

    The message is quoted only after the call's own credentials and prompt text are
    removed from it (``context``: the running call's when not given). The body is read
    by ``until`` (monotonic); by default within the call's timeout and deadline, so an
    error page that trickles cannot outlive the call.
    """
    status = response.status_code
    where = origin(response.url)
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    body = _read_capped(response, until, context)
    message, error_type = _server_message(body, ctype, context)
    if 300 <= status < 400:
        target = response.headers.get("location", "")
        goes_to = origin(urljoin(response.url, target)) if target else "nowhere"
        return ProviderResponseError(
            f"{where} answered {status} redirecting to {goes_to}; "
            "redirects are not followed for API calls",
            provider=provider,
        )
    text = f"{where} answered HTTP {status}"
    if message:
        text += f": {message}"
    elif ctype:
        text += f" with {ctype}"
    if status == 429:
        retry_after = parse_retry_after(response.headers)
        return RateLimitError(
            text, provider=provider, retry_after=retry_after, error_type=error_type
        )
    return ProviderHTTPError(text, provider=provider, status=status, error_type=error_type)


def _read_capped(
    response: requests.Response, until: float | None, context: CallContext | None
) -> bytes:
    """At most 64 KiB of an error body, by ``until``; b"" if it fails or is cut short."""
    if until is None:
        try:
            until = time.monotonic() + (context or current()).wait_limit()
        except ProviderTimeoutError:  # the deadline has passed: no time to read anything
            return b""

    def read() -> bytes:
        return response.raw.read(_ERROR_BODY_LIMIT, decode_content=True) or b""

    try:
        body, fired = watched_read(socket_of(response), until, read)
    except (urllib3.exceptions.HTTPError, OSError):
        return b""
    return b"" if fired else body


def _server_message(body: bytes, ctype: str, context: CallContext | None) -> tuple[str, str | None]:
    """A short message from an error body: JSON fields, an HTML title, or plain text."""
    text = body.decode("utf-8", "replace").strip()
    if ctype.endswith("json") or text.startswith("{"):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):  # deep nesting: no message, but the status holds
            data = None
        if isinstance(data, Mapping):
            error = data.get("error")
            error_type = data.get("error_type")
            if error_type is None and isinstance(error, Mapping):  # OpenAI: error.code, .type
                error_type = error.get("code") or error.get("type")
            for value in (data.get("message"), error, data.get("detail")):
                if isinstance(value, Mapping):
                    value = value.get("message")
                elif isinstance(value, list):  # FastAPI's validation errors: [{"msg": ...}]
                    value = "; ".join(
                        str(item.get("msg")) for item in value if isinstance(item, Mapping)
                    )
                if isinstance(value, str) and value:
                    kind = error_type if isinstance(error_type, str) else None
                    return quote(value, context), kind
    if "html" in ctype or text.lstrip().lower().startswith(("<!doctype", "<html")):
        match = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        title = match.group(1).strip() if match else ""
        shown = quote(title, context, 120)
        return (f"an HTML page (title {shown!r})" if title else "an HTML page"), None
    return quote(text, context), None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP-date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            value = float(raw_ms) / 1000
            if value >= 0 and math.isfinite(value):
                return value
        except ValueError:
            pass
    raw = (headers.get("retry-after") or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
        return value if value >= 0 and math.isfinite(value) else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
