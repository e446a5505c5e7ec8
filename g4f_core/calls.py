"""One call interface over every provider: check, select, run, retry, fall back.

Everything about a request is checked first (planning.py), before any network I/O.
:class:`ChatStream` then runs the provider's generator step by step inside the
call's context, translating failures into the error tree. Before the first chunk
reaches the caller a retryable failure is retried (``max_retries``, jittered
backoff, ``Retry-After`` honoured within the deadline) and then the next candidate
provider is tried; after the first chunk nothing is retried, so text is never
duplicated, and the error carries ``partial_text``: exactly what was delivered.

Closing works from any thread: while another thread is stepping the stream (blocked
in a read, say), :meth:`ChatStream.close` cannot close the generator, so it aborts
the call instead (transport/abort.py): the read is cut, the provider's clean-up runs
on the stepping thread, and that thread's iteration simply ends.
"""

from __future__ import annotations

import contextvars
import logging
import random
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

import attrs

from g4f_core.context import CallContext, _current
from g4f_core.errors import (
    AllProvidersFailedError,
    Attempt,
    G4FError,
    ProviderError,
    ProviderResponseError,
    ProviderTimeoutError,
    RateLimitError,
)
from g4f_core.outcomes import add_hint, not_an_exception, run_step, typed
from g4f_core.planning import Candidate, Plan, context_for
from g4f_core.progress import TextClock, text_clock
from g4f_core.redaction import safe_cause
from g4f_core.transport.abort import Abort, abort_scope

__all__ = ["ChatStream"]

log = logging.getLogger("g4f_core")
_MAX_BACKOFF = 8.0
_MAX_RETRY_AFTER = 60.0  # a server asking for longer gets its error back at once


class ChatStream(Iterator[str]):
    """The chunks of one call as they arrive.

    Closing it (``close()``, leaving a ``with`` block, or dropping it) stops the
    provider and releases its connection; ``close()`` works from any thread.
    ``provider`` names the provider that answered; ``text`` is everything delivered
    so far. ``started`` (monotonic) is when the call's deadline clock began, if
    earlier than the first chunk asked for.
    """

    def __init__(self, plan: Plan, *, started: float | None = None) -> None:
        self._plan = plan
        self._progress = _Progress()
        self._abort = Abort()
        self._closed = False
        # The generator must not refer back to this object: with no reference cycle,
        # dropping the stream closes the provider at once, not at the next GC pass.
        self._gen: Generator[str, None, None] = _drive(plan, self._progress, self._abort, started)
        self._next = self._gen.__next__

    def __iter__(self) -> ChatStream:
        return self  # the iterator protocol: iter(stream) is stream

    def __next__(self) -> str:
        try:
            return self._next()
        except ValueError:  # "generator already executing": close() ran on another thread
            if self._closed:  # between two steps of this one; this iteration simply ends
                raise StopIteration from None
            raise

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the call; from another thread, interrupt it where it waits."""
        self._closed = True
        if not getattr(self._gen, "gi_running", False):
            try:
                self._gen.close()
                return
            except ValueError:  # another thread began stepping it just now
                pass
        self._interrupt()

    def _interrupt(self) -> None:
        """Abort the call without running any of it here: never blocks.

        The thread stepping the stream sees its wait cut, runs the provider's
        clean-up, and its iteration ends; a stream nobody steps ends at its next step.
        """
        self._abort.abort()

    @property
    def text(self) -> str:
        return self._progress.text

    @property
    def provider(self) -> str | None:
        """The qualified name of the provider answering (or last tried)."""
        return self._progress.provider

    @property
    def attempts(self) -> int:
        """How many attempts the call has made so far (retries and fallbacks included)."""
        return self._progress.attempts

    def __repr__(self) -> str:
        names = ", ".join(c.info.name for c in self._plan.candidates)
        return f"<ChatStream providers=[{names}] delivered={self._progress.chars} chars>"


class _Progress:
    """What a call has delivered so far, shared by the stream and its generator.

    The delivered text must be kept (it is ``partial_text`` if the stream fails), but
    not as one object per token: every 512 chunks are joined into one string, so a
    long reply costs about its own size rather than tens of bytes per token. The only
    work per chunk is one append (``_attempt`` does it); counts are worked out when read.
    """

    BLOCK = 512

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.recent: list[str] = []
        self.attempts = 0
        self.provider: str | None = None
        # Set by a reader that is not the stepping thread (aio/handoff.py): it sees each
        # finished attempt's event first and returns what the caller really received.
        self.gate: Callable[[Any], Any] | None = None

    def pack(self) -> None:
        """Join the recent chunks into one block (every ``BLOCK`` chunks)."""
        self.blocks.append("".join(self.recent))
        self.recent.clear()

    @property
    def chunks(self) -> int:
        return len(self.blocks) * self.BLOCK + len(self.recent)

    @property
    def chars(self) -> int:
        return sum(map(len, self.blocks)) + sum(map(len, self.recent))

    @property
    def text(self) -> str:
        return "".join(self.blocks) + "".join(self.recent)


def _drive(
    plan: Plan, progress: _Progress, abort: Abort, started: float | None
) -> Generator[str, None, None]:
    if started is None:
        started = time.monotonic()
    attempts: list[Attempt] = []
    private = tuple(str(m["content"]) for m in plan.messages)
    for cand in plan.candidates:
        for number in range(1, plan.max_retries + 2):
            ctx = attrs.evolve(
                context_for(cand.info, plan.framework, plan.registry.environ, started=started),
                attempt=len(attempts) + 1,
                private=private,
            )
            try:
                progress.provider = cand.info.qualified_name
                progress.attempts = len(attempts) + 1
                yield from _attempt(plan, progress, cand, ctx, abort)
                return
            except ProviderError as error:
                if abort.aborted:
                    return  # closed while it ran: no error, no retry, no fallback
                add_hint(error, cand.info, ctx, bool(progress.chunks))
                error.partial_text = progress.text
                attempts.append(Attempt(cand.info.qualified_name, error))
                error.attempts = list(attempts)
                if progress.chunks:
                    raise  # text was delivered: never retry, never fall back
                delay = _retry_delay(error, number, plan.max_retries, ctx)
                if delay is None:
                    if plan.by_name and cand is plan.candidates[-1]:
                        raise
                    break
                if _backoff(abort, delay):
                    return  # closed during the back-off
    raise AllProvidersFailedError(attempts)


def _backoff(abort: Abort, seconds: float) -> bool:
    """Sleep before a retry; True if the call was closed meanwhile (the sleep is cut)."""
    return abort.wait(seconds)


def _attempt(
    plan: Plan, progress: _Progress, cand: Candidate, ctx: CallContext, abort: Abort
) -> Iterator[str]:
    info = cand.info
    run, clock = _context(ctx, abort)
    observe = plan.registry.has_observers
    began = time.monotonic()
    outcome = "error"
    failure: G4FError | None = None
    if observe:
        plan.registry.notify("g4f_core_call_started", event=_event(cand, plan, ctx))
    source: Any = None
    try:
        source = _start(plan, cand, run)
        deadline_at = ctx.deadline_at
        step, enter = source.__next__, run.run
        recent, block = progress.recent, progress.BLOCK
        while True:
            try:
                chunk = enter(step)  # each step runs in the attempt's context, entered not copied
            except StopIteration:
                break
            except (Exception, KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # noqa: BLE001 - the provider's, not the caller's stop
                raise not_an_exception(exc) from safe_cause(exc)
            if not isinstance(chunk, str):
                raise ProviderResponseError(
                    f"the provider yielded {type(chunk).__name__} instead of str"
                )
            if not chunk:  # no text, but the deadline still runs
                if deadline_at is not None and time.monotonic() >= deadline_at:
                    raise ctx.deadline_error()
                continue
            if abort.aborted:  # closed from another thread: deliver nothing more
                break
            recent.append(chunk)
            if len(recent) >= block:
                progress.pack()
            yield chunk
            clock.at = now = time.monotonic()  # text was delivered: the no-text limit restarts
            if deadline_at is not None and now >= deadline_at:
                raise ctx.deadline_error()
        outcome = "cancelled" if abort.aborted else "ok"
    except GeneratorExit:
        outcome = "cancelled"
        raise
    except Exception as exc:  # anything a provider raises becomes typed (or ends an abort)
        if abort.aborted:
            outcome = "cancelled"  # the abort cut a wait: the caller asked for no more
            return
        failure = run.run(typed, exc, info.name, ctx)  # in the call: error bodies are bounded
        if failure is exc:
            raise
        raise failure from safe_cause(exc)
    finally:
        _close(source, run, info.name)
        if observe:
            event = _event(cand, plan, ctx)
            _finished(plan, event, time.monotonic() - began, outcome, failure, progress)


def _context(ctx: CallContext, abort: Abort) -> tuple[contextvars.Context, TextClock]:
    """The attempt's own context: its CallContext, its abort, and the clock of its text."""
    run = contextvars.copy_context()
    clock = TextClock(time.monotonic())
    run.run(_current.set, ctx)
    run.run(text_clock.set, clock)
    run.run(abort_scope.set, abort)
    return run, clock


def _start(plan: Plan, cand: Candidate, run: contextvars.Context) -> Iterator[str]:
    """Call the provider in the attempt's context; its generator (or legacy str) as chunks."""
    messages = [dict(m) for m in plan.messages]  # providers may mutate their copy
    info = cand.info
    source: Any = run_step(
        run, info.create_completion, cand.model, messages, plan.stream, **cand.kwargs
    )
    if isinstance(source, str):  # legacy providers returned the whole text
        return iter((source,))
    if not hasattr(source, "__next__"):
        raise ProviderResponseError(
            f"_create_completion returned {type(source).__name__}; it must yield str chunks"
        )
    chunks: Iterator[str] = source
    return chunks


def _finished(
    plan: Plan,
    event: Any,
    elapsed: float,
    outcome: str,
    failure: G4FError | None,
    progress: _Progress,
) -> None:
    """Tell the observers an attempt has ended."""
    event = attrs.evolve(
        event,
        elapsed=elapsed,
        outcome=outcome,
        error=type(failure).__name__ if failure else None,
        # An attempt after the first delivered chunk never happens, so the call's
        # counts are this attempt's.
        chunks=progress.chunks,
        characters=progress.chars,
    )
    if progress.gate is not None:  # a reader on another thread sees it first
        event = progress.gate(event)
    plan.registry.notify("g4f_core_call_finished", event=event)


def _close(source: object, run: contextvars.Context, provider: str) -> None:
    """Close the provider's generator in its context; a failed clean-up is only logged."""
    close = getattr(source, "close", None)
    if close is not None:
        try:
            run_step(run, close)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - a failed clean-up must not replace the outcome
            log.debug("%s: closing the provider raised %s", provider, type(exc).__name__)


def _event(cand: Candidate, plan: Plan, ctx: CallContext) -> Any:
    from g4f_core.plugins.hookspecs import CallEvent

    return CallEvent(cand.info.qualified_name, cand.model, plan.stream, ctx.attempt)


def _retry_delay(
    error: ProviderError, number: int, max_retries: int, ctx: CallContext
) -> float | None:
    """Seconds to wait before retrying, or None when the error must not be retried."""
    allowed = max_retries if error.retry_limit is None else min(max_retries, error.retry_limit)
    if not error.retryable or number > allowed:
        return None
    delay = min(0.5 * 2.0 ** (number - 1), _MAX_BACKOFF) * random.uniform(0.75, 1.0)
    if isinstance(error, RateLimitError) and error.retry_after is not None:
        if error.retry_after > _MAX_RETRY_AFTER:
            return None
        delay = float(error.retry_after)
    left = ctx.remaining()
    if left is not None and delay >= left:
        return None
    if isinstance(error, ProviderTimeoutError) and error.phase == "deadline":
        return None
    return delay
