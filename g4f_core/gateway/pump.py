"""The upstream side of a relayed call: a reader thread per call and a batched hand-off.

The reader thread iterates the library's :class:`~g4f_core.ChatStream` and appends each
chunk to a buffer; the server thread takes *everything* buffered at once, so a fast
upstream is relayed in few large writes rather than one write per token, and a silent
one leaves the server thread free to send keep-alives and to notice a client that left.
The buffer is bounded: a slow client makes the upstream wait, not the memory grow.
Cancelling closes the stream from the server thread (``ChatStream.close()`` works from
any thread): a reader waiting on the upstream has that wait cut (the call's abort,
transport/abort.py) and closes the stream in its own thread, which releases the
upstream connection and runs the provider's clean-up (H2o deletes its conversation);
a stream between two chunks is closed, clean-up included, on the server thread.
"""

from __future__ import annotations

import _thread
import logging
import os
import threading
import time
from collections.abc import Callable

from g4f_core.calls import ChatStream
from g4f_core.errors import G4FError

__all__ = ["Batch", "Pump"]

log = logging.getLogger("g4f_core.gateway")
_PUT_WAIT = 0.5  # seconds a reader blocked by a full buffer waits before re-checking


class Batch:
    """What one take() returned: the chunks, and whether the call has ended (and how)."""

    __slots__ = ("chunks", "done", "error")

    def __init__(self, chunks: list[str], done: bool, error: BaseException | None) -> None:
        self.chunks = chunks
        self.done = done
        self.error = error


class Readers:
    """Reader threads kept for reuse: starting a call costs a hand-off, not a thread start.

    ``threading.Thread.start`` waits until the new thread runs, which on a busy machine
    adds milliseconds to the first token; an idle reader is woken instead, and a new one
    is started without waiting for it. Idle readers leave after ``idle`` seconds.
    """

    def __init__(self, idle: float = 60.0) -> None:
        self._idle_for = idle
        self._reset()
        if hasattr(os, "register_at_fork"):  # a child has none of the parent's threads
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Reader] = []

    def run(self, job: Callable[[], None]) -> None:
        with self._lock:
            reader = self._idle.pop() if self._idle else None
        if reader is None:
            _thread.start_new_thread(_Reader(self).loop, (job,))
        else:
            reader.give(job)

    def park(self, reader: _Reader) -> bool:
        """Wait idle for the next job; False when none came in time (the thread ends)."""
        with self._lock:
            self._idle.append(reader)
        if reader.wake.acquire(timeout=self._idle_for):
            return True
        with self._lock:
            if reader in self._idle:
                self._idle.remove(reader)
                return False
        reader.wake.acquire()  # popped just now: its job is on the way
        return True


class _Reader:
    __slots__ = ("job", "pool", "wake")

    def __init__(self, pool: Readers) -> None:
        self.pool = pool
        self.wake = threading.Lock()
        self.wake.acquire()
        self.job: Callable[[], None] | None = None

    def give(self, job: Callable[[], None]) -> None:
        self.job = job
        self.wake.release()

    def loop(self, job: Callable[[], None]) -> None:
        while True:
            try:
                job()
            except BaseException:
                log.exception("a gateway reader job failed")
            if not self.pool.park(self):
                return
            assert self.job is not None
            job, self.job = self.job, None


readers = Readers()


class Pump:
    """Run ``stream`` on a reader thread; hand its chunks over in batches."""

    def __init__(self, stream: ChatStream, max_pending: int = 4096) -> None:
        self.stream = stream
        self._max = max_pending
        self._cond = threading.Condition(threading.Lock())
        self._items: list[str] = []
        self._waiting = False  # the taker sleeps on the condition
        self._blocked = False  # the reader sleeps on a full buffer
        self._done = False
        self._cancelled = False
        self._error: BaseException | None = None
        self._started = False  # the reader thread runs

    def start(self) -> Pump:
        readers.run(self._run)
        return self

    def _run(self) -> None:
        cond = self._cond
        self._started = True
        try:
            first = True
            for chunk in self.stream:
                woke = False
                with cond:
                    while len(self._items) >= self._max and not self._cancelled:
                        self._blocked = True
                        cond.wait(_PUT_WAIT)
                    self._blocked = False
                    if self._cancelled:
                        break
                    self._items.append(chunk)
                    if self._waiting:
                        cond.notify()
                        woke = first
                first = False
                if woke:
                    # The first chunk: let the woken server thread take the GIL now rather
                    # than after up to a switch interval (5 ms) of this thread parsing what
                    # is already buffered. Later chunks keep the GIL, so they batch up.
                    time.sleep(0)
        except G4FError as exc:
            self._error = exc
        except Exception as exc:  # noqa: BLE001 - reported to the server thread as a 500
            log.error("the gateway's reader failed: %s", type(exc).__name__)
            self._error = exc
        finally:
            try:
                self.stream.close()  # the provider's clean-up runs here, in this thread
            finally:
                with cond:
                    self._done = True
                    cond.notify_all()

    def take(self, timeout: float) -> Batch:
        """Every chunk buffered so far, waiting up to ``timeout`` for the first one."""
        cond = self._cond
        with cond:
            if not self._items and not self._done:
                self._waiting = True
                cond.wait(timeout)
                self._waiting = False
            chunks = self._items
            if chunks:
                self._items = []
            if self._blocked:
                cond.notify_all()
            return Batch(chunks, self._done, self._error)

    def cancel(self) -> None:
        """Stop reading and close the upstream (idempotent).

        A reader waiting on a silent upstream has that wait cut (``ChatStream.close()``
        from this thread aborts the call where it waits), so the call ends now rather
        than at its timeout; the provider's clean-up then runs on the reader.
        """
        with self._cond:
            if self._cancelled or self._done:
                self._cancelled = True
                return
            self._cancelled = True
            self._cond.notify_all()
            blocked = self._blocked
        if not blocked and self._started:  # a blocked reader wakes and stops by itself
            self.stream.close()

    def join(self, timeout: float) -> bool:
        """Wait until the reader has closed the stream; False if it has not in time."""
        with self._cond:
            return self._done or self._cond.wait_for(lambda: self._done, timeout)

    @property
    def cancelled(self) -> bool:
        return self._cancelled
