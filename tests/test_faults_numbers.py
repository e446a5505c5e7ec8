"""Bad numbers: every numeric setting, from a call, the environment or the command line.

``timeout``, ``deadline``, ``max_retries``, ``max_line_bytes`` and ``max_reply_bytes`` are
read in one place (``g4f_core.context.setting``) against the ranges their declarations
give (README.md, "Settings"). Infinity, NaN, numbers too large for a socket timeout,
fractions of a count, zero and negatives are each an ``InvalidRequestError`` naming where
the value came from, raised before any connection; on the command line that is one
``error:`` line and exit status 2.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any

import pytest
from promises import Promises, promise_fixture  # noqa: F401
from rawserver import HOLD, RawServer

import g4f_core
from g4f_core.cli import app as cli
from g4f_core.context import CallContext, current
from g4f_core.errors import InvalidRequestError
from g4f_core.options import DAY, GIB
from g4f_core.plugins.registry import Registry

BAD_ENV: list[tuple[str, str]] = [
    ("G4F_CORE_TIMEOUT", "inf"),
    ("G4F_CORE_TIMEOUT", "nan"),
    ("G4F_CORE_TIMEOUT", "1e10"),
    ("G4F_CORE_TIMEOUT", "1e400"),
    ("G4F_CORE_TIMEOUT", "0"),
    ("G4F_CORE_TIMEOUT", "-inf"),
    ("G4F_CORE_DEADLINE", "nan"),
    ("G4F_CORE_DEADLINE", "inf"),
    ("G4F_CORE_DEADLINE", "-5"),
    ("G4F_CORE_MAX_LINE_BYTES", "inf"),
    ("G4F_CORE_MAX_LINE_BYTES", "nan"),
    ("G4F_CORE_MAX_LINE_BYTES", "1.5"),
    ("G4F_CORE_MAX_LINE_BYTES", "0"),
    ("G4F_CORE_MAX_LINE_BYTES", str(1 << 40)),
    ("G4F_CORE_MAX_REPLY_BYTES", "inf"),
    ("G4F_CORE_MAX_REPLY_BYTES", "-1"),
    ("G4F_CORE_MAX_RETRIES", "-1"),
    ("G4F_CORE_MAX_RETRIES", "inf"),
    ("G4F_CORE_MAX_RETRIES", "2.5"),
    ("G4F_CORE_MAX_RETRIES", "1000000"),
]

BAD_CALL: list[tuple[str, object]] = [
    ("timeout", 1e10),
    ("timeout", float("inf")),
    ("timeout", float("nan")),
    ("timeout", -float("inf")),
    ("timeout", DAY + 1),
    ("deadline", float("nan")),
    ("deadline", float("inf")),
    ("deadline", 1e300),
    ("max_line_bytes", float("inf")),
    ("max_line_bytes", 1e20),
    ("max_line_bytes", 1 << 40),
    ("max_line_bytes", 0),
    ("max_reply_bytes", float("nan")),
    ("max_reply_bytes", -5),
    ("max_retries", 10**6),
    ("max_retries", 2.0),
    ("max_retries", float("inf")),
]

BAD_FLAGS: list[tuple[str, str]] = [
    ("--timeout", "inf"),
    ("--timeout", "nan"),
    ("--timeout", "1e10"),
    ("--timeout", "-1"),
    ("--deadline", "nan"),
    ("--deadline", "0"),
    ("--max-retries", "100"),
    ("--max-retries", "-1"),
    ("--max-line-bytes", "inf"),
    ("--max-reply-bytes", "0"),
]


class Tripwire:
    """A live server the calls are pointed at, and every connect the process attempts."""

    def __init__(self, server: RawServer) -> None:
        self.server = server
        self.connects: list[object] = []

    @property
    def opened(self) -> int:
        return self.server.accepted + len(self.connects)


@pytest.fixture
def tripwire(
    monkeypatch: pytest.MonkeyPatch, use_registry: Callable[[Registry], Registry]
) -> Iterator[Tripwire]:
    use_registry(Registry([metadata.distribution("g4f-core")], environ={}))
    with RawServer([[HOLD]], lifetime=10) as server:
        wire = Tripwire(server)
        real = socket.socket.connect

        def connect(self: socket.socket, address: Any) -> None:
            wire.connects.append(address)
            real(self, address)

        monkeypatch.setattr(socket.socket, "connect", connect)
        yield wire


@pytest.mark.parametrize(("variable", "value"), BAD_ENV)
def test_a_bad_number_in_the_environment_is_refused_before_any_io_naming_the_variable(
    tripwire: Tripwire,
    use_registry: Callable[[Registry], Registry],
    variable: str,
    value: str,
    promise: Promises,
) -> None:
    rec = promise("P10").record(f"F34 bad number {variable}={value}", connections=None)
    use_registry(Registry([metadata.distribution("g4f-core")], environ={variable: value}))
    with pytest.raises(InvalidRequestError) as caught:
        g4f_core.stream("hi", provider="H2o", base_url=tripwire.server.url)
    names = variable in str(caught.value)
    rec.update(connections=tripwire.opened, names_field=names, passed=tripwire.opened == 0)
    assert names, str(caught.value)
    assert tripwire.opened == 0


# max_retries is not part of a call's context, so current() does not read it.
@pytest.mark.parametrize(
    ("variable", "value"), [(v, x) for v, x in BAD_ENV if v != "G4F_CORE_MAX_RETRIES"]
)
def test_a_bad_number_in_the_environment_is_refused_by_current_outside_a_call(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidRequestError, match=variable):
        current()


@pytest.mark.parametrize(("name", "value"), BAD_CALL, ids=[f"{n}={v!r}" for n, v in BAD_CALL])
def test_a_bad_number_in_a_call_is_refused_before_any_io_naming_the_option(
    tripwire: Tripwire, name: str, value: object, promise: Promises
) -> None:
    rec = promise("P10").record(f"F34 bad number {name}={value!r}", connections=None)
    with pytest.raises(InvalidRequestError) as caught:
        g4f_core.stream("hi", provider="H2o", base_url=tripwire.server.url, **{name: value})
    names = f"'{name}'" in str(caught.value)
    rec.update(connections=tripwire.opened, names_field=names, passed=tripwire.opened == 0)
    assert names, str(caught.value)
    assert tripwire.opened == 0


@pytest.mark.parametrize(("flag", "value"), BAD_FLAGS)
def test_a_bad_number_on_the_command_line_is_one_error_line_and_exit_2(
    tripwire: Tripwire, flag: str, value: str, promise: Promises
) -> None:
    rec = promise("P10").record(f"F34 bad number {flag} {value}", connections=None)
    out, err = io.StringIO(), io.StringIO()
    argv = ["chat", "-p", "H2o", "--base-url", tripwire.server.url, f"{flag}={value}", "Hi"]
    code = cli.main(argv, registry=g4f_core.default_registry(), stdout=out, stderr=err)
    message = err.getvalue()
    rec.update(connections=tripwire.opened, names_field=flag in message, passed=code == 2)
    assert code == 2
    assert out.getvalue() == ""
    assert message.startswith("error: ") and message.count("\n") == 1, message
    assert flag in message
    assert tripwire.opened == 0


def test_a_bad_number_in_the_environment_is_exit_2_on_the_command_line(
    tripwire: Tripwire, use_registry: Callable[[Registry], Registry]
) -> None:
    registry = Registry([metadata.distribution("g4f-core")], environ={"G4F_CORE_TIMEOUT": "inf"})
    out, err = io.StringIO(), io.StringIO()
    argv = ["chat", "-p", "H2o", "--base-url", tripwire.server.url, "Hi"]
    assert cli.main(argv, registry=registry, stdout=out, stderr=err) == 2
    assert err.getvalue().startswith("error: G4F_CORE_TIMEOUT")
    assert tripwire.opened == 0


def test_the_documented_range_ends_are_accepted() -> None:
    top = {
        "timeout": DAY,
        "deadline": DAY,
        "max_line_bytes": GIB,
        "max_reply_bytes": GIB,
    }
    ctx = CallContext.build("X", "http://localhost:1", top, {})
    assert (ctx.timeout, ctx.max_line_bytes, ctx.max_reply_bytes) == (DAY, GIB, GIB)
    env = {
        "G4F_CORE_TIMEOUT": "0.001",
        "G4F_CORE_MAX_LINE_BYTES": "1",
        "G4F_CORE_MAX_RETRIES": "20",
    }
    ctx = CallContext.build("X", "http://localhost:1", {}, env)
    assert (ctx.timeout, ctx.max_line_bytes) == (0.001, 1)
    from g4f_core.context import max_retries

    assert max_retries({}, env) == 20
    assert max_retries({"max_retries": 0}, env) == 0
