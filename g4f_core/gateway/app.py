"""The gateway's WSGI application: routing, the checks every request passes, and replies.

Any WSGI server runs it (``g4f-core serve`` uses waitress; gunicorn's threaded workers
work too). Every path is served with and without the ``/v1`` prefix. Every reply that
is not a success is an OpenAI error body; nothing ever escapes as a plain-text or HTML
500. The application keeps no state a second instance would need: run as many as you
like behind a load balancer.

``/`` and ``/static/*`` are the web page, answered by ``web.page_response`` before routing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from g4f_core.errors import G4FError
from g4f_core.gateway import catalog
from g4f_core.gateway.accesslog import Logged, Record
from g4f_core.gateway.config import GatewayConfig
from g4f_core.gateway.errors import WireError, from_library, internal, status_line
from g4f_core.gateway.guard import Slots, check_key, cors_headers, preflight, read_body
from g4f_core.gateway.mapping import build_call, open_stream, parse_body
from g4f_core.gateway.pump import Pump
from g4f_core.gateway.relay import SSEBody, completion, error_of, first_batch, never, new_id, whole
from g4f_core.gateway.web import page_response
from g4f_core.plugins.registry import Registry, default_registry

__all__ = ["Gateway", "make_gateway"]

log = logging.getLogger("g4f_core.gateway")
StartResponse = Callable[..., Any]
Headers = list[tuple[str, str]]

#: Routes without their optional ``/v1`` prefix: path -> (methods, handler name).
ROUTES: Mapping[str, tuple[tuple[str, ...], str]] = {
    "/models": (("GET",), "models"),
    "/chat/completions": (("POST",), "chat"),
    "/providers": (("GET",), "providers"),
    "/health": (("GET",), "health"),
}
_OPEN = {"/health"}  # answered without the key, for load balancers' probes


class Reply:
    """A status, headers and a body, before the CORS and bookkeeping headers join them."""

    __slots__ = ("body", "headers", "on_close", "status")

    def __init__(
        self,
        status: int,
        headers: Headers,
        body: Iterable[bytes],
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.status, self.headers, self.body, self.on_close = status, headers, body, on_close

    @classmethod
    def json(cls, data: object, status: int = 200) -> Reply:
        return cls(status, [("Content-Type", "application/json")], [json.dumps(data).encode()])

    @classmethod
    def error(cls, error: WireError) -> Reply:
        return cls(error.status, error.response_headers(), [error.body()])


class Gateway:
    """The WSGI callable: ``Gateway(registry, config)(environ, start_response)``."""

    def __init__(self, registry: Registry, config: GatewayConfig | None = None) -> None:
        self.registry = registry
        self.config = config or GatewayConfig()
        self.slots = Slots(self.config.max_streams)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "") or "/"
        record = Record(method, path)
        try:
            reply = self._dispatch(method, path, environ, record)
        except WireError as exc:
            reply = Reply.error(exc)
        except G4FError as exc:
            reply = Reply.error(from_library(exc))
        except Exception:
            log.exception("the gateway failed on %s %s", method, path)
            reply = Reply.error(internal())
        record.status = reply.status
        headers = [*reply.headers, ("x-request-id", new_id())]
        headers += cors_headers(self.config, environ)
        start_response(status_line(reply.status), headers)
        return Logged(reply.body, record, reply.on_close)

    def _dispatch(self, method: str, path: str, environ: dict[str, Any], record: Record) -> Reply:
        page = page_response(method, path)
        if page is not None:  # the web page (g4f_core/gateway/web.py): it holds no data, no key
            return Reply(*page)
        route = path.rstrip("/") or "/"
        if route.startswith("/v1/") or route == "/v1":
            route = route[3:] or "/"
        methods: tuple[str, ...]
        if route.startswith("/models/"):
            methods, name = ("GET",), "model"
        else:
            methods, name = ROUTES.get(route, ((), ""))
        if method == "OPTIONS":  # a CORS preflight carries no key
            allowed = [("Allow", ", ".join((*methods, "OPTIONS")))]
            return Reply(204, preflight(self.config, environ) or allowed, [])
        if route not in _OPEN:
            check_key(self.config, environ)
        if not name:
            raise WireError(
                404,
                f"no such endpoint: {method} {path} (endpoints: /v1/models, "
                "/v1/chat/completions, /v1/providers, /health)",
                code="unknown_url",
                retry=False,
            )
        if method not in methods and not (method == "HEAD" and "GET" in methods):
            raise WireError(
                405,
                f"{path} takes {', '.join(methods)}, not {method}",
                code="method_not_allowed",
                retry=False,
                headers={"Allow": ", ".join(methods)},
            )
        handler: Callable[[dict[str, Any], Record, str], Reply] = getattr(self, f"_{name}")
        return handler(environ, record, route)

    # -- endpoints -------------------------------------------------------------------

    def _models(self, environ: dict[str, Any], record: Record, route: str) -> Reply:
        return Reply.json(catalog.models_document(self.registry))

    def _model(self, environ: dict[str, Any], record: Record, route: str) -> Reply:
        return Reply.json(catalog.model_entry(self.registry, route[len("/models/") :]))

    def _providers(self, environ: dict[str, Any], record: Record, route: str) -> Reply:
        return Reply.json(catalog.providers_listing(self.registry))

    def _health(self, environ: dict[str, Any], record: Record, route: str) -> Reply:
        doc = catalog.health(self.registry, self.slots.active, self.slots.limit)
        return Reply.json(doc)

    def _chat(self, environ: dict[str, Any], record: Record, route: str) -> Reply:
        body = parse_body(read_body(self.config, environ))
        call = build_call(self.registry, body)
        self.slots.take()
        pump: Pump | None = None
        handed_off = False  # the stream's body releases the slot when the server closes it
        try:
            pump = Pump(open_stream(self.registry, call), self.config.max_pending).start()
            gone: Callable[[], bool] = environ.get("waitress.client_disconnected") or never
            first = first_batch(pump, self.config, gone)
            stream = pump.stream
            record.provider, record.attempts = stream.provider, stream.attempts
            if first is None:
                return Reply.error(_LEFT)
            if first.done and first.error is not None and not first.chunks:
                raise error_of(first.error)
            headers = [
                ("x-g4f-provider", stream.provider or "-"),
                ("x-g4f-attempts", str(stream.attempts)),
            ]
            if call.stream:
                handed_off = True
                sse = SSEBody(pump, first, call.model_id, self.config, gone)
                return Reply(200, [*_SSE_HEADERS, *headers], sse, self.slots.give)
            text = whole(pump, first, self.config, gone)
            if text is None:
                return Reply.error(_LEFT)
            reply = Reply.json(completion(call.model_id, text))
            reply.headers += headers
            return reply
        finally:
            if not handed_off:
                if pump is not None:
                    pump.cancel()
                self.slots.give()


_LEFT = WireError(499, "the client closed the connection before the reply")
_SSE_HEADERS = [
    ("Content-Type", "text/event-stream; charset=utf-8"),
    ("Cache-Control", "no-cache"),
    ("X-Accel-Buffering", "no"),
]


def make_gateway(
    registry: Registry | None = None,
    config: GatewayConfig | None = None,
    **settings: Any,
) -> Gateway:
    """The gateway over ``registry`` (default: the installed providers).

    With no ``config``, settings come from the environment (``G4F_CORE_API_KEY``,
    ``G4F_CORE_MAX_STREAMS``, ``G4F_CORE_CORS_ORIGINS``, ``G4F_CORE_MAX_BODY_BYTES``),
    overridden by keyword ``settings`` (``api_key=``, ``max_streams=``, ...). For
    gunicorn: ``gunicorn 'g4f_core.gateway:make_gateway()'``.
    """
    if config is None:
        config = GatewayConfig.from_env(**settings)
    elif settings:
        raise TypeError("pass either config= or keyword settings, not both")
    return Gateway(registry or default_registry(), config)
