"""The HTTP transport providers use: a shared pool, bounded waits, typed errors.

``Client`` is made per call (its own cookie jar, the pool shared by all calls) and
applies the call's :class:`~g4f_core.context.CallContext`: every wait is bounded by
``timeout`` and by what is left of ``deadline``; redirects are never followed for
API calls (a redirect could carry the prompt to another host); TLS is always
verified, against ``ca_bundle`` when given; the environment's proxy and netrc
settings are ignored, so a request goes where the call says. Failures of
``requests`` and ``urllib3`` become g4f-core errors (translate.py); their internals are
used only through adapter.py, and every read goes through ``watchdog.watched_read``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import requests
import urllib3

from g4f_core.context import CallContext, current
from g4f_core.errors import (
    G4FError,
    ProviderConnectionError,
    ProviderError,
    ProviderResponseError,
    ProviderTimeoutError,
)
from g4f_core.progress import text_clock
from g4f_core.redaction import redact, safe_cause, split_userinfo, without_userinfo
from g4f_core.transport.abort import Abort, abort_scope
from g4f_core.transport.adapter import Body, body_of, socket_of, store_body, unknown_coding
from g4f_core.transport.pool import shared_adapter
from g4f_core.transport.sse import DecodeError, EventTooLargeError, LineTooLongError, SSEDecoder
from g4f_core.transport.translate import (
    error_from_response,
    origin,
    parse_retry_after,
    refused_request,
    translate,
)
from g4f_core.transport.watchdog import Expired, expiry, watched_read

__all__ = ["Client", "error_from_response", "origin", "parse_retry_after", "translate"]

USER_AGENT = "g4f-core/0.1"
_READ_SIZE = 64 << 10
_CLEANUP_GRACE = 0.25
_FINISH_WAIT = 0.5
T = TypeVar("T")


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
        # user:password@ in the base URL becomes Basic auth, so no header built from
        # base_url (a Referer, an Origin) ever carries the password.
        url, userinfo = split_userinfo(url)
        self.base_url = url.rstrip("/")
        session = requests.Session()
        credential = self.context.auth_headers()  # the provider's auth_scheme
        # The call's own credential wins over a user:password in its base URL.
        session.auth = None if "Authorization" in credential else userinfo
        session.trust_env = False  # no netrc, proxy or CA bundle from the environment
        session.adapters.clear()
        adapter = shared_adapter()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = USER_AGENT
        session.headers.update(credential)
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
        wait = self._wait(timeout, cleanup)
        token = expiry.set(time.monotonic() + wait)
        scope = abort_scope.set(abort)  # the head read attaches to it (adapter.py)
        try:
            # Always streamed underneath, so no body (an error page included) is read unbounded.
            kwargs["headers"] = without_userinfo(kwargs.get("headers"))
            response = self.session.request(
                method,
                self.url(path),
                timeout=(wait, wait),
                allow_redirects=False,
                stream=True,
                **kwargs,
            )
        except requests.RequestException as exc:
            raise self._send_failed(exc, wait) from safe_cause(exc)
        finally:
            expiry.reset(token)
            abort_scope.reset(scope)
        self._refuse(response, expect)
        if not stream:
            self._read_body(response, abort)
        return response

    def _refuse(self, response: requests.Response, expect: tuple[int, ...]) -> None:
        """Raise (closing the response) for a status outside ``expect`` or an unknown coding."""
        if response.status_code not in expect:
            try:  # an error body may trickle too: read within one timeout and the deadline
                until = self._until(time.monotonic())
                error = error_from_response(
                    response, self.context.provider, self.context, until=until
                )
            finally:
                response.close()
            raise redact(error, self.context.auth)
        if unknown_coding(response):  # urllib3 would hand it over undecoded, as if plain
            response.close()
            raise ProviderResponseError(
                f"{self.origin} sent a body in a Content-Encoding g4f-core cannot decode "
                "(gzip and deflate are; br and zstd with their packages)",
                provider=self.context.provider,
            )

    def _wait(self, timeout: float | None, cleanup: bool) -> float:
        """How long this request may wait; a clean-up gets a grace past the deadline."""
        if not cleanup:
            return self.context.wait_limit(timeout)
        left = self.context.remaining()
        wait = min(timeout or self.context.timeout, self.context.timeout)
        return wait if left is None else min(wait, max(left, _CLEANUP_GRACE))

    def _send_failed(self, exc: requests.RequestException, wait: float) -> G4FError:
        """The error for a request that got no response head."""
        refused = refused_request(exc, self.context.provider)
        if refused is not None:  # a bad URL or header: nothing was sent
            return refused
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
        return redact(error, self.context.auth)

    def _read_body(self, response: requests.Response, abort: Abort | None) -> None:
        """Read a whole (small) body: within one timeout, within the deadline, capped."""
        limit = self.context.max_reply_bytes
        until = self._until(time.monotonic())
        sock = socket_of(response)
        if abort is not None:
            abort.attach(sock, response.raw)
        try:
            body, fired = watched_read(sock, until, _read, response, limit + 1)
            if fired or time.monotonic() >= until:
                raise self._timeout_error()  # cut short: what was read is not the whole body
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            response.close()
            raise self._read_failed(exc, until) from safe_cause(exc)
        finally:
            if abort is not None:
                abort.detach(sock)
        if len(body) > limit:
            response.close()
            raise ProviderResponseError(
                f"reply from {self.origin} exceeded max_reply_bytes={limit}",
                provider=self.context.provider,
            )
        store_body(response, body)
        response.close()

    def events(self, response: requests.Response) -> Generator[str, None, None]:
        """The data of each server-sent event, as it arrives; closes the response at the end.

        No single read waits longer than ``timeout``, the gap between two events
        (keep-alive comments do not count) may not exceed it either, and nothing waits
        past the deadline: the watchdog stops a read at the earlier of the two. Inside a
        call, the stream may also go no longer than ``timeout`` without the call
        delivering text (progress.py): events without text do not count as progress. A
        line, an event or a whole reply over its size limit is refused as soon as the
        limit is passed. Every read takes all that has arrived, and all its events are
        decoded at once.
        """
        ctx = self.context
        decoder = SSEDecoder(max_line_bytes=ctx.max_line_bytes)
        feed = decoder.feed
        body = body_of(response)
        read, sock = body.read, body.sock
        received, most = 0, ctx.max_reply_bytes
        clock, started = text_clock.get(), time.monotonic()
        until = idle = self._until(started)  # idle: the limit without the no-text one
        abort = self._abort
        if abort is not None:  # once per response, and while suspended too: a close cuts it
            abort.attach(sock, response.raw)
        try:
            while True:
                chunk, fired = watched_read(sock, until, read, _READ_SIZE)
                if not chunk:
                    if fired:
                        raise self._timeout_error()
                    break
                received += len(chunk)
                if received > most:
                    raise self._too_big(most)
                datas = feed(chunk)
                if datas:
                    # The time the caller spends with the events is not a wait on the
                    # server: the watchdog is disarmed while they are handed over.
                    yield from datas
                    now = time.monotonic()
                    until = idle = self._until(now)
                    if clock is not None:  # events came, but did text? (progress.py)
                        until = min(idle, max(clock.at, started) + ctx.timeout)
                    fired = fired or until <= now  # the deadline passed meanwhile
                elif time.monotonic() >= until:  # bytes, but no event in time (keep-alives)
                    fired = True
                if fired:  # what arrived is delivered; the socket is shut all the same
                    raise self._timeout_error(textless=time.monotonic() < idle)
                if decoder.error is not None:
                    raise decoder.error
            self._ended(body, decoder, abort)
        except DecodeError as exc:
            raise self._malformed(exc) from None
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            textless = time.monotonic() < idle  # the no-text limit stopped it, not the idle one
            raise self._read_failed(exc, until, textless=textless) from safe_cause(exc)
        finally:
            if abort is not None:
                abort.detach(sock)
            response.close()

    def _too_big(self, most: int) -> ProviderResponseError:
        return ProviderResponseError(
            f"reply from {self.origin} exceeded max_reply_bytes={most}",
            provider=self.context.provider,
        )

    def _ended(self, body: Body, decoder: SSEDecoder, abort: Abort | None) -> None:
        """The end of an event stream: the connection goes back to the pool (detached from
        the abort first: it may be another call's next), and a cut-off event is an error."""
        if abort is not None:
            abort.detach(body.sock)
        body.release()
        decoder.end()
        if decoder.truncated:
            raise ProviderConnectionError(
                f"the stream from {self.origin} ended in the middle of an event",
                provider=self.context.provider,
            )

    def _malformed(self, exc: DecodeError) -> ProviderResponseError:
        if isinstance(exc, LineTooLongError | EventTooLargeError):
            text = f"{exc} (max_line_bytes); the reply from {self.origin} is not a token stream"
        else:
            text = f"malformed stream from {self.origin}: {exc}"
        return ProviderResponseError(text, provider=self.context.provider)

    def finish(self, response: requests.Response, *, limit: int = _READ_SIZE) -> None:
        """After the last event: read the little that is left so the connection can be reused.

        A server that keeps sending, or stalls (half a second at most), gets its
        connection closed instead.
        """
        body = body_of(response)
        until = min(time.monotonic() + _FINISH_WAIT, self._until(time.monotonic()))
        try:
            while limit > 0:
                chunk, fired = watched_read(body.sock, until, body.read, limit)
                if fired:
                    break
                if not chunk:
                    body.release()  # end of body: the connection goes back to the pool
                    break
                limit -= len(chunk)
        except (urllib3.exceptions.HTTPError, OSError, ProviderError):
            pass
        finally:
            response.close()

    def _watched(self, response: requests.Response, read: Callable[[], T]) -> T:
        """``read()`` of ``response``, kept within one timeout and the deadline."""
        result, _fired = watched_read(socket_of(response), self._until(time.monotonic()), read)
        return result

    def read_some(self, response: requests.Response, limit: int = 4096) -> bytes:
        """Up to ``limit`` bytes of a body, for quoting in an error; b"" if it fails."""
        try:
            return self._watched(response, lambda: _read(response, limit))
        except (urllib3.exceptions.HTTPError, OSError):
            return b""

    def _read_failed(
        self, exc: BaseException, until: float, *, textless: bool = False
    ) -> ProviderError:
        """A failed body read: a timeout when the watchdog or a limit stopped it."""
        error = translate(exc, self.context.provider, self.origin, during_stream=True)
        stopped = isinstance(exc, Expired) or time.monotonic() >= until
        if stopped or isinstance(error, ProviderTimeoutError):
            error = self._timeout_error(textless=textless)
        return redact(error, self.context.auth)

    def _until(self, last_event: float) -> float:
        """When the wait for the next event must end: the idle limit, cut by the deadline."""
        until = last_event + self.context.timeout
        deadline = self.context.deadline_at
        return until if deadline is None else min(until, deadline)

    def _timeout_error(self, *, textless: bool = False) -> ProviderTimeoutError:
        left = self.context.remaining()
        if left is not None and left <= 0:
            return self.context.deadline_error()
        return self._idle_error(textless=textless)

    def _idle_error(self, *, textless: bool = False) -> ProviderTimeoutError:
        limit = self.context.timeout
        what = "no text (only events without any)" if textless else "no event"
        return ProviderTimeoutError(
            f"{what} from {self.origin} for {limit:g} s (timeout); pass a larger timeout= "
            "if the provider is slow",
            provider=self.context.provider,
            phase="idle",
            limit=limit,
        )


def _read(response: requests.Response, size: int) -> bytes:
    data: bytes = response.raw.read(size, decode_content=True) or b""
    return data
