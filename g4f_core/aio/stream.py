"""``AsyncChatStream``: the chunks of one call, read on an event loop.

The call itself is the sync :class:`~g4f_core.calls.ChatStream` (same planning, retries,
fallback, errors, observers), stepped on a worker thread (workers.py) and handed over in
batches (handoff.py). The deadline clock starts when the first chunk is asked for, as in
the sync API, so time spent waiting for a free worker counts against ``deadline``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from types import TracebackType

from g4f_core.aio import workers
from g4f_core.aio.handoff import Job
from g4f_core.calls import ChatStream
from g4f_core.context import CallContext
from g4f_core.errors import G4FError, ProviderTimeoutError
from g4f_core.planning import Plan

__all__ = ["AsyncChatStream"]


class AsyncChatStream(AsyncIterator[str]):
    """An async iterator of str chunks and an async context manager.

    Leaving ``async with``, ``aclose()``, cancelling the task that iterates, ``break``
    (once the stream is dropped) and garbage collection all stop the provider, close its
    connection and run its clean-up. ``provider`` names the provider answering; ``text``
    is everything this reader has received so far.
    """

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._job: Job | None = None
        self._stream: ChatStream | None = None
        self._chars = 0  # characters handed to the reader: .text is this prefix
        self._done = False

    def __aiter__(self) -> AsyncChatStream:
        return self

    async def __anext__(self) -> str:
        job = self._job
        if job is None:
            if self._done:
                raise StopAsyncIteration
            job = await self._start(collect=False)
        chunks = job.chunks
        while True:
            if chunks:
                chunk = chunks.popleft()
                if job.blocked and len(chunks) <= job.level:
                    job.make_room()
                self._chars += len(chunk)
                return chunk
            if job.finished:
                if not chunks:  # appended before `finished` was set: seen by now
                    self._end(job)
                continue
            try:
                await job.arrival()
            except BaseException:  # cancelled: the job is stopped, nothing more is read
                self._job, self._done = None, True
                raise

    def _end(self, job: Job) -> None:
        """The stream is over: raise its error once, then StopAsyncIteration."""
        self._job = None
        self._done = True
        error, job.error = job.error, None
        if error is not None:
            raise error
        raise StopAsyncIteration

    async def _start(self, *, collect: bool) -> Job:
        started = time.monotonic()
        stream = ChatStream(self._plan, started=started)
        job = Job(stream, asyncio.get_running_loop(), collect=collect)
        self._job, self._stream = job, stream
        ctx = self._context(started)
        try:
            wait = ctx.wait_limit()  # a deadline already gone raises here
            await workers.pool().submit(job, wait, lambda: self._busy_error(ctx, wait))
        except BaseException:
            self._job, self._done = None, True
            raise
        return job

    async def _collect(self) -> str:
        """The whole reply, joined on the worker (acomplete)."""
        job = await self._start(collect=True)
        while not job.finished:
            await job.arrival()
        self._job, self._done = None, True
        if job.error is not None:
            error, job.error = job.error, None
            raise error
        result = job.result or ""
        self._chars = len(result)
        return result

    def _context(self, started: float) -> CallContext:
        cand = self._plan.candidates[0]
        plan = self._plan
        return CallContext.build(
            cand.info.name, cand.info.url, plan.framework, plan.registry.environ, started=started
        )

    @staticmethod
    def _busy_error(ctx: CallContext, wait: float) -> G4FError:
        left = ctx.remaining()
        if left is not None and left <= 0:
            return ctx.deadline_error()
        return ProviderTimeoutError(
            f"every async worker stayed busy for {wait:g} s (timeout); raise "
            f"{workers.ENV} (now {workers.pool().limit}) or run fewer calls at once",
            phase="workers",
            limit=wait,
        )

    async def aclose(self) -> None:
        """Stop the call and wait (within its timeout) until the provider has cleaned up."""
        job = self._job
        self._job, self._done = None, True
        if job is None:
            return
        job.cancel()
        if not job.finished:
            await job.settle(self._context(time.monotonic()).timeout)

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        job = getattr(self, "_job", None)
        if job is not None and not job.finished:
            job.cancel()  # dropped unread: release the thread and the connection

    @property
    def text(self) -> str:
        stream = self._stream
        return "" if stream is None else stream.text[: self._chars]

    @property
    def provider(self) -> str | None:
        """The qualified name of the provider answering (or last tried)."""
        stream = self._stream
        return None if stream is None else stream.provider

    def __repr__(self) -> str:
        names = ", ".join(c.info.name for c in self._plan.candidates)
        return f"<AsyncChatStream providers=[{names}] delivered={self._chars} chars>"
