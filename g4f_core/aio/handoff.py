"""One async stream's hand-off: a worker thread steps the sync stream, the loop reads it.

The worker appends chunks to a deque and wakes the loop only when the reader is waiting,
so a fast stream is read in batches. Wake-ups of all the streams of one loop are
coalesced (:class:`Waker`): one ``call_soon_threadsafe`` (a self-pipe write, and for the
loop a ``recv`` and an ``epoll`` wake, each giving up the interpreter lock, which a busy
process then takes milliseconds to give back) per batch, not per chunk.
The deque is bounded: past ``HIGH`` chunks the worker waits until the reader has taken
it down to ``LOW``. Every cross-thread step is a single atomic operation (deque append
and pop, attribute reads, ``SimpleQueue.put``); the loop never takes a lock, so no
thread can make it wait. Cancelling (from the loop, a finalizer or any thread) aborts
the sync stream: a blocked read is cut, and the provider's clean-up runs on the worker.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import queue
import time
import weakref
from typing import Any

import attrs

from g4f_core.calls import ChatStream

__all__ = ["HIGH", "LOW", "Job", "Waker"]

HIGH = 256  # chunks buffered before the worker waits for the reader
LOW = HIGH // 2  # and how far the reader takes the buffer down before waking it
_ROOM_POLL = 1.0  # a waiting worker looks at its cancel flag at least this often


class Waker:
    """Wakes one loop's readers for every worker: one loop callback per batch."""

    __slots__ = ("__weakref__", "_drain_cb", "loop", "pending", "scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: collections.deque[asyncio.Future[None]] = collections.deque()
        self.scheduled = False
        self._drain_cb = self._drain

    def wake(self, future: asyncio.Future[None]) -> None:
        """From any thread; raises RuntimeError when the loop is closed."""
        self.pending.append(future)
        if not self.scheduled:  # read after the append: a running drain pops it, or we schedule
            self.scheduled = True
            self.loop.call_soon_threadsafe(self._drain_cb)

    def _drain(self) -> None:
        self.scheduled = False  # cleared before popping: a later append schedules anew
        pending = self.pending
        while pending:
            future = pending.popleft()
            if not future.done():
                future.set_result(None)

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> Waker:
        """The loop's waker (made on the loop, so never by two threads at once)."""
        waker = _wakers.get(loop)
        if waker is None:
            waker = _wakers[loop] = cls(loop)
        return waker


_wakers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Waker] = weakref.WeakKeyDictionary()


class Job:
    """The state one worker and one reader share; the worker runs it by calling it."""

    __slots__ = (
        "_room",
        "_woken",
        "blocked",
        "cancelled",
        "chunks",
        "closer",
        "collect",
        "error",
        "finished",
        "level",
        "loop",
        "result",
        "stream",
        "waiter",
        "waker",
    )

    def __init__(
        self, stream: ChatStream, loop: asyncio.AbstractEventLoop, *, collect: bool = False
    ) -> None:
        self.stream = stream
        self.loop = loop
        self.waker = Waker.of(loop)
        self.collect = collect  # join the reply on the worker (acomplete) instead of streaming
        self.chunks: collections.deque[str] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None  # written by the reader only
        self.closer: asyncio.Future[None] | None = None  # aclose() waiting for the end
        self._woken: asyncio.Future[None] | None = None  # written by the worker only
        self.finished = False
        self.cancelled = False
        self.blocked = False  # the worker waits for the reader to take chunks ...
        self.level = LOW  # ... down to this many
        self.error: BaseException | None = None
        self.result: str | None = None
        self._room: queue.SimpleQueue[None] = queue.SimpleQueue()
        stream._progress.gate = self._gate

    # --- the worker's side -------------------------------------------------------------

    def __call__(self) -> None:
        stream = self.stream
        try:
            if not self.cancelled:
                if self.collect:
                    self.result = "".join(stream)
                else:
                    self._pump(stream)
        except BaseException as exc:  # noqa: BLE001 - every outcome goes to the reader
            self.error = exc
        finally:
            try:
                stream.close()  # on this thread: the provider's clean-up, if any is left
            except Exception as exc:  # noqa: BLE001 - the outcome is already decided
                if self.error is None:
                    self.error = exc
            stream._progress.gate = None  # no cycle left behind

    def done(self) -> None:
        """Called once the worker is free again: the stream is over, tell the reader."""
        self.finished = True
        self._notify()
        closer = self.closer  # read after `finished` is set: settle() checks in that order
        if closer is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self.waker.wake(closer)

    def _pump(self, stream: ChatStream) -> None:
        chunks = self.chunks
        append = chunks.append
        for chunk in stream:
            if self.cancelled:
                return
            append(chunk)
            if self.waiter is not None:
                self._notify()
            if len(chunks) >= HIGH:
                self._wait(LOW)

    def _wait(self, level: int) -> None:
        """Until the reader has taken the buffer down to ``level`` chunks, or stopped."""
        chunks = self.chunks
        self.level = level
        while not self.cancelled:
            self.blocked = True
            if len(chunks) <= level:  # checked after raising the flag: no wake-up is missed
                break
            with contextlib.suppress(queue.Empty):
                self._room.get(timeout=_ROOM_POLL)
        self.blocked = False

    def _gate(self, event: Any) -> Any:
        """A finished attempt, as the sync API would report it: once the reader is done.

        The worker reads ahead; an attempt's end is reported when the reader has taken
        every chunk (or stopped), and a reader that stopped early sees, as in the sync
        API, a cancelled attempt that delivered what it received.
        """
        began = time.monotonic()
        self._wait(0)
        pending = list(self.chunks) if self.cancelled else []
        if pending:
            event = attrs.evolve(
                event,
                outcome="cancelled",
                error=None,
                chunks=event.chunks - len(pending),
                characters=event.characters - sum(map(len, pending)),
            )
        return attrs.evolve(event, elapsed=(event.elapsed or 0.0) + time.monotonic() - began)

    def _notify(self) -> None:
        """Wake the reader if it waits (once per wait)."""
        future = self.waiter
        if future is None or future is self._woken:
            return
        self._woken = future
        try:
            self.waker.wake(future)
        except RuntimeError:  # the loop is closed: nobody is left to read
            self.cancel()

    def failed(self, error: BaseException) -> None:
        """The job could not be started (no thread): report it to the reader."""
        self.error = error
        self.done()

    # --- any thread --------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop the stream; never blocks, never runs provider code here."""
        if self.cancelled:
            return
        self.cancelled = True
        self.stream._interrupt()
        self._room.put(None)

    # --- the loop's side ---------------------------------------------------------------

    def make_room(self) -> None:
        self.blocked = False
        self._room.put(None)

    async def arrival(self) -> None:
        """Until a chunk is there or the stream has ended; a cancel stops the stream."""
        future = self.loop.create_future()
        self.waiter = future
        if self.chunks or self.finished:  # checked after publishing the waiter
            self.waiter = None
            return
        try:
            await future
        except asyncio.CancelledError:
            self.cancel()
            raise
        finally:
            self.waiter = None

    async def settle(self, within: float) -> None:
        """After a cancel: until the worker has finished its clean-up, at most ``within`` s.

        A reader may still be waiting in ``arrival()``: this waits on a future of its own.
        """
        future: asyncio.Future[None] = self.loop.create_future()
        self.closer = future
        if self.finished:  # checked after publishing the future
            return
        timer = self.loop.call_later(within, _wake, future)
        try:
            await future  # done(), or the bound: the worker then finishes on its own
        finally:
            timer.cancel()
            self.closer = None


def _wake(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(None)
