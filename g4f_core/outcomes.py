"""What an attempt's provider code raised, as the error tree: typed, scrubbed, hinted.

A provider step runs through :func:`run_step` (or the same handlers inline in the hot
loop): KeyboardInterrupt and SystemExit pass; any other BaseException is the provider's
bug, a ProviderResponseError. :func:`typed` turns an Exception into the error tree
(requests' refusals, transport failures, anything else by class name only) and removes
the call's prompt and credentials from every ProviderError. No HTTP library at import.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any

from g4f_core.context import CallContext
from g4f_core.errors import (
    G4FError,
    ProviderConnectionError,
    ProviderError,
    ProviderResponseError,
    ProviderTimeoutError,
)
from g4f_core.redaction import safe_cause, scrub_error

if TYPE_CHECKING:
    from g4f_core.plugins.provider import ProviderInfo

__all__ = ["add_hint", "not_an_exception", "run_step", "typed"]


def run_step(run: contextvars.Context, step: Any, *args: Any, **kwargs: Any) -> Any:
    """One step of provider code in the call's context.

    KeyboardInterrupt and SystemExit pass through unchanged; Exceptions are translated
    by the caller. Any other BaseException (GeneratorExit, asyncio.CancelledError, a
    custom subclass) raised by provider code is a provider bug, not the caller's stop:
    it becomes a ProviderResponseError here instead of escaping raw.
    """
    try:
        return run.run(step, *args, **kwargs)
    except (Exception, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - see the docstring
        raise not_an_exception(exc) from safe_cause(exc)


def not_an_exception(exc: BaseException) -> ProviderResponseError:
    return ProviderResponseError(
        f"the provider raised {type(exc).__name__}, which is not an Exception; "
        "set G4F_CORE_DEBUG=1 for the traceback"
    )


def add_hint(error: ProviderError, info: ProviderInfo, ctx: CallContext, delivered: bool) -> None:
    """Append the provider's ``connect_hint`` when its declared endpoint could not be reached."""
    hint = info.connect_hint
    unreachable = isinstance(error, ProviderConnectionError) or (
        isinstance(error, ProviderTimeoutError) and error.phase == "connect"
    )
    declared = (info.url or "").rstrip("/")
    wanted = hint and unreachable and not delivered and ctx.base_url == declared
    if wanted and hint and not error.message.endswith(hint):
        error.args = (f"{error.message}; {hint}", *error.args[1:])


def _is_transport(exc: BaseException) -> bool:
    """A socket, requests or urllib3 failure (requests' errors are OSErrors); not, say, a
    requests.cookies.CookieConflictError, which is a RuntimeError of the provider's own."""
    if isinstance(exc, OSError):
        return True
    return any(
        kind.__module__.startswith("urllib3") and kind.__name__ == "HTTPError"
        for kind in type(exc).__mro__
    )


def typed(exc: Exception, provider: str, ctx: CallContext) -> G4FError:
    """The error tree's view of what an attempt raised (g4f-core errors pass unchanged)."""
    if isinstance(exc, ProviderError):
        exc.provider = exc.provider or provider  # authors need not name themselves
        return scrub_error(exc, ctx)  # a provider may quote upstream text unscrubbed
    if isinstance(exc, G4FError):
        return exc
    failure = _wrap(exc, provider)
    if isinstance(failure, ProviderError):
        scrub_error(failure, ctx)
    return failure


def _wrap(exc: Exception, provider: str) -> G4FError:
    if type(exc).__module__.split(".")[0] in ("requests", "urllib3"):  # a bad URL or header
        from g4f_core.transport.translate import refused_request

        refused = refused_request(exc, provider)
        if refused is not None:
            return refused
    if isinstance(exc, ValueError):  # e.g. response.json() on a reply that is not JSON
        return ProviderResponseError(
            f"the provider could not read the reply ({type(exc).__name__})", provider=provider
        )
    if _is_transport(exc):
        from g4f_core.transport.translate import translate

        return translate(exc, provider)
    # Only the class name: the exception's text may quote the prompt or reply.
    return ProviderResponseError(
        f"the provider failed with {type(exc).__name__}; set G4F_CORE_DEBUG=1 for the traceback",
        provider=provider,
    )
