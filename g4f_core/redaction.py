"""Keeping credentials, URLs and private text out of errors, headers and tracebacks.

Upstream text (an error body, an error event) is quoted in messages only through
:func:`quote`, which first removes the call's own credentials and prompt text, then
cuts: a secret straddling the cut, or echoed in another case, is masked whole.
:func:`scrub_error` applies the same removal to any error, as a last safety net.
No HTTP library here: the call path uses it before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from g4f_core.context import env_flag
from g4f_core.errors import ProviderError

if TYPE_CHECKING:
    from g4f_core.context import CallContext

__all__ = [
    "HiddenCause",
    "credentials",
    "origin",
    "quote",
    "reason",
    "redact",
    "safe_cause",
    "scrub",
    "scrub_error",
    "split_userinfo",
    "without_userinfo",
]

SECRET_MARK = "***"  # noqa: S105 - the mask, not a password
PROMPT_MARK = "[prompt]"
_SECRET_RUN = 8  # an echo of this many characters of a credential is masked
_PROMPT_RUN = 16  # ... and of this many characters of the prompt
_SCRUB_WINDOW = 4096  # characters of upstream text looked at before it is cut for quoting
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s]*@")


def origin(url: str) -> str:
    """``scheme://host:port`` of a URL: what messages may name (never path or query)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # an out-of-range port: name the host alone
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


class HiddenCause(Exception):
    """Stands in, as ``__cause__``, for an exception whose text may hold a URL or a prompt."""


def safe_cause(exc: BaseException) -> BaseException:
    """The cause to chain: the original only under G4F_CORE_DEBUG, else a clean summary.

    requests and urllib3 put the request target, query string included, in their
    messages, and a provider's own exception may quote the prompt; a traceback
    printing them could show a key carried in a base URL, or private text.
    """
    if env_flag("G4F_CORE_DEBUG"):
        return exc
    return HiddenCause(f"{type(exc).__name__} ({reason(exc)}; G4F_CORE_DEBUG=1 shows it)")


# -- userinfo ------------------------------------------------------------------------------


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without ``user:password@``, and the (decoded) user and password it carried."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return parts._replace(netloc=host).geturl(), (unquote(user), unquote(password))


def without_userinfo(headers: Mapping[str, str] | None) -> dict[str, str] | None:
    """Header values with ``scheme://user:password@`` reduced to ``scheme://``.

    A provider building ``Referer`` or ``Origin`` from a base URL that carries a
    password would otherwise send it in a header servers and proxies log.
    """
    if headers is None:
        return None
    return {
        name: _USERINFO.sub(r"\1", value) if isinstance(value, str) else value
        for name, value in headers.items()
    }


# -- removing the call's own secrets and prompt from upstream text --------------------------


def credentials(context: CallContext | None) -> list[str]:
    """The call's secrets: its credential and the passwords in its base URL and proxy."""
    if context is None:
        return []
    found = [context.auth or ""]
    for url in (context.base_url, context.proxy):
        if url and "@" in url:
            _, userinfo = split_userinfo(url)
            if userinfo:
                found += [userinfo[1], f"{userinfo[0]}:{userinfo[1]}"]
    return [secret for secret in found if len(secret) >= 4]


def scrub(text: str, context: CallContext | None = None) -> str:
    """``text`` without the call's credentials (``***``) and prompt text (``[prompt]``).

    Matching ignores case and runs of white space, and masks partial echoes too: any
    run of 8 characters of a credential, or 16 of a message's content (a whole short
    message), wherever it appears. ``context`` defaults to the running call's.
    """
    context = context if context is not None else _running()
    if context is None or not text:
        return text
    for secret in credentials(context):
        text = _mask(text, secret, min(_SECRET_RUN, len(secret)), SECRET_MARK)
    for private in context.private:
        shown = _spaced(private)
        if len(shown) >= 4:
            text = _mask(text, shown, min(_PROMPT_RUN, len(shown)), PROMPT_MARK)
    return text


def quote(text: str, context: CallContext | None = None, limit: int = 300) -> str:
    """Upstream text fit to quote in a message: one line, scrubbed, then cut to ``limit``."""
    text = scrub(_spaced(text[: _SCRUB_WINDOW * 2])[:_SCRUB_WINDOW], context)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def scrub_error(error: ProviderError, context: CallContext | None) -> ProviderError:
    """Remove the call's credentials and prompt from an error's message, in place.

    An error that needed it is marked (``masked``), so the conformance suite can still
    tell the provider's author that its message quoted what it must not.
    """
    message = error.message
    cleaned = scrub(message, context)
    if cleaned != message:
        error.args = (cleaned, *error.args[1:])
        error.masked = True
    return error


def redact(error: ProviderError, secret: str | None) -> ProviderError:
    """Mask a credential that the server echoed back into the message (any case, in part)."""
    if secret and len(secret) >= 4:
        cleaned = _mask(error.message, secret, min(_SECRET_RUN, len(secret)), SECRET_MARK)
        if cleaned != error.message:
            error.args = (cleaned, *error.args[1:])
    return error


def _running() -> CallContext | None:
    from g4f_core.context import _current

    return _current.get()


def _spaced(text: str) -> str:
    return " ".join(text.split())


def _folded(text: str) -> str:
    """Lower-cased when that keeps every index in place (it almost always does)."""
    low = text.lower()
    return low if len(low) == len(text) else text


def _mask(text: str, source: str, min_run: int, mark: str) -> str:
    """Replace every run of at least ``min_run`` characters that ``text`` shares with ``source``.

    Runs are found from anchors every ``min_run // 2`` characters of ``text`` (any run
    that long contains one whole), each searched in ``source`` and grown both ways.
    """
    low_text, low_source = _folded(text), _folded(" ".join(source.split()))
    if min_run > len(low_source) or min_run > len(low_text):
        return text
    step = max(1, min_run // 2)
    covered: list[tuple[int, int]] = []
    for anchor in range(0, len(low_text) - step + 1, step):
        gram = low_text[anchor : anchor + step]
        for found in _occurrences(low_source, gram):
            start, end = _grow(low_text, low_source, anchor, found, step)
            if end - start >= min_run:
                covered.append((start, end))
    return _replace(text, covered, mark)


def _occurrences(source: str, gram: str, most: int = 32) -> Iterable[int]:
    at = source.find(gram)
    for _ in range(most):
        if at < 0:
            return
        yield at
        at = source.find(gram, at + 1)


def _grow(text: str, source: str, at: int, found: int, size: int) -> tuple[int, int]:
    """The longest run around ``text[at:at+size] == source[found:found+size]``."""
    left = 0
    while at - left > 0 and found - left > 0 and text[at - left - 1] == source[found - left - 1]:
        left += 1
    right = size
    while (
        at + right < len(text)
        and found + right < len(source)
        and text[at + right] == source[found + right]
    ):
        right += 1
    return at - left, at + right


def _replace(text: str, covered: list[tuple[int, int]], mark: str) -> str:
    if not covered:
        return text
    out: list[str] = []
    last = 0
    for start, end in sorted(covered):
        if end <= last:
            continue
        start = max(start, last)
        if start > last or not out:
            out.append(text[last:start])
            out.append(mark)
        last = end
    out.append(text[last:])
    return "".join(out)


def reason(exc: BaseException) -> str:
    """The innermost cause's class name: informative, and free of URLs and bodies."""
    seen = exc
    while True:
        inner = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        inner = inner or getattr(seen, "reason", None)
        if not isinstance(inner, BaseException) or inner is seen:
            break
        seen = inner
    name = type(seen).__name__
    message = str(seen)
    for marker in ("refused", "timed out", "resolve", "Name or service", "reset", "IncompleteRead"):
        if marker in message:
            return f"{name}: {marker}"
    return name
