"""``g4f-core serve``: the gateway on waitress, optionally over in-process emulators."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable

from g4f_core.cli.output import EXIT_ERROR, EXIT_OK, PORT, Out
from g4f_core.errors import InvalidRequestError

__all__ = ["cmd_serve"]


def _access_log(out: Out) -> Callable[[], None]:
    """Access lines on stderr while serving; returns how to take the handler off again."""
    logger = logging.getLogger("g4f_core.gateway.access")
    handler = logging.StreamHandler(out.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return lambda: logger.removeHandler(handler)


def _nothing() -> None:
    pass


def _refused(out: Out, message: str) -> int:
    """The flags were fine but this machine said no (a busy port, a missing extra): exit 1."""
    print(f"error: {message}", file=out.stderr)
    return EXIT_ERROR


def cmd_serve(out: Out, args: argparse.Namespace) -> int:
    from g4f_core.gateway.app import Gateway
    from g4f_core.gateway.config import LIMITS, GatewayConfig
    from g4f_core.gateway.serve import GatewayServer, check_bind, load_waitress, offline_registry

    port = PORT.parse(args.port, label="--port")
    streams = None  # checked here, to name the flag rather than the field
    if args.max_streams is not None:
        streams = LIMITS["max_streams"].parse(args.max_streams, label="--max-streams")
    origins = tuple(args.cors_origin) or None
    try:
        config = GatewayConfig.from_env(
            api_key=args.api_key, max_streams=streams, cors_origins=origins
        )
    except InvalidRequestError:
        raise
    except ValueError as exc:  # a CORS origin that is not one
        raise InvalidRequestError(str(exc)) from None
    try:
        load_waitress()
    except InvalidRequestError as exc:  # what is installed, not how it was asked
        return _refused(out, str(exc))
    check_bind(args.host, config)
    registry = out.registry
    stop_emulators: Callable[[], None] = _nothing
    urls: dict[str, str] = {}
    if args.emulators:
        registry, emulators = offline_registry(registry, registry.environ)
        stop_emulators, urls = emulators.stop, emulators.urls
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    unlog = _access_log(out)
    try:
        try:
            server = GatewayServer(Gateway(registry, config), args.host, port)
        except (OSError, OverflowError, ValueError) as exc:  # a busy port, a host not ours
            reason = getattr(exc, "strerror", None) or exc
            return _refused(
                out, f"cannot serve on {args.host}:{port}: {reason}; pick another --port or --host"
            )
        out.print(f"g4f-core gateway listening on {server.url} (OpenAI base URL {server.url}/v1)")
        for name, url in sorted(urls.items()):
            out.print(f"  emulator {name.removeprefix('G4F_CORE_').removesuffix('_URL')}: {url}")
        out.stdout.flush()
        server.start()
        try:
            while not stop.wait(0.2):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
    finally:
        unlog()
        signal.signal(signal.SIGTERM, previous)
        stop_emulators()
    out.print("g4f-core gateway stopped")
    return EXIT_OK
