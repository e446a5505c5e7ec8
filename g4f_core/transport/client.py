"""The HTTP transport providers use: a shared pool, bounded waits, typed errors.

``Client`` is made per call (its own cookie jar, the pool shared by all calls) and
applies the call's :class:`~g4f_core.context.CallContext`: every wait is bounded by
``timeout`` and by what is left of ``deadline``; redirects are never followed for
API calls (a redirect could carry the prompt to another host); TLS is always
verified, against ``ca_bundle`` when given; the environment's proxy and netrc
settings are ignored, so a request goes where the call says. Failures of
``requests`` and ``urllib3`` become g4f-core errors (see http_errors.py).
"""

from __future__ import annotations

import contextlib
import math
import socket
import time
from collections.abc import Generator, Iterator
from typing import Any

import requests
import urllib3

from g4f_core.context import CallContext, current
from g4f_core.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderResponseError,
    ProviderTimeoutError,
)
from g4f_core.redaction import redact, safe_cause
from g4f_core.transport.abort import Abort, abort_scope
from g4f_core.transport.pool import shared_adapter
from g4f_core.transport.sse import DecodeError, LineTooLongError, SSEDecoder
from g4f_core.transport.translate import error_from_response, origin, parse_retry_after, translate
from g4f_core.transport.watchdog import expiry, watchdog

__all__ = ["Client", "error_from_response", "origin", "parse_retry_after", "translate"]

USER_AGENT = "g4f-core/0.1"
_READ_SIZE = 64 << 10
_CLEANUP_GRACE = 0.25


class Client:
    """HTTP for one call: own cookies, shared pool, the call's limits on every wait."""

    def __init__(self, context: CallContext | None = None, *, base_url: str | None = None) -> None:
        self.context = context or current()
        # The running call's abort: close() from any thread cuts this client's waits.
        self._abort = abort_scope.get()
        url = self.context.base_url or base_url
        if not url:
            raise ProviderConnectionError(
                "no base URL: the provider declares none and none was given",
                provider=self.context.provider,
            )
        self.base_url = url.rstrip("/")
        session = requests.Session()
        session.trust_env = False  # no netrc, proxy or CA bundle from the environment
        session.adapters.clear()
        adapter = shared_adapter()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = USER_AGENT
        if self.context.proxy:
            session.proxies = {"http": self.context.proxy, "https": self.context.proxy}
        session.verify = self.context.ca_bundle or True
        self.session = session

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        # Session.close() would close the shared pool; the cookies are all that is ours.
        self.session.cookies.clear()

    def url(self, path: str) -> str:
        return path if "://" in path else f"{self.base_url}/{path.lstrip('/')}"

    @property
    def origin(self) -> str:
        return origin(self.base_url)

    def request(
        self,
        method: str,
        path: str,
        *,
        expect: tuple[int, ...] = (200,),
        stream: bool = False,
        timeout: float | None = None,
        cleanup: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request; any status outside ``expect`` becomes a typed error.

        ``cleanup`` requests (a DELETE after a failure) may run a short grace past the
        deadline, so that a call that ran out of time still tidies up after itself.
        """
        abort = None if cleanup else self._abort  # clean-up runs even after an abort
        if abort is not None and abort.aborted:
            raise ProviderConnectionError(
                "the call was closed; nothing more is sent", provider=self.context.provider
            )
        if cleanup:
            left = self.context.remaining()
            wait = min(timeout or self.context.timeout, self.context.timeout)
            if left is not None:
                wait = min(wait, max(left, _CLEANUP_GRACE))
        else:
            wait = self.context.wait_limit(timeout)
        token = expiry.set(time.monotonic() + wait)
        scope = abort_scope.set(abort)  # the head read attaches to it (pool.py)
        try:
            # Always streamed underneath, so no body (an error page included) is read unbounded.
            response = self.session.request(
                method,
                self.url(path),
                timeout=(wait, wait),
                allow_redirects=False,
                stream=True,
                **kwargs,
            )
        except requests.RequestException as exc:
            error = translate(exc, self.context.provider, self.origin)
            stopped = time.monotonic() >= (expiry.get() or math.inf)
            if stopped and not isinstance(exc, requests.ConnectTimeout):  # the watchdog did it
                error = ProviderTimeoutError(
                    f"{self.origin} did not answer within {wait:g} s",
                    provider=self.context.provider,
                    phase="headers",
                    limit=wait,
                )
            left = self.context.remaining()
            if isinstance(error, ProviderTimeoutError) and left is not None and left <= 0:
                error = self.context.deadline_error()
            raise redact(error, self.context.auth) from safe_cause(exc)
        finally:
            expiry.reset(token)
            abort_scope.reset(scope)
        if response.status_code not in expect:
            try:
                with self._watching(response):  # an error body may trickle too
                    error = error_from_response(response, self.context.provider)
            finally:
                response.close()
            raise redact(error, self.context.auth)
        if not stream:
            self._read_body(response, abort)
        return response

    def _read_body(self, response: requests.Response, abort: Abort | None) -> None:
        """Read a whole (small) body: within one timeout, within the deadline, capped."""
        limit = self.context.max_reply_bytes
        sock = _socket(response.raw)
        until = self._until(time.monotonic())
        if sock is not None:
            watchdog.watch(sock, until)
            if abort is not None:
                abort.attach(sock, response.raw)
        try:
            body = response.raw.read(limit + 1, decode_content=True) or b""
            if (sock is not None and watchdog.clear(sock)) or time.monotonic() >= until:
                raise self._timeout_error()  # cut short: what was read is not the whole body
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            response.close()
            raise self._read_failed(exc, sock, until) from safe_cause(exc)
        finally:
            if sock is not None:
                watchdog.clear(sock)
                if abort is not None:
                    abort.detach(sock)
        if len(body) > limit:
            response.close()
            raise ProviderResponseError(
                f"reply from {self.origin} exceeded max_reply_bytes={limit}",
                provider=self.context.provider,
            )
        response._content = body  # what requests' own non-streamed read would have stored
        response.close()

    def events(self, response: requests.Response) -> Generator[str, None, None]:
        """The data of each server-sent event, as it arrives; closes the response at the end.

        No single read waits longer than ``timeout``, the gap between two events
        (keep-alive comments do not count) may not exceed it either, and nothing waits
        past the deadline. A line or a whole reply over its size limit is refused as
        soon as the limit is passed.
        """
        ctx = self.context
        decoder = SSEDecoder(max_line_bytes=ctx.max_line_bytes)
        received = 0
        last_event = time.monotonic()
        raw = response.raw
        sock = _socket(raw)
        until = self._until(last_event)
        abort = self._abort
        if sock is not None:
            watchdog.watch(sock, until)
            if abort is not None:  # attached while suspended too: a close cuts the stream
                abort.attach(sock, raw)
        try:
            while True:
                idle_left = ctx.timeout - (time.monotonic() - last_event)
                if idle_left <= 0:
                    raise self._idle_error()
                _set_read_timeout(raw, ctx.wait_limit(idle_left))
                chunk = raw.read1(_READ_SIZE, decode_content=True)
                if not chunk:
                    if sock is not None and watchdog.clear(sock):  # it was shut down
                        raise self._timeout_error()
                    break
                received += len(chunk)
                if received > ctx.max_reply_bytes:
                    raise ProviderResponseError(
                        f"reply from {self.origin} exceeded max_reply_bytes={ctx.max_reply_bytes}",
                        provider=ctx.provider,
                    )
                datas, failed = decoder.feed_data(chunk)
                if datas:
                    # The time the caller spends between chunks is not a wait on the
                    # server: stop the clock while the events are handed over.
                    fired = sock is not None and watchdog.clear(sock)
                    yield from datas
                    if fired:  # what arrived is delivered; the socket is shut all the same
                        raise self._timeout_error()
                    last_event = time.monotonic()
                    until = self._until(last_event)
                    if sock is not None:
                        watchdog.watch(sock, until)
                if failed is not None:
                    raise failed
            decoder.end()
            if decoder.truncated:
                raise ProviderConnectionError(
                    f"the stream from {self.origin} ended in the middle of an event",
                    provider=ctx.provider,
                )
        except LineTooLongError as exc:
            raise ProviderResponseError(
                f"{exc} (max_line_bytes); the reply from {self.origin} is not a token stream",
                provider=ctx.provider,
            ) from None
        except DecodeError as exc:
            raise ProviderResponseError(
                f"malformed stream from {self.origin}: {exc}", provider=ctx.provider
            ) from None
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            raise self._read_failed(exc, sock, until) from safe_cause(exc)
        finally:
            if sock is not None:
                watchdog.clear(sock)
                if abort is not None:
                    abort.detach(sock)
            response.close()

    def finish(self, response: requests.Response, *, limit: int = _READ_SIZE) -> None:
        """After the last event: read the little that is left so the connection can be reused.

        A server that keeps sending, or stalls, gets its connection closed instead.
        """
        raw = response.raw
        try:
            _set_read_timeout(raw, min(0.5, self.context.wait_limit()))
            while limit > 0:
                chunk = raw.read1(limit, decode_content=True)
                if not chunk:
                    break  # end of body: urllib3 has put the connection back in the pool
                limit -= len(chunk)
        except (urllib3.exceptions.HTTPError, OSError, ProviderError):
            pass
        finally:
            response.close()

    @contextlib.contextmanager
    def _watching(self, response: requests.Response) -> Iterator[None]:
        """Keep a whole read of ``response`` within one timeout and the deadline."""
        sock = _socket(response.raw)
        if sock is None:
            yield
            return
        watchdog.watch(sock, self._until(time.monotonic()))
        try:
            yield
        finally:
            watchdog.clear(sock)

    def read_some(self, response: requests.Response, limit: int = 4096) -> bytes:
        """Up to ``limit`` bytes of a body, for quoting in an error; b"" if it fails."""
        with self._watching(response):
            try:
                return response.raw.read(limit, decode_content=True) or b""
            except (urllib3.exceptions.HTTPError, OSError):
                return b""

    def _read_failed(
        self, exc: BaseException, sock: socket.socket | None, until: float
    ) -> ProviderError:
        """A failed body read: a timeout when the watchdog or a limit stopped it."""
        error = translate(exc, self.context.provider, self.origin, during_stream=True)
        fired = sock is not None and watchdog.clear(sock)
        if fired or isinstance(error, ProviderTimeoutError) or time.monotonic() >= until:
            error = self._timeout_error()
        return redact(error, self.context.auth)

    def _until(self, last_event: float) -> float:
        """When the wait for the next event must end: the idle limit, cut by the deadline."""
        until = last_event + self.context.timeout
        deadline = self.context.deadline_at
        return until if deadline is None else min(until, deadline)

    def _timeout_error(self) -> ProviderTimeoutError:
        left = self.context.remaining()
        return (
            self.context.deadline_error() if left is not None and left <= 0 else self._idle_error()
        )

    def _idle_error(self) -> ProviderTimeoutError:
        limit = self.context.timeout
        return ProviderTimeoutError(
            f"no event from {self.origin} for {limit:g} s (timeout); pass a larger timeout= "
            "if the provider is slow",
            provider=self.context.provider,
            phase="idle",
            limit=limit,
        )


def _socket(raw: urllib3.HTTPResponse) -> socket.socket | None:
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    return sock if isinstance(sock, socket.socket) else None


def _set_read_timeout(raw: urllib3.HTTPResponse, seconds: float) -> None:
    sock = _socket(raw)
    if sock is not None:
        sock.settimeout(seconds)
