"""The config file: providers declared as ``[providers.NAME]`` tables of one TOML file.

The file is ``$G4F_CORE_CONFIG``, else ``g4f-core.toml`` in the user config directory
(``$XDG_CONFIG_HOME/g4f-core``, by default ``~/.config/g4f-core``, on Linux;
``~/Library/Application Support/g4f-core`` on macOS; ``%APPDATA%\\g4f-core`` on
Windows). Each table is one provider of the protocol it names::

    [providers.Ollama]
    protocol = "openai"
    base_url = "http://localhost:11434/v1"
    models = ["llama3.2"]          # or a table: short name = "upstream id"
    auth_env = "OLLAMA_API_KEY"    # optional: the credential comes from the environment

The core checks every key a table may hold, so each protocol plugin gets tables that
are already sound (``Config.tables_for(protocol)``), and every problem names the file,
the table and the key. A credential written into the file is refused: the file is often
shared or committed, the environment is not. Importing this module costs nothing:
``tomllib`` is imported only when there is a file to read.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import attrs

from g4f_core.options import closest
from g4f_core.plugins.sources import Origin

__all__ = [
    "CONFIG_ENV",
    "KEYS",
    "Config",
    "ConfigProblem",
    "Origin",
    "ProviderTable",
    "config_path",
    "load_config",
    "parse_config",
    "user_config_dir",
]

CONFIG_ENV = "G4F_CORE_CONFIG"
FILE_NAME = "g4f-core.toml"
#: Every key a ``[providers.NAME]`` table may hold.
KEYS = ("protocol", "base_url", "models", "auth_env", "supports_stream", "headers", "working")
_REQUIRED = {
    "protocol": 'protocol = "openai"',
    "base_url": 'base_url = "http://localhost:11434/v1"',
    "models": 'models = ["llama3.2"]',
}
_MAX_BYTES = 1 << 20
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_WORD = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEADER = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_SECRET_KEY = re.compile(
    r"(^|_|-)(api_?key|apikey|key|keys|token|secret|password|passwd|auth|authorization|"
    r"bearer|credentials?|cookie)$",
    re.IGNORECASE,
)
_SECRET_HEADERS = {
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-auth-token",
    "cookie",
}
_USE_AUTH_ENV = (
    "credentials are never read from the config file: put it in an environment variable "
    'and name that variable with auth_env = "MY_API_KEY"'
)


@attrs.frozen
class ConfigProblem:
    """One thing wrong with the config file, located to its file, table and key."""

    name: str  # the table's name, or the file's base name for a problem with the whole file
    origin: Origin
    key: str | None
    message: str

    def __str__(self) -> str:
        where = self.origin.file
        if self.origin.table:
            where += f", table [{self.origin.table}]"
        if self.key:
            where += f", key {self.key!r}"
        return f"{where}: {self.message}"


@attrs.frozen
class ProviderTable:
    """One checked ``[providers.NAME]`` table: a provider for the plugin of its protocol."""

    name: str
    protocol: str
    base_url: str = attrs.field(repr=False)  # a path may be private; the origin says enough
    models: Mapping[str, str]  # short name -> upstream id, in the file's order
    auth_env: str | None
    supports_stream: bool
    headers: Mapping[str, str] = attrs.field(repr=False)
    working: bool
    origin: Origin


@attrs.frozen
class Config:
    """The config file as read: where it is, its sound tables and its problems."""

    path: str
    explicit: bool  # named by G4F_CORE_CONFIG rather than the default location
    exists: bool
    tables: tuple[ProviderTable, ...] = ()
    problems: tuple[ConfigProblem, ...] = ()
    _asked: set[str] = attrs.field(factory=set, init=False, repr=False, eq=False)

    def tables_for(self, protocol: str) -> tuple[ProviderTable, ...]:
        """The sound tables of ``protocol``; the plugin asking is then taken to speak it."""
        self._asked.add(protocol)
        return tuple(table for table in self.tables if table.protocol == protocol)

    @property
    def asked(self) -> frozenset[str]:
        """The protocols plugins asked for, for "did you mean" on a table nobody took."""
        return frozenset(self._asked)


def user_config_dir() -> str:
    """The platform's directory for this user's g4f-core settings (it may not exist)."""
    home = os.path.expanduser("~")
    if sys.platform == "win32":
        base = os.environ.get("APPDATA") or os.path.join(home, "AppData", "Roaming")
    elif sys.platform == "darwin":
        base = os.path.join(home, "Library", "Application Support")
    else:
        base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    return os.path.join(base, "g4f-core")


def config_path(environ: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """The config file's path, and whether ``G4F_CORE_CONFIG`` named it."""
    env = os.environ if environ is None else environ
    explicit = env.get(CONFIG_ENV, "").strip()
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit)), True
    return os.path.join(user_config_dir(), FILE_NAME), False


def load_config(path: str | None = None, *, environ: Mapping[str, str] | None = None) -> Config:
    """Read and check the config file; never raises for what is in (or not in) the file."""
    explicit = path is not None
    if path is None:
        path, explicit = config_path(environ)

    def broken(message: str) -> Config:
        return Config(path, explicit, exists=True, problems=(_whole(path, message),))

    try:
        with open(path, "rb") as file:
            data = file.read(_MAX_BYTES + 1)
    except FileNotFoundError:
        missing = _whole(path, f"{CONFIG_ENV} names a file that does not exist")
        return Config(path, explicit, exists=False, problems=(missing,) if explicit else ())
    except IsADirectoryError:
        return broken("is a directory, not a TOML file")
    except OSError as exc:
        return broken(f"cannot be read ({exc.strerror or type(exc).__name__})")
    if len(data) > _MAX_BYTES:
        return broken(f"is larger than {_MAX_BYTES >> 20} MiB; is it the right file?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return broken("is not UTF-8 text")
    return parse_config(text, path, explicit=explicit)


def parse_config(text: str, path: str, *, explicit: bool = False) -> Config:
    """Check the text of a config file named ``path``."""
    tomllib = _toml()
    try:
        document = tomllib.loads(text)
    except RecursionError:  # hostile nesting: tomllib recurses once per level
        return Config(path, explicit, True, problems=(_whole(path, "nests too deeply"),))
    except tomllib.TOMLDecodeError as exc:
        return Config(path, explicit, True, problems=(_whole(path, f"is not valid TOML: {exc}"),))
    problems: list[ConfigProblem] = []
    for key in document:
        if key != "providers":
            hint = closest(key, ["providers"])
            maybe = f"; did you mean {hint!r}?" if hint else " (it holds [providers.NAME] tables)"
            problems.append(_whole(path, f"unknown top-level key{maybe}", key))
    declared = document.get("providers", {})
    if not isinstance(declared, dict):
        problems.append(_whole(path, "must hold [providers.NAME] tables", "providers"))
        declared = {}
    tables: list[ProviderTable] = []
    seen: dict[str, str] = {}
    for name, raw in declared.items():
        origin = Origin(path, f"providers.{_key(name)}")
        found, trouble = _table(name, raw, origin)
        other = seen.setdefault(name.lower(), name)
        if other != name:
            again = f"declares provider {other!r} again (names ignore case)"
            trouble.append(ConfigProblem(name, origin, None, again))
        problems += trouble
        if found is not None and not trouble:
            tables.append(found)
    return Config(path, explicit, exists=True, tables=tuple(tables), problems=tuple(problems))


def _whole(path: str, message: str, key: str | None = None) -> ConfigProblem:
    """A problem with the file itself rather than one of its tables."""
    return ConfigProblem(os.path.basename(path), Origin(path), key, message)


def _key(name: str) -> str:
    """A table name as written in TOML: bare when it can be, quoted otherwise."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else '"' + name.replace('"', '\\"') + '"'


def _table(
    name: str, raw: object, origin: Origin
) -> tuple[ProviderTable | None, list[ConfigProblem]]:
    problems: list[ConfigProblem] = []

    def problem(key: str | None, message: str) -> None:
        problems.append(ConfigProblem(name, origin, key, message))

    if not _NAME.fullmatch(name):
        problem(
            None,
            "a provider name starts with a letter and holds only letters, digits, '_', '.' or '-'",
        )
    if not isinstance(raw, dict):
        problem(None, "must be a table of settings ([providers.NAME] with key = value lines)")
        return None, problems
    for key, message in _key_problems(raw):
        problem(key, message)
    checks = {
        "protocol": _protocol,
        "base_url": _base_url,
        "models": _models,
        "auth_env": _auth_env,
        "supports_stream": _flag,
        "working": _flag,
        "headers": _headers,
    }
    values: dict[str, Any] = {}
    for key, check in checks.items():
        if key in raw:
            try:
                values[key] = check(raw[key])
            except ValueError as exc:
                problem(key, str(exc))
    if problems:
        return None, problems
    return (
        ProviderTable(
            name=name,
            protocol=values["protocol"],
            base_url=values["base_url"],
            models=values["models"],
            auth_env=values.get("auth_env"),
            supports_stream=values.get("supports_stream", True),
            headers=values.get("headers", MappingProxyType({})),
            working=values.get("working", True),
            origin=origin,
        ),
        problems,
    )


def _key_problems(raw: Mapping[str, object]) -> list[tuple[str | None, str]]:
    """Unknown keys (credentials among them) and missing ones."""
    found: list[tuple[str | None, str]] = []
    for key in raw:
        if key in KEYS:
            continue
        if _SECRET_KEY.search(key):
            found.append((key, _USE_AUTH_ENV))
            continue
        hint = closest(key, KEYS)
        maybe = f"; did you mean {hint!r}?" if hint else f" (known: {', '.join(KEYS)})"
        found.append((key, f"unknown key{maybe}"))
    for key, example in _REQUIRED.items():
        if key not in raw:
            found.append((None, f"missing key {key!r} (for example: {example})"))
    return found


def _protocol(value: object) -> str:
    if not isinstance(value, str) or not _WORD.fullmatch(value):
        raise ValueError('must be the name of a protocol, like "openai"')
    return value


def _base_url(value: object) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ValueError('must be an http:// or https:// URL, like "http://localhost:11434/v1"')
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ValueError("has an invalid port") from None
    if not parts.hostname:
        raise ValueError("names no host")
    if "@" in parts.netloc:
        raise ValueError("carries a user name or password; " + _USE_AUTH_ENV)
    if parts.query or parts.fragment:
        raise ValueError(
            "carries a query or fragment; a key in a URL ends up in logs: " + _USE_AUTH_ENV
        )
    return value.rstrip("/")


def _models(value: object) -> Mapping[str, str]:
    if isinstance(value, list):
        pairs = [(m, m) for m in value]
    elif isinstance(value, dict):
        pairs = list(value.items())
    else:
        raise ValueError('must be a list of model names or a table of name = "upstream id"')
    if not pairs:
        raise ValueError("is empty: declare at least one model (the first is the default)")
    seen: set[str] = set()
    for short, upstream in pairs:
        if (
            not isinstance(short, str)
            or not short.strip()
            or short != short.strip()
            or "," in short
        ):
            raise ValueError(
                "model names are non-empty strings without surrounding spaces or commas"
            )
        if not isinstance(upstream, str) or not upstream.strip():
            raise ValueError(f"model {short!r}: the upstream id must be a non-empty string")
        if short.lower() in seen:
            raise ValueError(f"lists model {short!r} twice (names ignore case)")
        seen.add(short.lower())
    return MappingProxyType(dict(pairs))


def _auth_env(value: object) -> str:
    if not isinstance(value, str) or not _ENV.fullmatch(value):
        # Never echo the value: it may be the credential itself, pasted in by mistake.
        raise ValueError(
            'must name an environment variable (like "OPENAI_API_KEY") that holds the '
            "credential, not the credential itself"
        )
    return value


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _headers(value: object) -> Mapping[str, str]:
    if not isinstance(value, dict):
        raise ValueError('must be a table of header = "value", like { "X-Title" = "g4f-core" }')
    for header, text in value.items():
        if not _HEADER.fullmatch(header):
            raise ValueError(f"{header!r} is not a valid header name")
        if header.lower() in _SECRET_HEADERS:
            raise ValueError(f"header {header!r} carries a credential; " + _USE_AUTH_ENV)
        if not isinstance(text, str) or any(c in text for c in "\r\n\0"):
            raise ValueError(f"header {header!r} must be a string on one line")
    return MappingProxyType(dict(value))


def _toml() -> Any:
    """tomllib (Python 3.11+) or its backport tomli, imported only when a file is read."""
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    import tomli

    return tomli
