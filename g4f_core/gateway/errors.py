"""Errors on the wire: every failure is an OpenAI error body with a real status.

``{"error": {"message", "type", "param", "code"}}`` is what the official clients parse
(openai-python raises the ``APIStatusError`` subclass of the status with ``.body`` set
to the inner object). Library errors map onto statuses here, in one table:

====================================  ======  ==========================
library error                         status  code
====================================  ======  ==========================
ProviderNotFoundError, unknown model  404     model_not_found
InvalidRequestError (and subclasses)  400     invalid_request
ProviderNotWorkingError               400     provider_not_working
AuthRequiredError                     503     provider_not_configured
RateLimitError                        429     rate_limit_exceeded
ProviderTimeoutError                  504     upstream_timeout
any other ProviderError               502     upstream_error
====================================  ======  ==========================

``AllProvidersFailedError`` takes the status of its last attempt's error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from g4f_core.errors import (
    AllProvidersFailedError,
    AuthRequiredError,
    G4FError,
    InvalidRequestError,
    ModelNotSupportedError,
    ProviderError,
    ProviderNotFoundError,
    ProviderNotWorkingError,
    ProviderTimeoutError,
    RateLimitError,
)

__all__ = ["WireError", "from_library"]

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    429: "Too Many Requests",
    499: "Client Closed Request",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def status_line(status: int) -> str:
    return f"{status} {_REASONS.get(status, 'OK' if status < 300 else 'Error')}"


class WireError(Exception):
    """A failure to send as an OpenAI error body; ``retry`` False adds x-should-retry: false."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        retry: bool | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.retry = retry
        self.headers = dict(headers or {})

    def payload(self) -> dict[str, object]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def body(self) -> bytes:
        return json.dumps(self.payload()).encode()

    def event(self) -> bytes:
        """The error as the one server-sent event that ends a stream already under way."""
        return b"data: " + self.body() + b"\n\n"

    def response_headers(self) -> list[tuple[str, str]]:
        headers = [("Content-Type", "application/json")]
        if self.retry is not None:
            headers.append(("x-should-retry", "true" if self.retry else "false"))
        headers += list(self.headers.items())
        return headers


def bad_request(
    message: str, *, param: str | None = None, code: str = "invalid_request"
) -> WireError:
    return WireError(400, message, param=param, code=code, retry=False)


def _retry_after(seconds: float | None) -> dict[str, str]:
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return {}
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def _upstream(exc: ProviderError) -> WireError:
    last = exc
    if isinstance(exc, AllProvidersFailedError) and exc.attempts:
        last = exc.attempts[-1].error
    message = str(exc)
    if isinstance(last, RateLimitError):
        return WireError(
            429,
            message,
            type="rate_limit_error",
            code="rate_limit_exceeded",
            headers=_retry_after(last.retry_after),
        )
    if isinstance(last, ProviderTimeoutError):
        return WireError(504, message, type="timeout_error", code="upstream_timeout")
    # The library already retried what retrying could fix.
    return WireError(
        502,
        message,
        type="upstream_error",
        code="upstream_error",
        retry=None if last.retryable else False,
    )


def from_library(exc: G4FError) -> WireError:
    """The wire form of a library error (messages never hold prompts or credentials)."""
    if isinstance(exc, ProviderError):
        return _upstream(exc)
    message = str(exc)
    if isinstance(exc, ProviderNotFoundError | ModelNotSupportedError):
        return WireError(404, message, code="model_not_found", param="model", retry=False)
    if isinstance(exc, ProviderNotWorkingError):
        return WireError(400, message, code="provider_not_working", param="model", retry=False)
    if isinstance(exc, AuthRequiredError):
        return WireError(
            503,
            "the provider needs a credential this gateway does not have; the gateway's "
            "operator sets it in the server's environment (G4F_CORE_<NAME>_AUTH, or the "
            "variable the provider's auth_env names)",
            type="server_error",
            code="provider_not_configured",
            retry=False,
        )
    if isinstance(exc, InvalidRequestError):
        return bad_request(message)
    return WireError(500, message, type="server_error", code="internal_error")


def internal() -> WireError:
    """A bug in the gateway: said without details (they may quote a request)."""
    return WireError(
        500,
        "the gateway failed unexpectedly; its log has the details",
        type="server_error",
        code="internal_error",
    )
