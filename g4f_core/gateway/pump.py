"""The upstream side of a relayed call: a reader thread per call and a batched hand-off.

The reader thread iterates the library's :class:`~g4f_core.ChatStream` and appends each
chunk to a buffer; the server thread takes *everything* buffered at once, so a fast
upstream is relayed in few large writes rather than one write per token, and a silent
one leaves the server thread free to send keep-alives and to notice a client that left.
The buffer is bounded: a slow client makes the upstream wait, not the memory grow.
Cancelling makes the reader stop at its next chunk and close the stream, in its own
thread (a generator can only be closed by the thread running it), which releases the
upstream connection and runs the provider's clean-up (H2o deletes its conversation).
"""

from __future__ import annotations

import logging
import threading

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


class Pump:
    """Run ``stream`` on a daemon thread; hand its chunks over in batches."""

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
        self._thread = threading.Thread(target=self._run, name="g4f-gateway-reader", daemon=True)

    def start(self) -> Pump:
        self._thread.start()
        return self

    def _run(self) -> None:
        cond = self._cond
        try:
            for chunk in self.stream:
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
        """Stop reading at the next chunk and close the upstream (idempotent)."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def cancelled(self) -> bool:
        return self._cancelled
