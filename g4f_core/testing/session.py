"""One conformance run: the provider behind a probe, the servers it talks to, bounded calls.

Calls go through the public call path (``g4f_core.stream`` and ``g4f_core.complete``),
exactly as a user's would, on a registry of its own (``registry=``) so installed
observer plugins never see them. The :class:`Probe` wraps
``_create_completion`` because the core hides what a provider really does: it turns a
returned ``str`` into one chunk and rejects non-``str`` chunks with a generic error.
Every call runs in a worker thread with a time limit, so a provider that ignores its
timeout fails its check instead of hanging the suite.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import attrs

from g4f_core.api import complete, stream
from g4f_core.calls import ChatStream
from g4f_core.context import credential
from g4f_core.planning import context_for
from g4f_core.plugins.provider import ProviderInfo
from g4f_core.plugins.registry import Registry
from g4f_core.testing.loopback import Relay

__all__ = ["MESSAGES", "PROMPT", "Fail", "Hung", "Probe", "Session", "Skip"]

T = TypeVar("T")

#: What every call sends; checks look for it in error messages, which must never quote it.
PROMPT = "Hello! Please answer in a few words. (g4f-core conformance)"
MESSAGES = [{"role": "user", "content": PROMPT}]
AUTH = "g4f-core-conformance-credential"
CALL_LIMIT = 30.0  # seconds any one call of the suite may take before it counts as hung


class Skip(Exception):
    """The check does not apply here; the message says why."""


class Fail(Exception):
    """The provider breaks the rule; the message says what is wrong and how to fix it."""


class Hung(Fail):
    """A call did not return within its limit."""


class _Watched(Iterator[Any]):
    """Passes a provider's chunks through, noting their types and any value ``return``ed."""

    def __init__(self, inner: Iterator[Any], probe: Probe) -> None:
        self._inner, self._probe = inner, probe

    def __next__(self) -> Any:
        try:
            item = next(self._inner)
        except StopIteration as stop:
            if stop.value is not None:  # `return text` in a generator: the text is lost
                self._probe.lost.append(type(stop.value))
            raise
        self._probe.yielded.append(type(item))
        return item

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


class Probe:
    """Stands in for ``_create_completion``, recording what it returns and yields."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.calls = 0
        self.returned: list[type] = []
        self.yielded: list[type] = []
        self.lost: list[type] = []  # types of values a generator returned instead of yielding

    def __call__(self, model: str, messages: list[Any], stream: bool, **kwargs: Any) -> Any:
        self.calls += 1
        result = self.fn(model, messages, stream, **kwargs)
        self.returned.append(type(result))
        if isinstance(result, str) or not hasattr(result, "__next__"):
            return result  # the core's own handling (and error) applies
        return _Watched(result, self)

    def reset(self) -> None:
        self.calls = 0
        self.returned.clear()
        self.yielded.clear()
        self.lost.clear()

    def wrong_yield(self) -> type | None:
        """The first non-``str`` type yielded, if any."""
        return next((kind for kind in self.yielded if kind is not str), None)


class Session:
    """Everything one run needs; :meth:`close` stops every server it started."""

    def __init__(self, info: ProviderInfo, *, mode: str, environ: Mapping[str, str]) -> None:
        self.original = info
        self.probe = Probe(info.create_completion)
        # Declared not working? The suite calls it anyway: that is what a check is for.
        self.info = attrs.evolve(info, create_completion=self.probe, working=True)
        self.mode = mode
        self.environ = environ
        self.registry = Registry([], environ=environ)
        self.target: str | None = None
        self.endpoint_ok: bool | None = None
        self.streamed: str | None = None
        self._stack = contextlib.ExitStack()
        self._emulators: dict[float, str] = {}
        self._workers: list[threading.Thread] = []

    @property
    def emulated(self) -> bool:
        return self.mode == "emulator"

    # -- servers -------------------------------------------------------------------------

    def emulator_url(self, token_delay: float = 0.0) -> str:
        """The URL of the provider's emulator with this token delay, started on first use."""
        if token_delay not in self._emulators:
            factory = self.info.emulator
            if factory is None:
                raise Skip("the provider ships no emulator")
            emulator = factory(host="localhost", port=0, token_delay=token_delay)
            url = emulator.start()
            self._stack.callback(emulator.stop)
            self._emulators[token_delay] = url.rstrip("/")
        return self._emulators[token_delay]

    def relay_before(self, url: str) -> Relay:
        """A fresh pass-through in front of ``url``, stopped with the session."""
        relay = Relay.before(url)
        self._stack.callback(relay.stop)
        return relay

    def serve(self, relay: Relay) -> Relay:
        """Start a silent or canned-reply server for the rest of the session."""
        relay.start()
        self._stack.callback(relay.stop)
        return relay

    def live_url(self) -> str | None:
        """Where a live call goes: ``G4F_CORE_<NAME>_URL``, else the declared ``url``."""
        return context_for(self.info, {}, self.environ).base_url

    def has_credential(self) -> bool:
        """Whether a live call has a credential: G4F_CORE_<NAME>_AUTH or the auth_env one."""
        info = self.info
        return credential(info.name, {}, self.environ, info.auth_env)[0] is not None

    def require_endpoint(self) -> None:
        if self.endpoint_ok is False:
            raise Skip("needs an endpoint that answers (see the endpoint check)")

    # -- calls ---------------------------------------------------------------------------

    def stream(self, *, base_url: str | None, **kwargs: Any) -> ChatStream:
        """A streaming call as a user makes it; bad input raises here, before any I/O."""
        return self._call(stream, base_url, **kwargs)

    def complete(self, *, base_url: str | None, **kwargs: Any) -> str:
        """A non-streaming call as a user makes it."""
        return self._call(complete, base_url, **kwargs)

    def call(self, *, stream: bool, base_url: str | None, **kwargs: Any) -> str:
        """The whole reply of a streaming or a non-streaming call."""
        if not stream:
            return self.complete(base_url=base_url, **kwargs)
        with self.stream(base_url=base_url, **kwargs) as chunks:
            return "".join(chunks)

    def _call(
        self,
        how: Callable[..., T],
        base_url: str | None,
        *,
        model: str | None = None,
        messages: object = None,
        **options: Any,
    ) -> T:
        """``how`` (g4f_core's stream or complete) on this provider, in the suite's registry."""
        opts: dict[str, Any] = {"timeout": 10.0, "max_retries": 0, **options}
        if base_url is not None:
            opts["base_url"] = base_url
        if self.info.needs_auth and self.emulated:
            opts.setdefault("auth", AUTH)
        return how(
            MESSAGES if messages is None else messages,
            provider=self.info,
            model=model,
            registry=self.registry,
            **opts,
        )

    def bounded(self, work: Callable[[], T], limit: float = CALL_LIMIT) -> T:
        """Run ``work`` in a worker thread; raise :class:`Hung` if it outlives ``limit``."""
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["value"] = work()
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller below
                box["error"] = exc

        worker = threading.Thread(target=run, name="g4f-conformance-call", daemon=True)
        worker.start()
        worker.join(limit)
        if worker.is_alive():
            self._workers.append(worker)  # stopping the servers will unblock it
            raise Hung(f"the call did not return within {limit:g} s")
        if "error" in box:
            raise box["error"]
        value: T = box["value"]
        return value

    def close(self) -> None:
        self._stack.close()
        for worker in self._workers:
            worker.join(5.0)


def timed(work: Callable[[], object]) -> tuple[BaseException | None, float]:
    """Run ``work``; return the exception it raised (or None) and the seconds it took."""
    start = time.monotonic()
    try:
        work()
    except Exception as exc:  # noqa: BLE001 - the caller judges the exception
        return exc, time.monotonic() - start
    return None, time.monotonic() - start
