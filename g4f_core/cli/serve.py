"""``g4f-core serve``: the gateway on waitress, optionally over in-process emulators."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable

from g4f_core.cli.output import EXIT_OK, Out
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


def cmd_serve(out: Out, args: argparse.Namespace) -> int:
    from g4f_core.gateway.app import Gateway
    from g4f_core.gateway.config import GatewayConfig
    from g4f_core.gateway.serve import GatewayServer, check_bind, load_waitress, offline_registry

    try:
        config = GatewayConfig.from_env(
            api_key=args.api_key,
            max_streams=args.max_streams,
            cors_origins=tuple(args.cors_origin) or None,
        )
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from None
    load_waitress()
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
            server = GatewayServer(Gateway(registry, config), args.host, args.port)
        except OSError as exc:
            raise InvalidRequestError(
                f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}; "
                "pick another --port"
            ) from None
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
