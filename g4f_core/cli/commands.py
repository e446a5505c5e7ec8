"""The ``g4f-core`` commands that run something: chat, emulate, check, new-provider."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Iterable
from typing import Any

from g4f_core.cli.output import EXIT_ERROR, EXIT_OK, EXIT_USAGE, PORT, Out
from g4f_core.errors import InvalidRequestError, ProviderError
from g4f_core.options import Option
from g4f_core.plugins.provider import ProviderInfo

__all__ = ["cmd_chat", "cmd_check", "cmd_emulate", "cmd_new_provider"]


#: Keywords of complete() and stream() themselves: never provider options.
_CALL_KEYWORDS = ("messages", "provider", "model", "registry")
#: Numeric framework options the chat command sets from its own flags.
_SETTING_FLAGS = ("timeout", "deadline", "max_retries", "max_line_bytes", "max_reply_bytes")


def _parse_options(pairs: list[str], infos: list[ProviderInfo]) -> dict[str, Any]:
    declared = {opt.name: opt for info in infos for opt in info.options}
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise InvalidRequestError(f"-o takes KEY=VALUE, not {pair!r}")
        if key in _CALL_KEYWORDS:
            raise InvalidRequestError(f"-o {key}=... is not an option: use -p NAME or -m MODEL")
        opt = declared.get(key)
        if opt is not None:
            options[key] = opt.parse(text)
        else:  # undeclared: let the provider's checks name the problem
            try:
                options[key] = json.loads(text)
            except (ValueError, RecursionError):  # deep nesting raises RecursionError
                options[key] = text
    return options


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The numeric flags, read by the parser the environment and calls share."""
    from g4f_core.context import parse_setting

    found: dict[str, Any] = {}
    for key in _SETTING_FLAGS:
        text = getattr(args, key)
        if text is not None:
            found[key] = parse_setting(key, text, label="--" + key.replace("_", "-"))
    return found


def _read_prompt(prompt: str) -> str:
    """The prompt argument, or stdin read as UTF-8 (bytes that are not UTF-8 are refused)."""
    if prompt == "-":
        if sys.stdin.isatty():
            raise InvalidRequestError("pass the prompt as an argument, or pipe it on stdin")
        buffer = getattr(sys.stdin, "buffer", None)
        if buffer is None:
            prompt = sys.stdin.read()
        else:
            data = buffer.read()
            try:
                prompt = data.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise InvalidRequestError(
                    f"stdin is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                    f"{exc.start}); convert it, e.g. with iconv -t UTF-8"
                ) from None
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError:  # argv bytes that were not UTF-8 arrive as lone surrogates
        raise InvalidRequestError(
            "the prompt holds bytes that are not UTF-8 text; pass it as UTF-8"
        ) from None
    if not prompt.strip():
        raise InvalidRequestError("the prompt is empty: pass it as an argument or on stdin")
    return prompt


def cmd_chat(out: Out, args: argparse.Namespace) -> int:
    from g4f_core.api import complete, stream

    prompt = _read_prompt(args.prompt)
    settings = _settings(args)
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
    if args.base_url is not None:
        options["base_url"] = args.base_url
    options.update(settings)
    call = {"provider": args.provider, "model": args.model, "registry": out.registry}
    # Streaming is the CLI's default, not a demand: a provider that cannot stream
    # answers whole instead of failing.
    if args.no_stream or not any(info.supports_stream for info in infos):
        try:
            text = complete(prompt, **call, **options)
        except ProviderError as exc:
            _write(out, [exc.partial_text])  # what arrived before the failure, as when streaming
            raise
        _write(out, [text])
        return EXIT_OK
    with stream(prompt, **call, **options) as chunks:
        _write(out, chunks)
    return EXIT_OK


def _write(out: Out, chunks: Iterable[str]) -> None:
    """Print each chunk as it arrives, ending the reply (even a broken one) with a newline."""
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


_TOKEN_DELAY = Option("token_delay", float, 0.0, ge=0, le=60)


def cmd_emulate(out: Out, args: argparse.Namespace) -> int:
    port = PORT.parse(args.port, label="--port")
    token_delay = _TOKEN_DELAY.parse(args.token_delay, label="--token-delay")
    info = out.registry.get(args.name)
    if info.emulator is None:
        raise InvalidRequestError(f"provider {info.name!r} ships no emulator")
    emulator = info.emulator(host=args.host, port=port, token_delay=token_delay)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        try:
            url = emulator.start()
        except (OSError, OverflowError, ValueError) as exc:  # a busy port, a host not ours
            reason = getattr(exc, "strerror", None) or exc
            print(
                f"error: cannot serve the {info.name} emulator on {args.host}:{port}: "
                f"{reason}; pick another --port or --host",
                file=out.stderr,
            )
            return EXIT_ERROR  # the flags were fine; the machine said no
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


def cmd_check(out: Out, args: argparse.Namespace) -> int:
    from g4f_core.testing.command import run_checks

    passed = run_checks(
        out.registry,
        args.names,
        emulator=args.emulator,
        as_json=args.json,
        stdout=out.stdout,
        stderr=out.stderr,
    )
    return EXIT_OK if passed else EXIT_ERROR


def cmd_new_provider(out: Out, args: argparse.Namespace) -> int:
    from g4f_core.kit.scaffold import new_provider

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
