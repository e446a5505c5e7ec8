"""The g4f-core error tree.

Every error the framework raises derives from :class:`G4FError`. Request errors
also derive from a builtin so that callers can catch either::

    G4FError
    ├── ProviderNotFoundError (also KeyError)
    │   └── AmbiguousProviderError        two distributions declare the name
    ├── InvalidRequestError (also ValueError)  bad messages or options; raised before any I/O
    │   ├── ModelNotSupportedError
    │   └── StreamNotSupportedError
    ├── AuthRequiredError                  provider needs a credential and none was given
    ├── ProviderNotWorkingError            provider declares working = False
    ├── PluginLoadError                    only raised in strict mode (G4F_CORE_STRICT=1)
    └── ProviderError                      the upstream failed; .provider, .partial_text, .attempts
        ├── ProviderConnectionError        could not connect, or the connection broke
        ├── ProviderTimeoutError           a wait exceeded `timeout`, or the call its `deadline`
        ├── ProviderHTTPError              non-success status; .status
        │   └── RateLimitError             429; .retry_after
        ├── ProviderResponseError          malformed response, or an error event in the stream
        └── AllProvidersFailedError        every candidate failed; .attempts

Messages say what failed and how to fix it. They never contain prompts, tokens or
credentials: callers may log them freely.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

__all__ = [
    "AllProvidersFailedError",
    "AmbiguousProviderError",
    "Attempt",
    "AuthRequiredError",
    "G4FError",
    "InvalidRequestError",
    "ModelNotSupportedError",
    "PluginLoadError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderNotFoundError",
    "ProviderNotWorkingError",
    "ProviderResponseError",
    "ProviderTimeoutError",
    "RateLimitError",
    "StreamNotSupportedError",
]


class G4FError(Exception):
    """Base of every error g4f-core raises."""


class ProviderNotFoundError(G4FError, KeyError):
    """No provider answers to that name."""

    def __str__(self) -> str:
        # KeyError quotes its message; we want it read as a sentence.
        return str(self.args[0]) if self.args else ""


class AmbiguousProviderError(ProviderNotFoundError):
    """Two or more distributions declare the name; a qualified name picks one."""


class InvalidRequestError(G4FError, ValueError):
    """The request is malformed; nothing was sent."""


class ModelNotSupportedError(InvalidRequestError):
    """The provider does not serve the requested model."""


class StreamNotSupportedError(InvalidRequestError):
    """Streaming was asked of a provider that cannot stream."""


class AuthRequiredError(G4FError):
    """The provider needs a credential and the call gave none."""


class ProviderNotWorkingError(G4FError):
    """The provider declares itself not working."""


class PluginLoadError(G4FError):
    """A plugin failed to load while G4F_CORE_STRICT is set."""


class Attempt(NamedTuple):
    """One try at one provider, kept on errors so that callers see every failure."""

    provider: str
    error: ProviderError


class ProviderError(G4FError):
    """The provider failed upstream.

    ``partial_text`` is exactly the text the caller had received when it failed
    ("" before the first token); ``attempts`` lists every try of the call, in order.
    """

    #: Whether retrying the same request may succeed (only ever done before the first token).
    retryable: bool = False
    #: At most this many retries for this kind of failure, whatever ``max_retries`` allows.
    retry_limit: int | None = None

    def __init__(self, message: str, *, provider: str | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.partial_text = ""
        self.attempts: list[Attempt] = []
        #: True when g4f-core had to remove the call's prompt or credential from the message.
        self.masked = False

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        prefix = f"{self.provider}: " if self.provider else ""
        return prefix + self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, provider={self.provider!r})"


class ProviderConnectionError(ProviderError):
    """The connection could not be made, or broke before the reply was complete."""

    retryable = True


class ProviderTimeoutError(ProviderError):
    """A single wait exceeded ``timeout``, or the whole call exceeded ``deadline``."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        phase: str = "read",
        limit: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider)
        self.phase = phase
        self.limit = limit
        # A blown deadline leaves no time to retry in.
        self.retryable = phase != "deadline"


class ProviderHTTPError(ProviderError):
    """The provider answered with a non-success status."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message, provider=provider)
        self.status = status
        self.error_type = error_type
        self.retryable = status in (408, 409, 429) or status >= 500


class RateLimitError(ProviderHTTPError):
    """429: too many requests. ``retry_after`` is the server's wish in seconds, if it said."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int = 429,
        retry_after: float | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message, provider=provider, status=status, error_type=error_type)
        self.retry_after = retry_after


class ProviderResponseError(ProviderError):
    """The reply was malformed, or the stream carried an error event."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        error_type: str | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message, provider=provider)
        self.error_type = error_type
        self.retryable = retryable


class AllProvidersFailedError(ProviderError):
    """Every candidate provider failed before sending any text."""

    def __init__(self, attempts: Sequence[Attempt]) -> None:
        names = ", ".join(dict.fromkeys(a.provider for a in attempts))
        last = attempts[-1].error if attempts else None
        detail = f"; last error: {last}" if last is not None else ""
        super().__init__(f"all providers failed ({len(attempts)} attempts: {names}){detail}")
        self.attempts = list(attempts)
