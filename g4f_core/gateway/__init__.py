"""The gateway: an OpenAI-compatible HTTP API over every installed provider.

``make_gateway(registry, config)`` returns a WSGI application; ``g4f-core serve`` runs
it with waitress. Modules: ``app`` (routing and replies), ``mapping`` (a request body
-> one library call), ``pump`` (the upstream reader thread and hand-off), ``relay``
(whole replies and chunk events), ``errors`` (the wire form of every failure),
``guard`` (key, CORS, body cap, stream slots), ``catalog`` (model ids, listings,
health), ``accesslog``, ``config`` and ``serve`` (waitress and the emulators).
``static/`` is where the web page's files will live.
"""

from g4f_core.gateway.app import Gateway, make_gateway
from g4f_core.gateway.config import GatewayConfig

__all__ = ["Gateway", "GatewayConfig", "make_gateway"]
