"""Bad input F26-F34: refused by ``stream()`` itself, before any connection is opened.

Every case points the provider at a live loopback server and counts both the connections
that server accepted and every ``socket.connect`` the process attempted: both stay at 0.
Messages name the index and the field, never the content.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from plugin_kit import make_dist
from promises import Promises, promise_fixture  # noqa: F401
from rawserver import HOLD, RawServer, raw_provider

import g4f_core
from g4f_core.errors import (
    AuthRequiredError,
    G4FError,
    InvalidRequestError,
    ModelNotSupportedError,
    ProviderNotFoundError,
    StreamNotSupportedError,
)
from g4f_core.plugins.registry import Registry

CANARY = "CONTENT-CANARY-7f3a"


@dataclass
class World:
    """The providers (H2o, Raw needing auth, NoStream, a broken one) and a counting server."""

    server: RawServer
    connects: list[object] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def world(
    site: Path,
    use_registry: Callable[[Registry], Registry],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    make_dist(site, "raw-dist", "1.0", {"Raw": raw_provider(needs_auth=True)})
    make_dist(site, "nostream-dist", "1.0", {"NoStream": raw_provider(supports_stream=False)})
    make_dist(site, "broken-dist", "1.0", {"Broken": "raise RuntimeError('no config file')\n"})
    dists = [metadata.distribution("g4f-core"), *metadata.distributions(path=[str(site)])]
    use_registry(Registry(dists, environ={}))
    with RawServer([[HOLD]], lifetime=5) as server:
        state = World(server)
        real = socket.socket.connect

        def connect(self: socket.socket, address: Any) -> None:
            state.connects.append(address)
            real(self, address)

        monkeypatch.setattr(socket.socket, "connect", connect)
        yield state


@dataclass(frozen=True)
class Case:
    row: str
    call: dict[str, Any]
    error: type[G4FError]
    says: tuple[str, ...] = ()


def user(content: object) -> dict[str, object]:
    return {"role": "user", "content": content}


def case(row: str, error: type[G4FError], *says: str, **call: Any) -> Case:
    return Case(row, call, error, says)


GOOD = user(CANARY)
Bad = InvalidRequestError
CASES: dict[str, Case] = {
    # F26 no messages
    "empty-list": case("F26", Bad, "at least one message", messages=[]),
    "empty-tuple": case("F26", Bad, "at least one message", messages=()),
    "none": case("F26", Bad, "NoneType", messages=None),
    "a-number": case("F26", Bad, "int", messages=5),
    "a-dict": case("F26", Bad, "dict", messages=GOOD),
    # F27 a message without role or content
    "no-content": case("F27", Bad, "messages[0]", "'content'", messages=[{"role": "user"}]),
    "no-role": case("F27", Bad, "messages[0]", "'role'", messages=[{"content": CANARY}]),
    "empty-message": case("F27", Bad, "messages[0]", "'role'", messages=[{}]),
    "a-bare-string": case("F27", Bad, "messages[1]", "str", messages=[GOOD, CANARY]),
    "later-index": case("F27", Bad, "messages[2]", messages=[GOOD, GOOD, {"role": "user"}]),
    # F28 content that is not a str
    "content-int": case("F28", Bad, "messages[0].content", "int", messages=[user(5)]),
    "content-none": case("F28", Bad, "messages[0].content", "NoneType", messages=[user(None)]),
    "content-dict": case("F28", Bad, "messages[0].content", "dict", messages=[user({"a": 1})]),
    "content-bytes": case("F28", Bad, "messages[0].content", "bytes", messages=[user(b"x")]),
    "content-lone-surrogate": case(
        "F28", Bad, "messages[0].content", "lone surrogate", messages=[user("ok \ud800")]
    ),
    "content-escaped-bytes": case(
        "F28", Bad, "messages[1].content", "lone surrogate", messages=[GOOD, user("\udcff\udcfe")]
    ),
    "content-parts": case(
        "F28", Bad, "messages[0].content", "list", messages=[user([{"type": "text", "text": "x"}])]
    ),
    # F29 unknown roles
    "role-robot": case(
        "F29", Bad, "messages[0].role", "'user'", messages=[{"role": "robot", "content": CANARY}]
    ),
    "role-upper": case(
        "F29", Bad, "messages[0].role", messages=[{"role": "USER", "content": CANARY}]
    ),
    "role-empty": case("F29", Bad, "messages[0].role", messages=[{"role": "", "content": CANARY}]),
    "role-long": case(
        "F29", Bad, "messages[0].role", messages=[{"role": CANARY * 3, "content": CANARY}]
    ),
    # F30 unknown model
    "model-typo": case("F30", ModelNotSupportedError, "falcon-40b", model="falcon-4b"),
    "model-nobody-serves": case(
        "F30", ModelNotSupportedError, "gtp-4", "g4f-core models", provider=None, model="gtp-4"
    ),
    # F31 unknown provider
    "provider-typo": case("F31", ProviderNotFoundError, "did you mean 'H2o'", provider="H20"),
    "provider-unknown": case("F31", ProviderNotFoundError, "available", provider="HuggingChat"),
    "provider-broken": case(
        "F31", ProviderNotFoundError, "failed to load", "no config file", provider="Broken"
    ),
    # F32 streaming asked of a provider that cannot stream
    "no-stream": case("F32", StreamNotSupportedError, "cannot stream", provider="NoStream"),
    # F33 a credential is needed
    "auth-missing": case("F33", AuthRequiredError, "G4F_CORE_RAW_AUTH", provider="Raw"),
    "auth-empty": case("F33", AuthRequiredError, "G4F_CORE_RAW_AUTH", provider="Raw", auth=""),
    # F34 options the provider does not accept, or of the wrong type
    "option-typo": case("F34", Bad, "'temprature'", "'temperature'", temprature=0.2),
    "option-type": case("F34", Bad, "'max_new_tokens'", "int", max_new_tokens="ten"),
    "option-verify": case("F34", Bad, "'verify'", verify=False),
    "timeout-negative": case("F34", Bad, "'timeout'", timeout=-1),
    "timeout-text": case("F34", Bad, "'timeout'", timeout="5"),
    "deadline-zero": case("F34", Bad, "'deadline'", deadline=0),
    "retries-negative": case("F34", Bad, "'max_retries'", max_retries=-1),
    "retries-bool": case("F34", Bad, "'max_retries'", max_retries=True),
    "base-url-scheme": case("F34", Bad, "http://", base_url="ftp://127.0.0.1/"),
    "auth-lone-surrogate": case("F34", Bad, "'auth'", "lone surrogate", auth="key\udc80"),
}


def start_call(world: World, bad: Case) -> object:
    call = dict(bad.call)
    messages = call.pop("messages", [GOOD])
    call.setdefault("provider", "H2o")
    call.setdefault("base_url", world.url)
    return g4f_core.stream(messages, **call)


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_refused_before_any_connection_naming_what_is_wrong(
    world: World, name: str, promise: Promises
) -> None:
    bad = CASES[name]
    rec = promise("P10").record(f"{bad.row} {name}", connections=None, names_field=False)
    with pytest.raises(bad.error) as caught:
        start_call(world, bad)  # refused by stream() itself, before any iteration
    message = str(caught.value)
    opened = world.server.accepted + len(world.connects)
    names = all(part in message for part in bad.says)
    rec.update(connections=opened, names_field=names, passed=opened == 0 and names)
    assert opened == 0
    for part in bad.says:
        assert part in message
    assert CANARY not in message
    assert CANARY not in repr(caught.value)


def test_a_bare_string_is_one_user_message_not_an_error(world: World) -> None:
    stream = g4f_core.stream("just a prompt", provider="H2o", base_url=world.url)
    stream.close()
    assert world.connects == []


def test_a_provider_name_with_stray_space_and_case_still_resolves(world: World) -> None:
    stream = g4f_core.stream([GOOD], provider="  h2O ", base_url=world.url)
    assert stream.provider is None  # nothing ran yet
    stream.close()
    assert world.connects == []


def test_an_empty_credential_in_the_environment_counts_as_missing(
    site: Path, use_registry: Callable[[Registry], Registry], promise: Promises
) -> None:
    make_dist(site, "raw-dist", "1.0", {"Raw": raw_provider(needs_auth=True)})
    use_registry(Registry.from_path([str(site)], environ={"G4F_CORE_RAW_AUTH": ""}))
    with RawServer([[HOLD]], lifetime=5) as server:
        with pytest.raises(AuthRequiredError, match="G4F_CORE_RAW_AUTH"):
            g4f_core.stream([GOOD], provider="Raw", base_url=server.url)
        opened = server.accepted
    promise("P10").record("F33 empty credential in the environment", connections=opened)
    assert opened == 0


@pytest.mark.parametrize(
    ("variable", "value"),
    [("G4F_CORE_TIMEOUT", "soon"), ("G4F_CORE_TIMEOUT", "-3"), ("G4F_CORE_MAX_RETRIES", "many")],
)
def test_a_bad_limit_in_the_environment_is_refused_before_any_connection(
    use_registry: Callable[[Registry], Registry], variable: str, value: str, promise: Promises
) -> None:
    use_registry(Registry([metadata.distribution("g4f-core")], environ={variable: value}))
    with RawServer([[HOLD]], lifetime=5) as server:
        with pytest.raises(InvalidRequestError, match=variable):
            g4f_core.stream([GOOD], provider="H2o", base_url=server.url)
        opened = server.accepted
    promise("P10").record(f"F34 {variable}={value!r}", connections=opened, passed=opened == 0)
    assert opened == 0


def test_complete_and_chat_completion_refuse_bad_input_the_same_way(world: World) -> None:
    with pytest.raises(InvalidRequestError, match=r"messages\[0\]"):
        g4f_core.complete([{"role": "user"}], provider="H2o", base_url=world.url)
    with pytest.raises(InvalidRequestError, match=r"messages\[0\]"):
        g4f_core.ChatCompletion.create("falcon-7b", [{"role": "user"}], provider="H2o")
    assert world.server.accepted == 0
    assert world.connects == []


def test_the_size_limits_come_from_the_environment_when_the_call_sets_none() -> None:
    from g4f_core.context import CallContext

    env = {"G4F_CORE_MAX_LINE_BYTES": "10", "G4F_CORE_MAX_REPLY_BYTES": "20"}
    ctx = CallContext.build("X", "http://localhost:1", {}, env)
    assert (ctx.max_line_bytes, ctx.max_reply_bytes) == (10, 20)
    ctx = CallContext.build("X", "http://localhost:1", {"max_line_bytes": 5}, env)
    assert ctx.max_line_bytes == 5
