"""The ``g4f-core`` command. Listing providers imports neither requests nor any HTTP code."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import IO, Any

from . import checks_store
from .errors import G4FError, InvalidRequestError
from .provider import ProviderInfo
from .registry import Registry, default_registry

__all__ = ["main"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class _Out:
    def __init__(self, registry: Registry, stdout: IO[str], stderr: IO[str]) -> None:
        self.registry, self.stdout, self.stderr = registry, stdout, stderr

    def print(self, *parts: object) -> None:
        print(*parts, file=self.stdout)

    def json(self, data: object) -> None:
        json.dump(data, self.stdout, indent=2, ensure_ascii=False)
        self.stdout.write("\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="g4f-core",
        description="Call LLM chat providers by name; list what is installed and what it can do.",
        epilog="Environment: G4F_CORE_<NAME>_URL, G4F_CORE_<NAME>_AUTH, G4F_CORE_TIMEOUT, "
        "G4F_CORE_DEADLINE, G4F_CORE_MAX_RETRIES, G4F_CORE_MAX_LINE_BYTES, "
        "G4F_CORE_MAX_REPLY_BYTES, G4F_CORE_DISABLE, G4F_CORE_STRICT=1, G4F_CORE_DEBUG=1, "
        "G4F_CORE_STATE_DIR (see README.md).",
    )
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
    p.add_argument("--timeout", type=float, help="seconds any single wait may take")
    p.add_argument("--deadline", type=float, help="seconds the whole call may take")
    p.add_argument("--max-retries", type=int, help="retries before the first token (default 2)")
    p.add_argument("--max-line-bytes", type=int, help="longest line the reply may carry")
    p.add_argument("--max-reply-bytes", type=int, help="largest reply body accepted")

    p = sub.add_parser("emulate", help="serve a provider's local emulator until interrupted")
    p.add_argument("name", help="provider name")
    p.add_argument("--host", default="localhost", help="host to bind (default localhost)")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.add_argument("--token-delay", type=float, default=0.0, help="seconds between tokens")

    p = sub.add_parser("check", help="run the conformance suite on installed providers")
    p.add_argument("names", nargs="*", metavar="NAME", help="providers to check (default: all)")
    p.add_argument("--emulator", action="store_true", help="against each provider's emulator")
    p.add_argument("--json", action="store_true", help="print JSON")

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
    out = _Out(registry or default_registry(), stdout or sys.stdout, stderr or sys.stderr)
    try:
        with contextlib.redirect_stdout(out.stdout), contextlib.redirect_stderr(out.stderr):
            args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 for --help
        return int(exc.code or 0)
    handler: Callable[[_Out, argparse.Namespace], int] = _COMMANDS[args.command]
    try:
        return handler(out, args)
    except G4FError as exc:
        if os.environ.get("G4F_CORE_DEBUG", "").strip() not in ("", "0"):
            import traceback

            traceback.print_exc(file=out.stderr)
        out.stdout.flush()
        print(f"error: {exc}", file=out.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=out.stderr)
        return 130
    except BrokenPipeError:  # `g4f-core providers | head`
        return EXIT_OK


def _source(info: ProviderInfo) -> str:
    if not info.distribution:
        return "code"
    return f"{info.distribution} {info.version}" if info.version else info.distribution


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def cmd_providers(out: _Out, args: argparse.Namespace) -> int:
    found = out.registry.select(
        model=args.model,
        stream=True if args.stream else None,
        needs_auth=False if args.no_auth else None,
        working=True if args.working else None,
    )
    failed = out.registry.failures()
    checks = checks_store.load() if found else {}
    if args.json:
        out.json(
            {
                "providers": [
                    {**info.to_dict(), "last_check": checks.get(info.qualified_name)}
                    for info in found
                ],
                "failures": [failure.to_dict() for failure in failed],
            }
        )
        return EXIT_OK
    if found:
        checked = any(info.qualified_name in checks for info in found)
        rows = [["NAME", "MODELS", "STREAM", "AUTH", "WORKING", "SOURCE"]]
        rows[0] += ["LAST CHECK"] if checked else []
        rows += [
            [
                info.name,
                ", ".join(info.models),
                _yes(info.supports_stream),
                _yes(info.needs_auth),
                _yes(info.working),
                _source(info),
            ]
            + ([checks_store.describe(checks.get(info.qualified_name))] if checked else [])
            for info in found
        ]
        for line in _table(rows):
            out.print(line)
    else:
        filtered = args.model or args.stream or args.no_auth or args.working
        out.print("no providers match" if filtered else "no providers installed")
    if failed:
        out.print("")
        out.print(f"{len(failed)} plugin problem(s) (G4F_CORE_STRICT=1 raises the first):")
        for failure in failed:
            where = failure.distribution or "code"
            out.print(f"  {failure.name} ({where}): {failure.error}")
    return EXIT_OK


def _with_upstream(info: ProviderInfo) -> list[str]:
    """Model names, each with the upstream id it is sent as when that differs."""
    return [f"{m} ({info.upstream_id(m)})" if info.upstream_id(m) != m else m for m in info.models]


def cmd_show(out: _Out, args: argparse.Namespace) -> int:
    info = out.registry.get(args.name)
    if args.json:
        out.json(info.to_dict())
        return EXIT_OK
    rows = [
        ["name", info.name],
        ["source", _source(info)],
        ["entry point", info.entry_point or "-"],
        ["url", info.url or "-"],
        ["models", ", ".join(_with_upstream(info))],
        ["streaming", _yes(info.supports_stream)],
        ["needs auth", _yes(info.needs_auth)],
        ["working", _yes(info.working)],
        ["emulator", _yes(info.emulator is not None)],
    ]
    for line in _table(rows):
        out.print(line)
    out.print("")
    if info.options:
        out.print("options (-o KEY=VALUE):")
        for line in _table(
            [[f"  {o.name}", o.type_name, repr(o.default), o.help] for o in info.options]
        ):
            out.print(line)
    elif info.accepts_any_option:
        out.print("options: none declared; any -o KEY=VALUE is passed through unchecked")
    else:
        out.print("options: none")
    out.print("")
    out.print(f"params: {info.params}")
    return EXIT_OK


def cmd_models(out: _Out, args: argparse.Namespace) -> int:
    serving: dict[str, list[str]] = {}
    for info in out.registry.providers():
        for model in info.models:
            serving.setdefault(model, []).append(info.name)
    if args.json:
        out.json({"models": [{"name": m, "providers": p} for m, p in sorted(serving.items())]})
        return EXIT_OK
    rows = [["MODEL", "PROVIDERS"]] + [[m, ", ".join(p)] for m, p in sorted(serving.items())]
    for line in _table(rows):
        out.print(line)
    return EXIT_OK


def _parse_options(pairs: list[str], infos: list[ProviderInfo]) -> dict[str, Any]:
    declared = {opt.name: opt for info in infos for opt in info.options}
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise InvalidRequestError(f"-o takes KEY=VALUE, not {pair!r}")
        opt = declared.get(key)
        if opt is not None:
            options[key] = opt.parse(text)
        else:  # undeclared: let the provider's checks name the problem
            try:
                options[key] = json.loads(text)
            except ValueError:
                options[key] = text
    return options


def cmd_chat(out: _Out, args: argparse.Namespace) -> int:
    from . import calls, planning

    prompt = args.prompt
    if prompt == "-":
        if sys.stdin.isatty():
            raise InvalidRequestError("pass the prompt as an argument, or pipe it on stdin")
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise InvalidRequestError("the prompt is empty: pass it as an argument or on stdin")
    if not args.provider and not args.model:
        names = ", ".join(p.name for p in out.registry.select(working=True)) or "none installed"
        raise InvalidRequestError(
            f"choose a provider with -p NAME or a model with -m MODEL (providers: {names})"
        )
    infos = (
        [out.registry.get(args.provider)]
        if args.provider
        else out.registry.select(model=args.model)
    )
    options = _parse_options(args.option, infos)
    for key in (
        "base_url",
        "timeout",
        "deadline",
        "max_retries",
        "max_line_bytes",
        "max_reply_bytes",
    ):
        value = getattr(args, key)
        if value is not None:
            options[key] = value
    # Streaming is the CLI's default, not a demand: a provider that cannot stream
    # answers whole instead of failing.
    stream = not args.no_stream and any(info.supports_stream for info in infos)
    plan = planning.prepare(
        out.registry,
        prompt,
        provider=args.provider,
        model=args.model,
        stream=stream,
        options=options,
    )
    with calls.ChatStream(plan) as chunks:
        wrote = ""
        try:
            for chunk in chunks:
                out.stdout.write(chunk)
                out.stdout.flush()
                wrote = chunk
        finally:
            if wrote and not wrote.endswith("\n"):
                out.stdout.write("\n")
                out.stdout.flush()
    return EXIT_OK


def cmd_emulate(out: _Out, args: argparse.Namespace) -> int:
    info = out.registry.get(args.name)
    if info.emulator is None:
        raise InvalidRequestError(f"provider {info.name!r} ships no emulator")
    emulator = info.emulator(host=args.host, port=args.port, token_delay=args.token_delay)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        try:
            url = emulator.start()
        except OSError as exc:  # a busy port, a host that is not ours
            raise InvalidRequestError(
                f"cannot serve the {info.name} emulator on {args.host}:{args.port}: "
                f"{exc.strerror or exc}; pick another --port"
            ) from None
        out.print(f"{info.name} emulator listening on {url}")
        out.print(f'try: g4f-core chat -p {info.name} --base-url {url} "Hello"  (Ctrl-C stops)')
        out.stdout.flush()
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        emulator.stop()
    out.print(f"{info.name} emulator stopped")
    return EXIT_OK


def cmd_check(out: _Out, args: argparse.Namespace) -> int:
    from .testing.command import run_checks

    passed = run_checks(
        out.registry,
        args.names,
        emulator=args.emulator,
        as_json=args.json,
        stdout=out.stdout,
        stderr=out.stderr,
    )
    return EXIT_OK if passed else EXIT_ERROR


def cmd_new_provider(out: _Out, args: argparse.Namespace) -> int:
    from .scaffold import new_provider

    try:
        files = new_provider(args.name, args.dir)
    except InvalidRequestError as exc:
        print(f"error: {exc}", file=out.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: {exc}", file=out.stderr)
        return EXIT_ERROR
    root = os.path.commonpath(files)
    out.print(f"wrote a distribution for provider {args.name} to {root}:")
    for path in files:
        out.print(f"  {os.path.relpath(path, root)}")
    steps = [
        (f"pip install -e {root}", f"then `g4f-core providers` lists {args.name}"),
        (f"pytest {root}", "its tests and the conformance suite, on its emulator"),
        (f"g4f-core check {args.name} --emulator", "the conformance checks, with a verdict"),
    ]
    width = max(len(command) for command, _ in steps)
    out.print("next:")
    for command, why in steps:
        out.print(f"  {command.ljust(width)}  # {why}")
    return EXIT_OK


_COMMANDS: dict[str, Callable[[_Out, argparse.Namespace], int]] = {
    "providers": cmd_providers,
    "show": cmd_show,
    "models": cmd_models,
    "chat": cmd_chat,
    "emulate": cmd_emulate,
    "check": cmd_check,
    "new-provider": cmd_new_provider,
}
