"""The ``g4f-core`` command. Listing providers imports neither requests nor any HTTP code."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
from collections.abc import Callable, Sequence
from typing import IO

from g4f_core import __version__
from g4f_core.cli.commands import cmd_chat, cmd_check, cmd_emulate, cmd_new_provider
from g4f_core.cli.config_cmd import add_parser as add_config_parser
from g4f_core.cli.config_cmd import cmd_config
from g4f_core.cli.output import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    Out,
    as_flags,
    providers_document,
    source,
    table,
    yes,
)
from g4f_core.cli.serve import cmd_serve
from g4f_core.context import credential_settings, env_flag
from g4f_core.errors import G4FError, InvalidRequestError
from g4f_core.kit import checks as checks_store
from g4f_core.options import FRAMEWORK_DEFAULTS, Option
from g4f_core.plugins.provider import ProviderInfo
from g4f_core.plugins.registry import Registry, default_registry

__all__ = ["main"]

_RETRIES_HELP = f"retries before the first token (default {FRAMEWORK_DEFAULTS['max_retries']})"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="g4f-core",
        description="Call LLM chat providers by name; list what is installed and what it can do.",
        epilog="Environment: G4F_CORE_<NAME>_URL, G4F_CORE_<NAME>_AUTH, G4F_CORE_TIMEOUT, "
        "G4F_CORE_DEADLINE, G4F_CORE_MAX_RETRIES, G4F_CORE_MAX_LINE_BYTES, "
        "G4F_CORE_MAX_REPLY_BYTES, G4F_CORE_DISABLE, G4F_CORE_STRICT=1, G4F_CORE_DEBUG=1, "
        "G4F_CORE_STATE_DIR, G4F_CORE_CONFIG, G4F_CORE_API_KEY, G4F_CORE_MAX_STREAMS, "
        "G4F_CORE_CORS_ORIGINS, G4F_CORE_MAX_BODY_BYTES (see README.md).",
    )
    parser.add_argument("--version", action="version", version=f"g4f-core {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("providers", help="list installed providers and plugins that failed")
    p.add_argument("--model", "-m", help="only providers serving this model")
    p.add_argument("--stream", action="store_true", help="only providers that can stream")
    p.add_argument("--no-auth", action="store_true", help="only providers needing no credential")
    p.add_argument("--working", action="store_true", help="only providers declared working")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = sub.add_parser("show", help="show one provider: models, options, params")
    p.add_argument("name", help="provider name (case-insensitive) or distribution:Name")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("models", help="list models and the providers serving each")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("chat", help="send a prompt and print the reply as it arrives")
    p.add_argument("prompt", nargs="?", default="-", help="the prompt; '-' or none reads stdin")
    p.add_argument("-p", "--provider", help="provider name")
    p.add_argument("-m", "--model", help="model (default: the provider's first)")
    p.add_argument("--no-stream", action="store_true", help="wait for the whole reply")
    p.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="provider option, typed by its declaration (see `g4f-core show NAME`)",
    )
    p.add_argument("--base-url", help="send requests to this URL instead of the provider's own")
    # Numbers are read as text and checked by the one parser every source shares.
    p.add_argument("--timeout", metavar="S", help="seconds any single wait may take (<= 86400)")
    p.add_argument("--deadline", metavar="S", help="seconds the whole call may take (<= 86400)")
    p.add_argument("--max-retries", metavar="N", help="retries before the first token (0-20)")
    p.add_argument("--max-line-bytes", metavar="N", help="longest line the reply may carry")
    p.add_argument("--max-reply-bytes", metavar="N", help="largest reply body accepted")

    p = sub.add_parser("emulate", help="serve a provider's local emulator until interrupted")
    p.add_argument("name", help="provider name")
    p.add_argument("--host", default="localhost", help="host to bind (default localhost)")
    p.add_argument("--port", default="0", help="port, 0-65535 (default 0: a free one)")
    p.add_argument("--token-delay", default="0", metavar="S", help="seconds between tokens, 0-60")

    p = sub.add_parser(
        "serve", help="serve the OpenAI-compatible HTTP gateway (needs g4f-core[serve])"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", default="8000", help="port, 0-65535 (default 8000; 0: a free one)")
    p.add_argument("--api-key", help="require 'Authorization: Bearer KEY' (G4F_CORE_API_KEY)")
    p.add_argument(
        "--max-streams", metavar="N", help="calls served at once, then 503 (1-4096, default 64)"
    )
    p.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser calls from this exact origin (repeatable; default: none)",
    )
    p.add_argument(
        "--emulators", action="store_true", help="route every provider to its own emulator"
    )

    p = sub.add_parser("check", help="run the conformance suite on installed providers")
    p.add_argument("names", nargs="*", metavar="NAME", help="providers to check (default: all)")
    p.add_argument("--emulator", action="store_true", help="against each provider's emulator")
    p.add_argument("--json", action="store_true", help="print JSON")

    add_config_parser(sub)

    p = sub.add_parser("new-provider", help="write a new provider's distribution to start from")
    p.add_argument("name", help="the provider's name, e.g. AcmeChat")
    p.add_argument("--dir", help="directory to create (default: ./g4f-<name>)")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    registry: Registry | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run the command line; returns the exit status."""
    out = Out(registry or default_registry(), stdout or sys.stdout, stderr or sys.stderr)
    try:
        args = _parse(_parser(), argv, out)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 for --help
        return int(exc.code or 0)
    handler: Callable[[Out, argparse.Namespace], int] = _COMMANDS[args.command]
    try:
        return handler(out, args)
    except G4FError as exc:
        if env_flag("G4F_CORE_DEBUG"):
            import traceback

            traceback.print_exc(file=out.stderr)
        out.stdout.flush()
        print(f"error: {as_flags(str(exc))}", file=out.stderr)
        # A request refused before any I/O was asked wrongly: a usage error, as argparse's.
        return EXIT_USAGE if isinstance(exc, InvalidRequestError) else EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=out.stderr)
        return 130
    except BrokenPipeError:  # `g4f-core providers | head`
        return EXIT_OK


def _parse(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, out: Out
) -> argparse.Namespace:
    """Parse, pointing an unquoted prompt (``chat Hello world``) at the quotes it needs."""
    with contextlib.redirect_stdout(out.stdout), contextlib.redirect_stderr(out.stderr):
        args, extra = parser.parse_known_args(argv)
        if extra and args.command == "chat" and not any(e.startswith("-") for e in extra):
            words = " ".join([args.prompt, *extra])
            print(
                f"error: chat takes the prompt as one argument; quote it: "
                f"g4f-core chat ... {shlex.quote(words)}",
                file=out.stderr,
            )
            raise SystemExit(EXIT_USAGE)
        if extra:
            return parser.parse_args(argv)  # argparse's own message for unknown arguments
    return args


def cmd_providers(out: Out, args: argparse.Namespace) -> int:
    found = out.registry.select(
        model=args.model,
        stream=True if args.stream else None,
        needs_auth=False if args.no_auth else None,
        working=True if args.working else None,
    )
    failed = out.registry.failures()
    checks = checks_store.load(found) if found else {}
    if args.json:
        out.json(providers_document(found, failed, checks))
        return EXIT_OK
    if found:
        checked = any(info.qualified_name in checks for info in found)
        rows = [["NAME", "MODELS", "STREAM", "AUTH", "WORKING", "SOURCE"]]
        rows[0] += ["LAST CHECK"] if checked else []
        rows += [
            [
                info.name,
                ", ".join(info.models),
                yes(info.supports_stream),
                yes(info.needs_auth),
                yes(info.working),
                source(info),
            ]
            + ([checks_store.cell(checks.get(info.qualified_name))] if checked else [])
            for info in found
        ]
        for line in table(rows):
            out.print(line)
    else:
        filtered = args.model or args.stream or args.no_auth or args.working
        out.print("no providers match" if filtered else "no providers installed")
    if failed:
        out.print("")
        out.print(f"{len(failed)} plugin problem(s) (G4F_CORE_STRICT=1 raises the first):")
        for failure in failed:
            if failure.origin is not None:  # the error names the config file and table
                out.print(f"  {failure.name}: {failure.error}")
                continue
            where = failure.distribution or "code"
            out.print(f"  {failure.name} ({where}): {failure.error}")
    return EXIT_OK


def _with_upstream(info: ProviderInfo) -> list[str]:
    """Model names, each with the upstream id it is sent as when that differs."""
    return [f"{m} ({info.upstream_id(m)})" if info.upstream_id(m) != m else m for m in info.models]


def cmd_show(out: Out, args: argparse.Namespace) -> int:
    info = out.registry.get(args.name)
    if args.json:
        out.json(info.to_dict())
        return EXIT_OK
    rows = [
        ["name", info.name],
        ["source", source(info)],
        ["entry point", info.entry_point or "-"],
        ["url", info.url or "-"],
        ["models", ", ".join(_with_upstream(info))],
        ["streaming", yes(info.supports_stream)],
        ["needs auth", yes(info.needs_auth)],
        ["working", yes(info.working)],
        ["emulator", yes(info.emulator is not None)],
    ]
    last = checks_store.load([info]).get(info.qualified_name)
    if last:
        rows.append(["last check", f"{checks_store.cell(last)} from {last.get('install')}"])
    if info.origin is not None:
        rows.insert(3, ["declared in", str(info.origin)])
    if info.needs_auth or info.auth_env:
        rows.append(["credential", credential_settings(info.name, info.auth_env)])
    for line in table(rows):
        out.print(line)
    out.print("")
    if info.options:
        out.print("options (-o KEY=VALUE):")
        for line in table(
            [[f"  {o.name}", o.type_name, repr(o.default), _help(o)] for o in info.options]
        ):
            out.print(line)
    elif info.accepts_any_option:
        out.print("options: none declared; any -o KEY=VALUE is passed through unchecked")
    else:
        out.print("options: none")
    out.print("")
    out.print(f"params: {info.params}")
    return EXIT_OK


def cmd_models(out: Out, args: argparse.Namespace) -> int:
    serving: dict[str, list[str]] = {}
    for info in out.registry.providers():
        for model in info.models:
            serving.setdefault(model, []).append(info.name)
    if args.json:
        out.json({"models": [{"name": m, "providers": p} for m, p in sorted(serving.items())]})
        return EXIT_OK
    rows = [["MODEL", "PROVIDERS"]] + [[m, ", ".join(p)] for m, p in sorted(serving.items())]
    for line in table(rows):
        out.print(line)
    return EXIT_OK


_COMMANDS: dict[str, Callable[[Out, argparse.Namespace], int]] = {
    "providers": cmd_providers,
    "show": cmd_show,
    "models": cmd_models,
    "chat": cmd_chat,
    "emulate": cmd_emulate,
    "check": cmd_check,
    "new-provider": cmd_new_provider,
    "config": cmd_config,
    "serve": cmd_serve,
}


def _help(option: Option) -> str:
    """An option's help with its declared limits, so `show` says what a call will refuse."""
    return "; ".join(part for part in (option.help, option.limits) if part)
