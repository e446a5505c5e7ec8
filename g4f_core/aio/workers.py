"""The bounded pool of threads that run async calls' blocking streams.

Providers are synchronous generators, so each active async stream runs on a thread of
its own. Nothing here ever waits on the event loop:

- the bound (``G4F_CORE_ASYNC_WORKERS``, default 64: the connection pool's size) is a
  deque of permits, taken and returned with single atomic operations, never a lock;
- a call beyond the bound awaits a future until a worker comes free, for at most its
  ``timeout`` (and its ``deadline``), then fails with ``ProviderTimeoutError``;
- ``Thread.start()`` waits for the new thread to run, which with many busy threads took
  a prototype's loop 0.35-1.1 s; so the loop only calls ``_thread.start_new_thread``
  (``pthread_create``, no waiting) for a short launcher, and the launcher starts the
  real, named ``threading.Thread`` and exits;
- idle workers are reused, and retire after ``idle_timeout`` seconds without work.
"""

from __future__ import annotations

import _thread
import asyncio
import collections
import contextlib
import itertools
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

from g4f_core.errors import G4FError
from g4f_core.options import Option

__all__ = ["DEFAULT_LIMIT", "ENV", "Worker", "WorkerPool", "pool", "read_limit"]

ENV = "G4F_CORE_ASYNC_WORKERS"
DEFAULT_LIMIT = 64  # the shared connection pool keeps 64 connections per host
IDLE_TIMEOUT = 30.0
_EXPIRED = object()  # what a timed-out wait for a worker resolves to
_NO_THREAD = f"the system refused to start a worker thread; lower {ENV}"
#: Read like every other number (a whole count in its range); each worker is a thread.
_LIMIT = Option("async_workers", int, DEFAULT_LIMIT, "worker threads", ge=1, le=4096)


class Task(Protocol):
    """What a worker runs: ``__call__`` on the worker; ``done`` once the worker is free."""

    def __call__(self) -> None: ...

    def done(self) -> None: ...

    def failed(self, error: BaseException) -> None: ...


def read_limit(environ: Any = None) -> int:
    """The worker bound from ``G4F_CORE_ASYNC_WORKERS``; checked before any I/O."""
    env = os.environ if environ is None else environ
    raw = env.get(ENV, "").strip()
    if not raw:
        return DEFAULT_LIMIT
    value: int = _LIMIT.parse(raw, label=ENV)
    return value


class Worker:
    """One thread, running one stream's task at a time."""

    __slots__ = ("_pool", "jobs", "number")

    def __init__(self, pool: WorkerPool, number: int) -> None:
        self._pool = pool
        self.number = number
        self.jobs: queue.SimpleQueue[Task] = queue.SimpleQueue()  # put() never blocks

    def main(self, first: Task) -> None:
        pool, task = self._pool, first
        pool.threads.add(self)
        while True:
            pool.running.add(self)
            # A task reports its own errors; nothing it raises may end the thread.
            with contextlib.suppress(BaseException):
                task()
            pool.running.discard(self)
            pool.release(self)  # free before the reader hears of it: the next call reuses it
            with contextlib.suppress(BaseException):
                task.done()
            del task  # nothing of the finished stream stays referenced while idle
            while True:
                try:
                    task = self.jobs.get(timeout=pool.idle_timeout)
                    break
                except queue.Empty:
                    if pool.retire(self):
                        pool.threads.discard(self)
                        return
                    # Taken from the idle list just now: its task is on the way.


class WorkerPool:
    """Threads for async streams: at most ``limit`` of them, started off the loop."""

    def __init__(self, limit: int = DEFAULT_LIMIT, *, idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.limit = limit
        self.idle_timeout = idle_timeout
        self._permits: collections.deque[int] = collections.deque(range(limit))
        self._idle: collections.deque[Worker] = collections.deque()
        self._waiters: collections.deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]]
        self._waiters = collections.deque()
        self._numbers = itertools.count(1)
        # Worker threads alive, and those running a task (set.add/discard are atomic).
        self.threads: set[Worker] = set()
        self.running: set[Worker] = set()

    # --- the loop's side ---------------------------------------------------------------

    async def submit(self, task: Task, wait: float, busy_error: Callable[[], G4FError]) -> None:
        """Run ``task`` on a worker; wait up to ``wait`` s for one, else raise ``busy_error()``."""
        loop = asyncio.get_running_loop()
        while True:
            if self._try_start(task):
                return
            future: asyncio.Future[Any] = loop.create_future()
            self._waiters.append((loop, future))
            if self._try_start(task):  # one came free between the check and the append
                future.cancel()
                return
            timer = loop.call_later(wait, _expire, future)
            try:
                offered = await future
            except asyncio.CancelledError:
                self._decline(future)
                raise
            finally:
                timer.cancel()
            if offered is _EXPIRED:
                raise busy_error()
            if offered is not None:
                offered.jobs.put(task)
                return
            # None: a permit came back; try again.

    def _try_start(self, task: Task) -> bool:
        """An idle worker, or a permit for a new one; never waits."""
        try:
            worker = self._idle.pop()
        except IndexError:
            pass
        else:
            worker.jobs.put(task)
            return True
        try:
            self._permits.pop()
        except IndexError:
            return False
        worker = Worker(self, next(self._numbers))
        try:
            _thread.start_new_thread(self._launch, (worker, task))
        except RuntimeError:  # the system refused a thread
            self._permits.append(0)
            raise G4FError(_NO_THREAD) from None
        return True

    # --- the workers' side -------------------------------------------------------------

    def _launch(self, worker: Worker, task: Task) -> None:
        """On a bare thread: start the real worker thread, wait for it here, then exit."""
        thread = threading.Thread(
            target=worker.main,
            args=(task,),
            name=f"g4f-core-async-{worker.number}",
            daemon=True,
        )
        try:
            thread.start()
        except BaseException:  # noqa: BLE001 - the system refused a thread; nothing may escape here
            self._permits.append(0)
            task.failed(G4FError(_NO_THREAD))
            self._offer_permit()

    def release(self, worker: Worker) -> None:
        """A worker finished its task: hand it to a waiting call, else make it idle."""
        self._idle.append(worker)
        self._match()

    def retire(self, worker: Worker) -> bool:
        """An idle worker timed out: True if it may end (it was not just taken)."""
        try:
            self._idle.remove(worker)
        except ValueError:
            return False
        self._permits.append(0)
        self._offer_permit()
        return True

    def _match(self) -> None:
        """Give idle workers to waiting calls, checking again after every hand-over."""
        while self._waiters:
            try:
                worker = self._idle.pop()
            except IndexError:
                return
            if not self._offer(worker):
                self._idle.append(worker)
                return

    def _offer(self, worker: Worker | None) -> bool:
        """Offer ``worker`` (or None: a free permit) to the first waiting call."""
        while True:
            try:
                loop, future = self._waiters.popleft()
            except IndexError:
                return False
            try:
                loop.call_soon_threadsafe(self._accept, future, worker)
                return True
            except RuntimeError:  # that loop is closed: its call is gone
                continue

    def _decline(self, future: asyncio.Future[Any]) -> None:
        """The waiting call was cancelled, perhaps just after an offer: pass the offer on."""
        if future.done() and not future.cancelled():
            offered = future.result()
            if isinstance(offered, Worker):
                self.release(offered)
            elif offered is None:
                self._offer_permit()

    def _offer_permit(self) -> None:
        if self._waiters and self._permits:
            self._offer(None)

    def _accept(self, future: asyncio.Future[Any], worker: Worker | None) -> None:
        """On the waiter's loop: take the offer, or pass it on if the wait is over."""
        if not future.done():
            future.set_result(worker)
        elif worker is not None:
            self.release(worker)
        else:
            self._offer_permit()


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(_EXPIRED)


_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


def pool() -> WorkerPool:
    """The process-wide pool, sized by ``G4F_CORE_ASYNC_WORKERS`` when first needed."""
    global _pool
    found = _pool
    if found is None:
        limit = read_limit()
        with _pool_lock:  # held only to create it, once, never across a wait
            if _pool is None:
                _pool = WorkerPool(limit)
            found = _pool
    return found


def _set_pool(new: WorkerPool | None) -> WorkerPool | None:
    """Swap the process-wide pool (tests); returns the previous one."""
    global _pool
    old, _pool = _pool, new
    return old


def _forget_pool_after_fork() -> None:
    """A forked child has none of its parent's threads."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)
