"""``g4f-core config``: the config file in use, its providers and problems; ``config add``.

``config add`` appends a table as text, so the rest of the file (comments, order,
layout) stays exactly as it was: a TOML writer would round-trip the document and lose
them. The new text is checked by the same reader discovery uses before anything is
written, and the file is replaced atomically.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from typing import Any

from g4f_core.cli.output import EXIT_ERROR, EXIT_OK, EXIT_USAGE, Out, table
from g4f_core.errors import InvalidRequestError
from g4f_core.plugins.config import (
    CONFIG_ENV,
    Config,
    ProviderTable,
    config_path,
    load_config,
    parse_config,
)

__all__ = ["add_parser", "cmd_config", "table_text"]

_FLAGS = {"base_url": "--base-url", "models": "--model", "auth_env": "--auth-env"}


def add_parser(sub: Any) -> None:
    p = sub.add_parser("config", help="show the config file and the providers it declares; add one")
    p.add_argument("--json", action="store_true", help="print JSON")
    actions = p.add_subparsers(dest="config_action", metavar="ACTION")
    a = actions.add_parser("add", help="add an OpenAI-compatible endpoint as a provider")
    a.add_argument("name", help="the provider's name, e.g. Ollama")
    a.add_argument("--base-url", required=True, help="the API root, e.g. http://localhost:11434/v1")
    a.add_argument(
        "--model",
        dest="models",
        action="append",
        required=True,
        metavar="M",
        help="a model it serves (repeat for more; the first is the default)",
    )
    a.add_argument("--auth-env", help="environment variable holding the credential")


def cmd_config(out: Out, args: argparse.Namespace) -> int:
    if getattr(args, "config_action", None) == "add":
        return _add(out, args)
    config = load_config(environ=out.registry.environ)
    loaded = {info.origin: info for info in out.registry.providers() if info.origin}
    problems = [str(p) for p in config.problems]
    for failure in out.registry.failures():
        if failure.origin and failure.origin.file == config.path and failure.error not in problems:
            problems.append(failure.error)
    if args.json:
        out.json(
            {
                "path": config.path,
                "explicit": config.explicit,
                "exists": config.exists,
                "providers": [_entry(t, t.origin in loaded) for t in config.tables],
                "problems": problems,
            }
        )
        return EXIT_ERROR if problems else EXIT_OK
    where = f"from {CONFIG_ENV}" if config.explicit else f"the default; {CONFIG_ENV} overrides it"
    out.print(f"config file: {config.path} ({where})")
    if not config.exists:
        out.print("not found: `g4f-core config add NAME --base-url URL --model M` creates it")
    elif config.tables:
        rows = [["NAME", "PROTOCOL", "BASE URL", "MODELS", "CREDENTIAL", "LOADED"]]
        rows += [_row(t, out, t.origin in loaded) for t in config.tables]
        out.print("")
        for line in table(rows):
            out.print(line)
    else:
        out.print("it declares no providers")
    if problems:
        out.print("")
        out.print(f"{len(problems)} problem(s):")
        for problem in problems:
            out.print(f"  {problem}")
    return EXIT_ERROR if problems else EXIT_OK


def _entry(t: ProviderTable, loaded: bool) -> dict[str, Any]:
    return {
        "name": t.name,
        "protocol": t.protocol,
        "base_url": t.base_url,
        "models": dict(t.models),
        "auth_env": t.auth_env,
        "supports_stream": t.supports_stream,
        "working": t.working,
        "headers": sorted(t.headers),  # names only
        "loaded": loaded,
        "origin": t.origin.to_dict(),
    }


def _row(t: ProviderTable, out: Out, loaded: bool) -> list[str]:
    if t.auth_env:
        is_set = "set" if out.registry.environ.get(t.auth_env, "").strip() else "not set"
        credential = f"{t.auth_env} ({is_set})"
    else:
        credential = "-"
    models = ", ".join(m if m == u else f"{m} ({u})" for m, u in t.models.items())
    return [t.name, t.protocol, t.base_url, models, credential, "yes" if loaded else "no"]


def _add(out: Out, args: argparse.Namespace) -> int:
    path, _ = config_path(out.registry.environ)
    try:
        text = _read(path)
        new_text = _appended(out, path, text, args)
    except InvalidRequestError as exc:
        out.stdout.flush()
        print(f"error: {exc}", file=out.stderr)
        return EXIT_USAGE
    try:
        _write(path, new_text)
    except OSError as exc:
        print(f"error: cannot write {path}: {exc.strerror or exc}", file=out.stderr)
        return EXIT_ERROR
    out.print(f"added [providers.{args.name}] to {path}")
    out.print(f'try: g4f-core chat -p {args.name} "Hello"   (or: g4f-core check {args.name})')
    return EXIT_OK


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"cannot read {path}: {exc}") from None


def _appended(out: Out, path: str, text: str, args: argparse.Namespace) -> str:
    """The file's text with the new table after it; refused if either is not sound."""
    before = parse_config(text, path) if text.strip() else Config(path, False, False)
    whole = [p for p in before.problems if p.origin.table is None and p.key is None]
    if whole:
        raise InvalidRequestError(f"{whole[0]}: fix it before adding to it")
    declared = {t.name.lower() for t in before.tables} | {
        p.name.lower() for p in before.problems if p.origin.table
    }
    if args.name.lower() in declared:
        raise InvalidRequestError(
            f"{path} already declares provider {args.name!r}: edit its table instead"
        )
    for info in out.registry.providers():
        if info.origin is None and info.name.lower() == args.name.lower():
            raise InvalidRequestError(
                f"{info.name!r} is the name of an installed provider: choose another name"
            )
    addition = table_text(args.name, args.base_url, args.models, args.auth_env)
    sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    new_text = text + sep + addition
    after = parse_config(new_text, path)
    mine = [p for p in after.problems if p.name.lower() == args.name.lower()]
    if mine:
        problem = mine[0]
        flag = _FLAGS.get(problem.key or "", "NAME" if problem.key is None else problem.key)
        raise InvalidRequestError(f"{flag}: {problem.message}")
    if not any(t.name == args.name for t in after.tables):
        raise InvalidRequestError(
            f"the table cannot be appended to {path} (is [providers] inline?)"
        )
    return new_text


def table_text(name: str, base_url: str, models: list[str], auth_env: str | None) -> str:
    """A ``[providers.NAME]`` table of protocol "openai", as TOML text."""
    key = name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else toml_string(name)
    lines = [
        f"[providers.{key}]",
        'protocol = "openai"',
        f"base_url = {toml_string(base_url)}",
        "models = [" + ", ".join(toml_string(m) for m in models) + "]",
    ]
    if auth_env:
        lines.append(f"auth_env = {toml_string(auth_env)}")
    return "\n".join(lines) + "\n"


def toml_string(value: str) -> str:
    """A TOML basic string."""
    out = ['"']
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 32 or ord(char) == 127:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out) + '"'


def _write(path: str, text: str) -> None:
    """Replace the file atomically, keeping its permissions."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    try:
        mode: int | None = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    fd, tmp = tempfile.mkstemp(prefix=".g4f-core-", suffix=".toml", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
