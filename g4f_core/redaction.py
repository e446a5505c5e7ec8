"""Keeping credentials, URLs and private text out of errors and tracebacks.

No HTTP library here: the call path uses it before anything is sent.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from g4f_core.context import env_flag
from g4f_core.errors import ProviderError

__all__ = ["HiddenCause", "origin", "reason", "redact", "safe_cause"]


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


def redact(error: ProviderError, secret: str | None) -> ProviderError:
    """Mask a credential that the server echoed back into the message."""
    if secret and len(secret) >= 4 and secret in error.message:
        error.args = (error.message.replace(secret, "***"), *error.args[1:])
    return error


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
