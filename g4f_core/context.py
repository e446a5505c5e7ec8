"""The limits and settings of the call in progress, visible to the provider running it.

The core runs each step of a provider's generator inside its own
:class:`contextvars.Context` holding a :class:`CallContext`, so a provider reads
its base URL, timeout and credential with :func:`current` instead of having them
mixed into its options. Importing this module is cheap: no HTTP library here.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import attrs

from g4f_core.errors import InvalidRequestError, ProviderTimeoutError
from g4f_core.options import FALSE_WORDS, FRAMEWORK_OPTIONS
from g4f_core.options import FRAMEWORK_DEFAULTS as DEFAULTS

__all__ = [
    "CallContext",
    "credential",
    "credential_settings",
    "current",
    "env_flag",
    "env_name",
    "max_retries",
    "parse_setting",
    "setting",
]

#: The numeric framework options, each read only through :func:`setting`.
_SETTINGS = {opt.name: opt for opt in FRAMEWORK_OPTIONS if opt.type in (int, float)}


def env_name(provider: str, suffix: str) -> str:
    """``G4F_CORE_<NAME>_<SUFFIX>`` with the name upper-cased and other characters as ``_``."""
    return f"G4F_CORE_{re.sub(r'[^A-Z0-9]', '_', provider.upper())}_{suffix}"


def env_flag(key: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether a switch like ``G4F_CORE_STRICT`` is on: anything but "", 0, false, no, off."""
    env = os.environ if environ is None else environ
    return env.get(key, "").strip().lower() not in {"", *FALSE_WORDS}


def setting(name: str, options: Mapping[str, object], env: Mapping[str, str]) -> Any:
    """A numeric framework setting: the call's value, else ``G4F_CORE_<NAME>``, else the default.

    The one place these numbers are read, wherever they come from: each is checked
    against its declared range (``FRAMEWORK_OPTIONS``), so ``inf``, ``nan``, ``1e10`` or a
    negative count is an :class:`InvalidRequestError` naming its source, before any I/O.
    A value of None means "not given".
    """
    opt = _SETTINGS[name]
    value = options.get(name)
    if value is not None:
        return opt.check(value, where="")
    variable = f"G4F_CORE_{name.upper()}"
    raw = env.get(variable, "").strip()
    if raw:
        return opt.parse(raw, label=variable)
    return opt.default


def parse_setting(name: str, text: str, *, label: str) -> Any:
    """A numeric framework setting written as text (a CLI flag), checked like any other."""
    return _SETTINGS[name].parse(text, label=label)


def max_retries(options: Mapping[str, object], env: Mapping[str, str]) -> int:
    """``max_retries`` from the call, else ``G4F_CORE_MAX_RETRIES``, else the default."""
    value: int = setting("max_retries", options, env)
    return value


def _proxy(url: str | None) -> str | None:
    """A proxy URL requests can use, checked now rather than failing as a retried connect."""
    if url is None:
        return None
    parts = urlsplit(url)
    schemes = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")
    if parts.scheme not in schemes or not parts.hostname:
        raise InvalidRequestError(
            f"option 'proxy' must be a URL like http://host:port (schemes: {', '.join(schemes)})"
        )
    if parts.scheme.startswith("socks"):
        import importlib.util

        if importlib.util.find_spec("socks") is None:
            raise InvalidRequestError("a socks proxy needs PySocks: pip install requests[socks]")
    return url


def _ca_bundle(path: str | None) -> str | None:
    if path is not None and not os.path.exists(path):
        raise InvalidRequestError("option 'ca_bundle' names a file or folder that does not exist")
    return path


def _text(options: Mapping[str, object], key: str) -> str | None:
    value = options.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidRequestError(f"option {key!r} must be a str, not {type(value).__name__}")
    return value


def credential(
    provider: str,
    options: Mapping[str, object],
    environ: Mapping[str, str],
    auth_env: str | None = None,
) -> tuple[str | None, str | None]:
    """The call's credential and the setting it came from: ``auth=``, then
    ``G4F_CORE_<NAME>_AUTH``, then the provider's own ``auth_env`` variable."""
    given = _text(options, "auth")
    if given:
        return given, "auth="
    for key in (env_name(provider, "AUTH"), auth_env):
        value = environ.get(key, "").strip() if key else ""
        if value:
            return value, key
    return None, None


def credential_settings(provider: str, auth_env: str | None) -> str:
    """Where a credential may come from, as a user would set it."""
    names = [env_name(provider, "AUTH")] + ([auth_env] if auth_env else [])
    return "pass auth=... or set " + " or ".join(names)


def _checked_credential(value: str | None, source: str | None) -> str | None:
    """A credential that can go into a header: refused before I/O, and never quoted."""
    if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidRequestError(
            f"the credential from {source} holds a line break or control character; "
            "set it to the key alone"
        )
    return value


def _origin_repr(url: str | None) -> str:
    """A base URL's path or query may carry a key: reprs show scheme, host and port."""
    from g4f_core.redaction import origin  # redaction reads env_flag from here

    return "None" if url is None else repr(origin(url))


@attrs.frozen
class CallContext:
    """Settings of one attempt at one provider. Secrets are kept out of the repr."""

    provider: str
    base_url: str | None = attrs.field(default=None, repr=_origin_repr)
    timeout: float = DEFAULTS["timeout"]
    deadline_at: float | None = None  # time.monotonic() by which the whole call must end
    proxy: str | None = attrs.field(default=None, repr=False)
    auth: str | None = attrs.field(default=None, repr=False)
    ca_bundle: str | None = None
    max_line_bytes: int = DEFAULTS["max_line_bytes"]
    max_reply_bytes: int = DEFAULTS["max_reply_bytes"]
    attempt: int = 1
    #: The call's message contents: quoted upstream text is scrubbed of them (redaction.py).
    private: tuple[str, ...] = attrs.field(default=(), repr=False, eq=False)
    auth_scheme: str = attrs.field(default="bearer", repr=False)
    auth_env: str | None = attrs.field(default=None, repr=False)
    #: The setting the credential came from ("auth=", "G4F_CORE_X_AUTH", the auth_env name).
    auth_from: str | None = attrs.field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        provider: str,
        declared_url: str | None,
        options: Mapping[str, object],
        environ: Mapping[str, str] | None = None,
        *,
        started: float | None = None,
        auth_env: str | None = None,
        auth_scheme: str = "bearer",
    ) -> CallContext:
        """Merge call options over environment over defaults; checked, before any I/O."""
        env = os.environ if environ is None else environ
        timeout = setting("timeout", options, env)
        deadline = setting("deadline", options, env)
        base_url = _text(options, "base_url") or env.get(env_name(provider, "URL")) or declared_url
        if base_url is not None:
            base_url = base_url.rstrip("/")
            if not base_url.startswith(("http://", "https://")):
                raise InvalidRequestError(
                    f"base URL for {provider} must start with http:// or https://"
                )
            try:
                parts = urlsplit(base_url)
                parts.port  # noqa: B018 - raises ValueError for a port out of range
            except ValueError:
                raise InvalidRequestError(f"base URL for {provider} has an invalid port") from None
            if not parts.hostname:
                raise InvalidRequestError(f"base URL for {provider} names no host")
        start = time.monotonic() if started is None else started
        auth, auth_from = credential(provider, options, env, auth_env)
        return cls(
            provider=provider,
            base_url=base_url,
            timeout=float(timeout),
            deadline_at=start + deadline if deadline else None,
            proxy=_proxy(_text(options, "proxy")),
            auth=_checked_credential(auth, auth_from),
            ca_bundle=_ca_bundle(_text(options, "ca_bundle")),
            max_line_bytes=setting("max_line_bytes", options, env),
            max_reply_bytes=setting("max_reply_bytes", options, env),
            auth_scheme=auth_scheme,
            auth_env=auth_env,
            auth_from=auth_from,
        )

    def auth_headers(self) -> dict[str, str]:
        """The header that carries the credential, as the provider's ``auth_scheme`` says."""
        if not self.auth or self.auth_scheme == "none":
            return {}
        if self.auth_scheme.startswith("header:"):
            return {self.auth_scheme[len("header:") :]: self.auth}
        return {"Authorization": f"Bearer {self.auth}"}

    def credential_settings(self) -> str:
        """Where this provider's credential may come from: for messages asking for one."""
        return credential_settings(self.provider, self.auth_env)

    def remaining(self) -> float | None:
        """Seconds left before the deadline, or None when the call has none."""
        return None if self.deadline_at is None else self.deadline_at - time.monotonic()

    def wait_limit(self, limit: float | None = None) -> float:
        """How long the next single wait may block: the timeout, cut by the deadline."""
        wait = self.timeout if limit is None else min(limit, self.timeout)
        left = self.remaining()
        if left is not None:
            if left <= 0:
                raise self.deadline_error()
            wait = min(wait, left)
        return max(wait, 0.001)

    def deadline_error(self) -> ProviderTimeoutError:
        total = "?" if self.deadline_at is None else "its"
        return ProviderTimeoutError(
            f"the call exceeded {total} deadline; pass a larger deadline= if the reply is long",
            provider=self.provider,
            phase="deadline",
        )


_current: ContextVar[CallContext | None] = ContextVar("g4f_core_call", default=None)


def current() -> CallContext:
    """The context of the running call, which knows its provider.

    Outside a call (a script, a test) it holds the defaults and the environment's
    settings; ``CallContext.build(name, url, options)`` makes one for a named provider.
    """
    ctx = _current.get()
    return ctx if ctx is not None else CallContext.build("provider", None, {})
