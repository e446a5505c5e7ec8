"""Serving the gateway with waitress, and the in-process emulators of ``--emulators``.

waitress is an optional extra (``pip install 'g4f-core[serve]'``). It runs one thread
per call in flight, so it gets ``max_streams`` threads plus a few for listings and
refusals, and a connection limit above that, so a call past the limit is answered 503
rather than left waiting in the accept queue. ``channel_request_lookahead`` keeps each
connection readable while its request runs: that is how a client that hangs up is
seen (waitress's ``waitress.client_disconnected``) and its upstream closed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from g4f_core.context import env_name
from g4f_core.errors import InvalidRequestError
from g4f_core.gateway.app import Gateway
from g4f_core.gateway.config import GatewayConfig, is_loopback
from g4f_core.gateway.errors import WireError, internal, status_line
from g4f_core.plugins.provider import Emulator
from g4f_core.plugins.registry import Registry

__all__ = [
    "EMULATOR_CREDENTIAL",
    "Emulators",
    "GatewayServer",
    "check_bind",
    "load_waitress",
    "offline_registry",
]

_SPARE_THREADS = 8


def load_waitress() -> Any:
    try:
        from waitress import server
    except ImportError:
        raise InvalidRequestError(
            "g4f-core serve needs waitress: pip install 'g4f-core[serve]'"
        ) from None
    return server


def _json_errors() -> type:
    """waitress's channel, answering its own refusals (413, 431, 400) as OpenAI JSON too."""
    from waitress.channel import HTTPChannel
    from waitress.task import ErrorTask

    class JsonErrorTask(ErrorTask):
        def execute(self) -> None:
            task: Any = self  # the stubs do not know the request's error or the header list
            refusal = task.request.error
            code = int(getattr(refusal, "code", 500))
            if code == 413:
                limit = task.channel.server.adj.max_request_body_size
                message = f"request body is larger than the gateway's limit of {limit} bytes"
                error = WireError(413, message, code="request_too_large", retry=False)
            elif code < 500:
                reason = getattr(refusal, "reason", "Bad Request")
                error = WireError(code, f"{reason}: {refusal.body}", code="bad_http", retry=False)
            else:
                error = internal()
            task.status = status_line(error.status)
            task.response_headers.extend(error.response_headers())
            task.set_close_on_finish()
            body = error.body()
            task.content_length = len(body)
            task.write(body)

    class JsonErrorChannel(HTTPChannel):
        error_task_class = JsonErrorTask

    return JsonErrorChannel


def check_bind(host: str, config: GatewayConfig) -> None:
    """Refuse to serve beyond this machine without a key."""
    if not is_loopback(host) and config.api_key is None:
        raise InvalidRequestError(
            f"refusing to serve on {host}, which other machines can reach, without an API "
            "key: pass --api-key KEY or set G4F_CORE_API_KEY (or bind 127.0.0.1)"
        )


class GatewayServer:
    """A waitress server of one gateway: ``start()`` in a thread, or ``serve_forever()``."""

    def __init__(self, app: Gateway, host: str = "127.0.0.1", port: int = 0) -> None:
        check_bind(host, app.config)
        server_module = load_waitress()
        limit = app.config.max_streams
        self.app = app
        # Our own socket map and worker pool: when binding fails (a busy port), waitress
        # has already started the workers and opened descriptors; they are undone here.
        sockets: dict[int, Any] = {}
        workers = server_module.ThreadedTaskDispatcher()
        threads = limit + _SPARE_THREADS
        workers.set_thread_count(threads)
        try:
            self._server = server_module.create_server(
                app,
                map=sockets,
                _dispatcher=workers,
                host=host,
                port=port,
                threads=threads,
                connection_limit=limit + 4 * _SPARE_THREADS,
                channel_request_lookahead=1,
                max_request_body_size=app.config.max_body_bytes,
                ident="g4f-core",
                clear_untrusted_proxy_headers=True,
            )
        except BaseException:
            for opened in list(sockets.values()):
                with contextlib.suppress(OSError):
                    opened.close()
            workers.shutdown(timeout=5)
            raise
        self._server.channel_class = _json_errors()
        self._thread: threading.Thread | None = None
        bound = self._server.effective_host
        shown = f"[{bound}]" if ":" in str(bound) else bound
        self.url = f"http://{shown}:{self._server.effective_port}"

    def start(self) -> str:
        self._thread = threading.Thread(target=self._run, name="g4f-gateway", daemon=True)
        self._thread.start()
        return self.url

    def _run(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # descriptors closed by stop()
            self._server.run()

    def serve_forever(self) -> None:
        self._server.run()

    def stop(self) -> None:
        """Close every connection (streams end at once) and the listener; join the workers."""
        server = self._server
        waitress_log = logging.getLogger("waitress")
        was_disabled, waitress_log.disabled = waitress_log.disabled, True  # closing is noisy
        try:
            for _ in range(10):
                channels = list(server._map.values())
                if not channels:
                    break
                for channel in channels:
                    with contextlib.suppress(OSError):
                        channel.handle_close()
            server.task_dispatcher.shutdown(timeout=5)
            if self._thread is not None:
                self._thread.join(5)
        finally:
            waitress_log.disabled = was_disabled

    def __enter__(self) -> GatewayServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


#: What a provider that needs a credential is given when it talks to its own emulator:
#: offline, the real key (if the environment holds one) is never sent anywhere.
EMULATOR_CREDENTIAL = "g4f-core-emulator-credential"


class Emulators:
    """Every provider's emulator, started in this process, and the environment routing to them."""

    def __init__(self, registry: Registry, token_delay: float = 0.0) -> None:
        self.registry = registry
        self.token_delay = token_delay
        self.running: dict[str, Emulator] = {}
        #: ``G4F_CORE_<NAME>_URL`` -> the URL of that provider's emulator, once started.
        self.urls: dict[str, str] = {}
        #: ``G4F_CORE_<NAME>_AUTH`` for each emulated provider that needs a credential.
        self.credentials: dict[str, str] = {}

    def start(self) -> dict[str, str]:
        """Start them; returns ``G4F_CORE_<NAME>_URL`` for each provider with one."""
        try:
            for info in self.registry.providers():
                if info.emulator is None:
                    continue
                emulator = info.emulator(host="localhost", port=0, token_delay=self.token_delay)
                emulator.start()
                self.running[info.name] = emulator
                self.urls[env_name(info.name, "URL")] = emulator.url
                if info.needs_auth:
                    self.credentials[env_name(info.name, "AUTH")] = EMULATOR_CREDENTIAL
        except BaseException:
            self.stop()
            raise
        return dict(self.urls)

    def stop(self) -> None:
        for emulator in self.running.values():
            with contextlib.suppress(Exception):
                emulator.stop()
        self.running.clear()


def offline_registry(registry: Registry, environ: Mapping[str, str]) -> tuple[Registry, Emulators]:
    """A registry whose providers each go to their own emulator, and those emulators
    (``.stop()`` them; ``.urls`` says where each runs).

    A provider that needs a credential gets a placeholder one (``G4F_CORE_<NAME>_AUTH``,
    which comes before its ``auth_env`` variable), as the conformance suite's emulator
    mode does: emulators accept any key, and a real one stays unsent.
    """
    emulators = Emulators(registry)
    urls = emulators.start()
    return registry.with_environ({**environ, **urls, **emulators.credentials}), emulators
