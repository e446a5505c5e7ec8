"""complete(), stream() and ChatCompletion.create() over providers installed by the tests.

Providers that talk HTTP talk to a scripted loopback server: with ``requests``
directly (as gpt4free's providers did) or with ``g4f_core.transport.client.Client``.
"""

from __future__ import annotations

import gc
import json
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from plugin_kit import provider_source
from scripted_server import Reply, ScriptedServer, closed_port

import g4f_core
from g4f_core import (
    AllProvidersFailedError,
    AuthRequiredError,
    ChatCompletion,
    InvalidRequestError,
    ModelNotSupportedError,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderNotFoundError,
    ProviderNotWorkingError,
    ProviderResponseError,
    ProviderTimeoutError,
    RateLimitError,
    Registry,
    StreamNotSupportedError,
)
from g4f_core import calls as calls_module

CANARY = "canary-91c2-private-prompt"
Install = Callable[..., Registry]
Serve = Callable[..., ScriptedServer]


def module(name: str) -> Any:
    """The module object of an installed provider, to script it or read what it recorded."""
    return g4f_core.get_provider(name).module


def direct(url: str, **declared: Any) -> str:
    """A provider posting to ``url`` with plain ``requests``, as gpt4free's providers did."""
    return provider_source(
        url=url,
        header="import requests\nfrom g4f_core.context import current\ncalls = []",
        body="""
            calls.append(model)
            ctx = current()
            body = {"model": model, "messages": messages, "options": kwargs}
            response = requests.post(ctx.base_url + "/chat", json=body, timeout=ctx.timeout)
            with response:
                response.raise_for_status()
                yield response.text
        """,
        **declared,
    )


def sse(url: str, **declared: Any) -> str:
    """A provider streaming server-sent events through g4f_core.transport.client.Client."""
    return provider_source(
        url=url,
        header="from g4f_core.context import current\nfrom g4f_core.transport.client import Client",
        body="""
            with Client(current()) as client:
                response = client.request("POST", "/chat", stream=True, json={"model": model})
                yield from client.events(response)
        """,
        **declared,
    )


#: A provider without I/O whose behaviour the test scripts through module globals:
#: ``failures`` are raised by successive calls before any text, ``chunks`` are yielded,
#: ``after_first`` is raised after the first chunk; ``calls`` and ``closed`` record.
SCRIPTED = provider_source(
    models=["shared", "own"],
    header="""
        calls = []
        closed = []
        failures = []
        chunks = ["one ", "two"]
        after_first = None
        received = []
    """,
    body="""
        calls.append(model)
        received.append(kwargs)
        try:
            if failures:
                raise failures.pop(0)
            for chunk in chunks:
                yield chunk
                if after_first is not None:
                    raise after_first
        finally:
            closed.append(True)
    """,
)


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record retry back-off sleeps instead of sleeping them."""
    sleeps: list[float] = []

    def backoff(abort: object, seconds: float) -> bool:
        sleeps.append(seconds)
        return False  # not closed meanwhile

    monkeypatch.setattr(calls_module, "_backoff", backoff)
    return sleeps


# -- the three entry points ------------------------------------------------------------------


@pytest.fixture
def chat_server(serve: Serve, install: Install) -> ScriptedServer:
    server = serve(Reply.text("Hello there"))
    install(Direct=direct(server.url, models=["falcon-40b", "falcon-7b"]))
    return server


def sent(server: ScriptedServer, index: int = -1) -> Any:
    return json.loads(server.requests[index].body)


def test_complete_returns_the_reply_as_one_string(chat_server: ScriptedServer) -> None:
    messages = [{"role": "user", "content": "Hi"}]
    assert g4f_core.complete(messages, provider="Direct", model="falcon-7b") == "Hello there"
    assert sent(chat_server) == {"model": "falcon-7b", "messages": messages, "options": {}}


def test_a_bare_string_is_sent_as_one_user_message(chat_server: ScriptedServer) -> None:
    g4f_core.complete("Hi", provider="Direct")
    assert sent(chat_server)["messages"] == [{"role": "user", "content": "Hi"}]


def test_without_a_model_the_providers_first_model_is_used(chat_server: ScriptedServer) -> None:
    g4f_core.complete("Hi", provider="direct")
    assert sent(chat_server)["model"] == "falcon-40b"


def test_provider_may_be_given_as_a_provider_info(chat_server: ScriptedServer) -> None:
    info = g4f_core.get_provider("Direct")
    assert g4f_core.complete("Hi", provider=info) == "Hello there"


def test_provider_may_be_given_by_qualified_name(chat_server: ScriptedServer) -> None:
    assert g4f_core.complete("Hi", provider="direct-dist:Direct") == "Hello there"


def test_stream_yields_the_chunks(chat_server: ScriptedServer) -> None:
    assert list(g4f_core.stream("Hi", provider="Direct")) == ["Hello there"]


def test_a_stream_is_its_own_iterator_and_for_and_next_share_one_position(
    install: Install,
) -> None:
    install(Scripted=SCRIPTED)
    module("Scripted").chunks = ["a", "b", "c", "d"]
    with g4f_core.stream("Hi", provider="Scripted") as stream:
        assert iter(stream) is stream
        assert next(stream) == "a"
        seen = []
        for chunk in stream:  # the loop continues where next() left off
            seen.append(chunk)
            if chunk == "c":
                break
        assert seen == ["b", "c"]
        assert list(stream) == ["d"]
        assert stream.text == "abcd"


def test_chat_completion_create_returns_a_str(chat_server: ScriptedServer) -> None:
    reply = ChatCompletion.create(
        model="falcon-7b", messages=[{"role": "user", "content": "Hi"}], provider="Direct"
    )
    assert reply == "Hello there"


def test_chat_completion_create_with_stream_returns_an_iterator_of_str(
    chat_server: ScriptedServer,
) -> None:
    chunks = ChatCompletion.create("falcon-7b", "Hi", provider="Direct", stream=True)
    assert not isinstance(chunks, str)
    assert list(chunks) == ["Hello there"]


def test_chat_completion_create_accepts_the_provider_module(chat_server: ScriptedServer) -> None:
    reply = ChatCompletion.create("falcon-7b", "Hi", provider=module("Direct"))
    assert reply == "Hello there"


def test_an_installed_provider_module_is_resolved_to_its_registry_entry(
    chat_server: ScriptedServer,
) -> None:
    chunks = ChatCompletion.create("falcon-7b", "Hi", provider=module("Direct"), stream=True)
    assert isinstance(chunks, g4f_core.ChatStream)
    assert list(chunks) == ["Hello there"]
    assert chunks.provider == "direct-dist:Direct"  # with its distribution, as installed


def test_chat_completion_create_accepts_a_module_that_is_not_installed() -> None:
    loose = types.ModuleType("loose_provider")
    loose.models = ["m"]  # type: ignore[attr-defined]
    loose.supports_stream = True  # type: ignore[attr-defined]
    loose.needs_auth = False  # type: ignore[attr-defined]
    loose._create_completion = lambda model, messages, stream, **kw: iter(["loose"])  # type: ignore[attr-defined]
    assert ChatCompletion.create("m", "Hi", provider=loose) == "loose"


def test_chat_completion_create_refuses_an_object_that_is_not_a_provider() -> None:
    with pytest.raises(InvalidRequestError, match="not a valid provider"):
        ChatCompletion.create("m", "Hi", provider=types.SimpleNamespace(models=["m"]))


def test_chat_completion_create_ignores_gpt4frees_auth_false(install: Install) -> None:
    install(Echo=SCRIPTED)
    assert ChatCompletion.create("own", "Hi", provider="Echo", auth=False) == "one two"


# -- every check happens before any I/O --------------------------------------------------------


@pytest.fixture
def guarded(serve: Serve, install: Install) -> ScriptedServer:
    """Providers of every capability, all pointing at one server that must stay untouched."""
    server = serve(Reply.text("should not be reached"))
    install(
        Direct=direct(
            server.url, models=["falcon-40b", "falcon-7b"], options="{'temperature': 0.5}"
        ),
        Batch=direct(server.url, supports_stream=False),
        Keyed=direct(server.url, needs_auth=True),
        Broken=direct(server.url, working=False),
    )
    return server


GOOD = [{"role": "user", "content": "Hi"}]
REFUSED: dict[str, tuple[str, dict[str, Any], type[Exception], str]] = {
    "empty messages": ("complete", {"messages": []}, InvalidRequestError, "at least one"),
    "messages not a list": ("complete", {"messages": 42}, InvalidRequestError, "must be a list"),
    "message not a dict": (
        "complete",
        {"messages": [*GOOD, CANARY]},
        InvalidRequestError,
        "messages[1] must be a dict",
    ),
    "missing role": (
        "complete",
        {"messages": [{"content": CANARY}]},
        InvalidRequestError,
        "messages[0] has no 'role'",
    ),
    "missing content": (
        "complete",
        {"messages": [{"role": "user"}]},
        InvalidRequestError,
        "messages[0] has no 'content'",
    ),
    "bad role": (
        "complete",
        {"messages": [{"role": "robot", "content": CANARY}]},
        InvalidRequestError,
        "messages[0].role",
    ),
    "content not a str": (
        "stream",
        {"messages": [{"role": "user", "content": [CANARY]}]},
        InvalidRequestError,
        "messages[0].content must be a str",
    ),
    "unknown model": (
        "complete",
        {"model": "falcon-40"},
        ModelNotSupportedError,
        "does not serve model 'falcon-40'; did you mean 'falcon-40b'? "
        "(served: falcon-40b, falcon-7b)",
    ),
    "streaming a provider that cannot": (
        "stream",
        {"provider": "Batch"},
        StreamNotSupportedError,
        "'Batch' cannot stream",
    ),
    "no credential": ("complete", {"provider": "Keyed"}, AuthRequiredError, "G4F_CORE_KEYED_AUTH"),
    "not working": ("complete", {"provider": "Broken"}, ProviderNotWorkingError, "not working"),
    "undeclared option": (
        "complete",
        {"temprature": 0.2},
        InvalidRequestError,
        "did you mean 'temperature'?",
    ),
    "option of the wrong type": (
        "complete",
        {"temperature": "hot"},
        InvalidRequestError,
        "option 'temperature' must be a finite float, not str",
    ),
    "framework option of the wrong type": (
        "stream",
        {"timeout": "soon"},
        InvalidRequestError,
        "option 'timeout'",
    ),
    "negative max_retries": (
        "complete",
        {"max_retries": -1},
        InvalidRequestError,
        "max_retries",
    ),
    "base_url not http": (
        "complete",
        {"base_url": "ftp://example"},
        InvalidRequestError,
        "must start with http",
    ),
    "unknown provider": ("complete", {"provider": "Nope"}, ProviderNotFoundError, "'Nope'"),
}


@pytest.mark.parametrize(
    ("call", "given", "error", "fragment"), REFUSED.values(), ids=REFUSED.keys()
)
def test_bad_request_is_refused_before_any_connection(
    guarded: ScriptedServer,
    call: str,
    given: dict[str, Any],
    error: type[Exception],
    fragment: str,
) -> None:
    kwargs: dict[str, Any] = {"messages": GOOD, "provider": "Direct", **given}
    with pytest.raises(error) as caught:
        getattr(g4f_core, call)(kwargs.pop("messages"), **kwargs)
    assert fragment in str(caught.value)
    assert CANARY not in str(caught.value)
    assert guarded.connections == 0
    assert module("Direct").calls == []


def test_a_provider_that_cannot_stream_still_completes(guarded: ScriptedServer) -> None:
    assert g4f_core.complete("Hi", provider="Batch") == "should not be reached"
    assert guarded.connections == 1


def test_a_provider_needing_auth_works_with_auth(guarded: ScriptedServer) -> None:
    assert g4f_core.complete("Hi", provider="Keyed", auth="key-1") == "should not be reached"


def test_chat_completion_create_passes_auth(guarded: ScriptedServer) -> None:
    assert ChatCompletion.create(None, "Hi", provider="Keyed", auth="key-1") == (
        "should not be reached"
    )


def test_provider_reads_its_credential_from_the_call_context(install: Install) -> None:
    install(
        Keyed=provider_source(
            needs_auth=True,
            header="from g4f_core.context import current",
            body="yield 'authorized' if current().auth == 'key-1' else 'anonymous'",
        )
    )
    assert g4f_core.complete("Hi", provider="Keyed", auth="key-1") == "authorized"


def test_a_credential_from_the_environment_satisfies_needs_auth(install: Install) -> None:
    install({"G4F_CORE_KEYED_AUTH": "key-1"}, Keyed=provider_source(needs_auth=True))
    assert g4f_core.complete("Hi", provider="Keyed") == "ok"


def test_declared_options_reach_the_provider_checked(guarded: ScriptedServer) -> None:
    g4f_core.complete("Hi", provider="Direct", temperature=1)
    assert sent(guarded)["options"] == {"temperature": 1.0}


def test_undeclared_options_reach_a_kwargs_provider_unchanged(install: Install) -> None:
    install(Echo=SCRIPTED)
    value = object()
    g4f_core.complete("Hi", provider="Echo", anything=value, top_k=3, timeout=5)
    [kwargs] = module("Echo").received
    assert kwargs == {"anything": value, "top_k": 3}  # framework options stay with the core
    assert kwargs["anything"] is value


# -- requests errors raised inside providers --------------------------------------------------


def test_connection_refused_becomes_provider_connection_error(install: Install) -> None:
    install(Direct=direct(f"http://127.0.0.1:{closed_port()}"))
    with pytest.raises(ProviderConnectionError, match="refused") as caught:
        g4f_core.complete("Hi", provider="Direct", max_retries=0)
    assert caught.value.provider == "Direct"
    assert caught.value.partial_text == ""


def test_read_timeout_becomes_provider_timeout_error(serve: Serve, install: Install) -> None:
    server = serve(Reply.text("late", delay=5.0))  # stopping the server cuts the delay short
    install(Direct=direct(server.url))
    started = time.monotonic()
    with pytest.raises(ProviderTimeoutError) as caught:
        g4f_core.complete("Hi", provider="Direct", timeout=0.2, max_retries=0)
    assert caught.value.provider == "Direct"
    assert time.monotonic() - started < 4.0  # the timeout fired, not the server's reply


def test_http_error_status_from_requests_becomes_provider_http_error(
    serve: Serve, install: Install
) -> None:
    server = serve(Reply.text("upstream broke", 500))
    install(Direct=direct(server.url))
    with pytest.raises(ProviderHTTPError) as caught:
        g4f_core.complete("Hi", provider="Direct", max_retries=0)
    assert caught.value.status == 500
    assert caught.value.provider == "Direct"


def test_http_error_status_from_requests_is_a_provider_error(
    serve: Serve, install: Install
) -> None:
    server = serve(Reply.text("upstream broke", 500))
    install(Direct=direct(server.url))
    with pytest.raises(ProviderError) as caught:
        g4f_core.complete("Hi", provider="Direct", max_retries=0)
    assert caught.value.provider == "Direct"


def test_other_exceptions_become_provider_response_errors_without_the_text(
    install: Install,
) -> None:
    install(Oops=provider_source(body="raise ValueError(f'cannot handle {messages}')\nyield ''"))
    with pytest.raises(ProviderResponseError, match="ValueError") as caught:
        g4f_core.complete(CANARY, provider="Oops")
    assert CANARY not in str(caught.value)
    assert CANARY not in str(caught.value.__cause__)  # tracebacks print the cause
    assert "ValueError" in str(caught.value.__cause__)
    assert caught.value.provider == "Oops"


@pytest.mark.parametrize(("value", "shown"), [("1", True), ("yes", True), ("false", False)])
def test_under_debug_the_providers_own_exception_is_the_cause(
    install: Install, monkeypatch: pytest.MonkeyPatch, value: str, shown: bool
) -> None:
    monkeypatch.setenv("G4F_CORE_DEBUG", value)
    install(Oops=provider_source(body="raise ValueError('detail')\nyield ''"))
    with pytest.raises(ProviderResponseError) as caught:
        g4f_core.complete("Hi", provider="Oops")
    assert isinstance(caught.value.__cause__, ValueError) is shown


# -- the transport: g4f_core.transport.client.Client against the loopback server ------------


def test_client_streams_server_sent_events(serve: Serve, install: Install) -> None:
    server = serve(Reply.sse("Hel", "lo", " world"))
    install(Sse=sse(server.url))
    assert list(g4f_core.stream("Hi", provider="Sse")) == ["Hel", "lo", " world"]


def test_client_error_status_becomes_provider_http_error(serve: Serve, install: Install) -> None:
    server = serve(Reply.json({"error": "overloaded"}, 503))
    install(Sse=sse(server.url))
    with pytest.raises(ProviderHTTPError) as caught:
        g4f_core.complete("Hi", provider="Sse", max_retries=0)
    assert caught.value.status == 503
    assert caught.value.provider == "Sse"


def test_client_rate_limit_is_retried_after_the_servers_wish(
    serve: Serve, install: Install, no_backoff: list[float]
) -> None:
    server = serve([Reply.text("slow down", 429, headers={"Retry-After": "0"}), Reply.sse("ok")])
    install(Sse=sse(server.url))
    assert g4f_core.complete("Hi", provider="Sse", max_retries=1) == "ok"
    assert len(server.requests) == 2
    assert no_backoff == [0.0]


def test_base_url_option_redirects_the_provider(serve: Serve, install: Install) -> None:
    server = serve(Reply.sse("from the override"))
    install(Sse=sse("https://unreachable.invalid"))
    assert g4f_core.complete("Hi", provider="Sse", base_url=server.url) == "from the override"


def test_environment_url_overrides_the_declared_url(serve: Serve, install: Install) -> None:
    server = serve(Reply.sse("from the environment"))
    install({"G4F_CORE_SSE_URL": server.url}, Sse=sse("https://unreachable.invalid"))
    assert g4f_core.complete("Hi", provider="Sse") == "from the environment"


def test_environment_timeout_reaches_the_provider(install: Install) -> None:
    install(
        {"G4F_CORE_TIMEOUT": "7.5"},
        Ctx=provider_source(
            header="from g4f_core.context import current", body="yield str(current().timeout)"
        ),
    )
    assert g4f_core.complete("Hi", provider="Ctx") == "7.5"
    assert g4f_core.complete("Hi", provider="Ctx", timeout=2) == "2.0"


def test_the_first_chunk_arrives_while_the_server_still_streams(
    serve: Serve, install: Install
) -> None:
    server = serve(Reply.sse("first", hold=5.0))
    install(Sse=sse(server.url))
    started = time.monotonic()
    with g4f_core.stream("Hi", provider="Sse") as chunks:
        assert next(chunks) == "first"
        assert time.monotonic() - started < 3.0  # not held back until the stream ends


def test_closing_the_stream_hangs_up_the_connection(serve: Serve, install: Install) -> None:
    server = serve(Reply.sse("first", hold=5.0))
    install(Sse=sse(server.url))
    chunks = g4f_core.stream("Hi", provider="Sse")
    assert next(chunks) == "first"
    chunks.close()
    assert server.wait_until(lambda: server.disconnects == 1)


# -- choosing providers by model ----------------------------------------------------------------


@pytest.fixture
def trio(install: Install) -> Registry:
    """Alpha, Bravo and Charlie all serve the model "shared"."""
    return install(Charlie=SCRIPTED, Alpha=SCRIPTED, Bravo=SCRIPTED)


def test_by_model_the_first_working_provider_by_name_answers(trio: Registry) -> None:
    chunks = g4f_core.stream("Hi", model="shared")
    assert "".join(chunks) == "one two"
    assert chunks.provider == "alpha-dist:Alpha"
    assert module("Bravo").calls == []


def test_by_model_skips_providers_that_cannot_take_the_call(install: Install) -> None:
    install(
        Alpha=provider_source(models=["shared"], working=False, body="yield 'alpha'"),
        Bravo=provider_source(models=["shared"], needs_auth=True, body="yield 'bravo'"),
        Charlie=provider_source(models=["shared"], supports_stream=False, body="yield 'charlie'"),
        Delta=provider_source(models=["shared"], body="yield 'delta'"),
    )
    assert "".join(g4f_core.stream("Hi", model="shared")) == "delta"
    assert g4f_core.complete("Hi", model="shared") == "charlie"


def test_by_model_falls_back_on_a_provider_error_before_the_first_chunk(trio: Registry) -> None:
    module("Alpha").failures.append(ProviderConnectionError("down"))
    chunks = g4f_core.stream("Hi", model="shared", max_retries=0)
    assert list(chunks) == ["one ", "two"]
    assert chunks.provider == "bravo-dist:Bravo"
    assert len(module("Alpha").calls) == 1
    assert module("Charlie").calls == []


def test_by_model_never_falls_back_after_the_first_chunk(trio: Registry) -> None:
    module("Alpha").after_first = ProviderConnectionError("lost")
    received: list[str] = []
    with pytest.raises(ProviderConnectionError) as caught:
        for chunk in g4f_core.stream("Hi", model="shared"):
            received.append(chunk)
    assert received == ["one "]
    assert caught.value.partial_text == "one "
    assert caught.value.provider == "Alpha"
    assert len(module("Alpha").calls) == 1  # not retried either
    assert module("Bravo").calls == []
    assert module("Charlie").calls == []


def test_complete_reports_the_partial_text_of_a_failure_after_the_first_chunk(
    trio: Registry,
) -> None:
    module("Alpha").after_first = ProviderConnectionError("lost")
    with pytest.raises(ProviderConnectionError) as caught:
        g4f_core.complete("Hi", model="shared")
    assert caught.value.partial_text == "one "
    assert module("Bravo").calls == []


def test_the_partial_text_of_a_long_stream_is_exactly_what_was_delivered(
    install: Install,
) -> None:
    install(Scripted=SCRIPTED)
    chunks = [f"{i}," for i in range(1300)]  # past two of the blocks delivered text is kept in
    module("Scripted").chunks = [*chunks, "", "x"]
    module("Scripted").after_first = None
    stream = g4f_core.stream("Hi", provider="Scripted")
    received = [next(stream) for _ in range(1300)]
    assert stream.text == "".join(received) == "".join(chunks)
    assert repr(stream).endswith(f"delivered={len(stream.text)} chars>")
    assert list(stream) == ["x"]  # the empty chunk is dropped, not delivered
    assert stream.text == "".join(chunks) + "x"


def test_when_every_provider_fails_each_attempt_is_kept_in_order(trio: Registry) -> None:
    for name in ("Alpha", "Bravo", "Charlie"):
        module(name).failures.append(ProviderResponseError(f"{name} failed"))
    with pytest.raises(AllProvidersFailedError) as caught:
        g4f_core.complete("Hi", model="shared")
    attempts = caught.value.attempts
    assert [a.provider for a in attempts] == [
        "alpha-dist:Alpha",
        "bravo-dist:Bravo",
        "charlie-dist:Charlie",
    ]
    assert [a.error.message for a in attempts] == [
        "Alpha failed",
        "Bravo failed",
        "Charlie failed",
    ]
    assert all(a.error.provider for a in attempts)
    assert caught.value.partial_text == ""


def test_attempts_include_retries_before_falling_back(
    trio: Registry, no_backoff: list[float]
) -> None:
    module("Alpha").failures.extend(ProviderConnectionError(f"down {i}") for i in range(5))
    module("Bravo").failures.extend(ProviderConnectionError(f"down {i}") for i in range(5))
    module("Charlie").failures.extend(ProviderConnectionError(f"down {i}") for i in range(5))
    with pytest.raises(AllProvidersFailedError) as caught:
        g4f_core.complete("Hi", model="shared", max_retries=1)
    assert [a.provider.split(":")[1] for a in caught.value.attempts] == [
        "Alpha",
        "Alpha",
        "Bravo",
        "Bravo",
        "Charlie",
        "Charlie",
    ]


def test_by_model_an_unserved_model_names_a_close_one(trio: Registry) -> None:
    with pytest.raises(ModelNotSupportedError, match="did you mean 'shared'"):
        g4f_core.complete("Hi", model="sharred")


def test_neither_provider_nor_model_is_refused(trio: Registry) -> None:
    with pytest.raises(InvalidRequestError, match="provider= or a model="):
        g4f_core.complete("Hi")


# -- retries -------------------------------------------------------------------------------


@pytest.fixture
def echo(install: Install) -> Any:
    install(Echo=SCRIPTED)
    return module("Echo")


def test_a_retryable_failure_is_retried_until_it_succeeds(
    echo: Any, no_backoff: list[float]
) -> None:
    echo.failures.extend([ProviderConnectionError("a"), ProviderTimeoutError("b")])
    assert g4f_core.complete("Hi", provider="Echo") == "one two"
    assert len(echo.calls) == 3
    assert len(no_backoff) == 2
    assert all(0 < delay <= 8 for delay in no_backoff)


def test_max_retries_bounds_the_attempts(echo: Any, no_backoff: list[float]) -> None:
    echo.failures.extend(ProviderConnectionError(f"down {i}") for i in range(4))
    with pytest.raises(ProviderConnectionError) as caught:
        g4f_core.complete("Hi", provider="Echo", max_retries=2)
    assert len(echo.calls) == 3
    assert len(caught.value.attempts) == 3


def test_max_retries_zero_means_one_attempt(echo: Any, no_backoff: list[float]) -> None:
    echo.failures.append(ProviderConnectionError("down"))
    with pytest.raises(ProviderConnectionError):
        g4f_core.complete("Hi", provider="Echo", max_retries=0)
    assert len(echo.calls) == 1
    assert no_backoff == []


def test_a_failure_that_is_not_retryable_is_not_retried(echo: Any, no_backoff: list[float]) -> None:
    echo.failures.append(ProviderResponseError("malformed"))
    with pytest.raises(ProviderResponseError):
        g4f_core.complete("Hi", provider="Echo")
    assert len(echo.calls) == 1


def test_rate_limit_retry_after_sets_the_wait(echo: Any, no_backoff: list[float]) -> None:
    echo.failures.append(RateLimitError("slow down", retry_after=0.25))
    assert g4f_core.complete("Hi", provider="Echo") == "one two"
    assert no_backoff == [0.25]


def test_a_rate_limit_asking_for_a_long_wait_is_not_retried(
    echo: Any, no_backoff: list[float]
) -> None:
    echo.failures.append(RateLimitError("come back tomorrow", retry_after=86400))
    with pytest.raises(RateLimitError):
        g4f_core.complete("Hi", provider="Echo")
    assert len(echo.calls) == 1
    assert no_backoff == []


def test_the_deadline_bounds_the_whole_call(install: Install) -> None:
    install(
        Slow=provider_source(
            header="import time",
            body="""
                yield "a"
                time.sleep(0.4)
                yield "b"
                yield "c"
            """,
        )
    )
    received: list[str] = []
    with pytest.raises(ProviderTimeoutError) as caught:
        for chunk in g4f_core.stream("Hi", provider="Slow", deadline=0.2):
            received.append(chunk)
    assert caught.value.phase == "deadline"
    assert caught.value.partial_text == "".join(received) == "ab"


# -- closing streams ----------------------------------------------------------------------


def test_close_runs_the_providers_finally(echo: Any) -> None:
    chunks = g4f_core.stream("Hi", provider="Echo")
    assert next(chunks) == "one "
    chunks.close()
    assert echo.closed == [True]


def test_leaving_a_with_block_runs_the_providers_finally(echo: Any) -> None:
    with g4f_core.stream("Hi", provider="Echo") as chunks:
        assert next(chunks) == "one "
    assert echo.closed == [True]


@pytest.fixture
def no_gc() -> Iterator[None]:
    """Closing must not wait for the cycle collector: keep it from running."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


@pytest.mark.usefixtures("no_gc")
def test_breaking_out_of_the_loop_runs_the_providers_finally(echo: Any) -> None:
    for chunk in g4f_core.stream("Hi", provider="Echo"):
        assert chunk == "one "
        break
    assert echo.closed == [True]


@pytest.mark.usefixtures("no_gc")
def test_raising_in_the_loop_runs_the_providers_finally(echo: Any) -> None:
    with pytest.raises(LookupError):
        for _chunk in g4f_core.stream("Hi", provider="Echo"):
            raise LookupError("caller gave up")
    assert echo.closed == [True]


def test_an_abandoned_stream_is_closed_once_collected(echo: Any) -> None:
    for _chunk in g4f_core.stream("Hi", provider="Echo"):
        break
    gc.collect()
    assert echo.closed == [True]


def test_a_stream_closed_before_reading_never_calls_the_provider(echo: Any) -> None:
    g4f_core.stream("Hi", provider="Echo").close()
    assert echo.calls == []


def test_keyboard_interrupt_in_the_provider_passes_through_unchanged(install: Install) -> None:
    install(
        Stop=provider_source(
            header="calls = []",
            body="calls.append(model)\nraise KeyboardInterrupt\nyield ''",
        )
    )
    with pytest.raises(KeyboardInterrupt):
        g4f_core.complete("Hi", provider="Stop")
    assert module("Stop").calls == ["m1"]  # neither retried nor wrapped


# -- what providers yield -------------------------------------------------------------------


def test_a_provider_yielding_something_else_than_str_fails_with_a_response_error(
    install: Install,
) -> None:
    install(Bytes=provider_source(body="yield b'raw bytes'"))
    with pytest.raises(ProviderResponseError, match="yielded bytes instead of str") as caught:
        g4f_core.complete("Hi", provider="Bytes")
    assert caught.value.provider == "Bytes"


def test_a_legacy_provider_returning_a_str_works(install: Install) -> None:
    install(Legacy=provider_source(body="return 'the whole reply'"))
    assert g4f_core.complete("Hi", provider="Legacy") == "the whole reply"
    assert list(g4f_core.stream("Hi", provider="Legacy")) == ["the whole reply"]


def test_a_provider_returning_neither_str_nor_iterator_fails(install: Install) -> None:
    install(Wrong=provider_source(body="return 42"))
    with pytest.raises(ProviderResponseError, match="returned int"):
        g4f_core.complete("Hi", provider="Wrong")


def test_empty_chunks_are_not_delivered(echo: Any) -> None:
    echo.chunks[:] = ["", "a", "", "b"]
    assert list(g4f_core.stream("Hi", provider="Echo")) == ["a", "b"]


def test_the_stream_reports_what_it_delivered_and_who_answered(echo: Any) -> None:
    chunks = g4f_core.stream("Hi", provider="Echo")
    assert list(chunks) == ["one ", "two"]
    assert chunks.text == "one two"
    assert chunks.provider == "echo-dist:Echo"
