"""Registries that survive ``fork()``: no child inherits a discovery lock held by a lost thread.

A child process has only the thread that called ``fork()``. If another thread was
discovering plugins at that moment, the child would inherit the registry's lock held
forever and hang on its first lookup. So, like :mod:`logging` with its handler locks,
the forking thread first waits (bounded) for discoveries in progress to finish: the
child then starts with whole registries and fresh locks. A discovery that does not end
within the wait (a plugin hanging at import) is abandoned in the child, which runs it
again from the start on first use.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Protocol

__all__ = ["FORK_WAIT", "ForkSafe", "track"]

#: Longest a fork() waits for a discovery in progress in another thread, in seconds.
FORK_WAIT = 10.0


class Forkable(Protocol):
    def _before_fork(self, wait: float) -> None: ...

    def _after_fork(self, child: bool) -> None: ...


class ForkSafe:
    """What a registry does around fork(); it holds ``_lock``, ``_loading`` and ``_loaded``."""

    _lock: threading.RLock
    _loading: bool
    _loaded: bool
    _fork_locked: bool

    def _before_fork(self, wait: float) -> None:
        """Let a discovery running in another thread finish before the process forks."""
        self._fork_locked = self._lock.acquire(timeout=wait)

    def _after_fork(self, child: bool) -> None:
        locked, self._fork_locked = self._fork_locked, False
        if child:
            self._lock = threading.RLock()  # the parent's may be held by a thread now gone
            if not locked and not self._loaded:
                self._loading = False  # that thread's discovery runs again on first use
        elif locked:
            self._lock.release()


_tracked: weakref.WeakSet[Forkable] = weakref.WeakSet()
_held: list[Forkable] = []


def track(registry: Forkable) -> None:
    """Make ``registry`` fork-safe (it is forgotten when garbage-collected)."""
    _tracked.add(registry)


def _before() -> None:
    _held[:] = list(_tracked)
    for registry in _held:
        registry._before_fork(FORK_WAIT)


def _after(child: bool) -> None:
    held, _held[:] = list(_held), []
    for registry in held:
        registry._after_fork(child)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before,
        after_in_parent=lambda: _after(False),
        after_in_child=lambda: _after(True),
    )
