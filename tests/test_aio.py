"""acomplete, astream and ChatCompletion.create_async against the sync API they mirror.

The async API runs the sync ChatStream on worker threads, so every outcome must be the
sync API's: the same chunks, the same typed errors with the same ``partial_text`` and
``attempts``, the same fallbacks, retries, deadline and timeout, the same observer
events, and every bad request refused before any I/O (and before any await).
Against the H2o emulator, scripted servers and throwaway providers.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable
from typing import Any

import pytest
from aio_kit import (  # noqa: F401 - fresh_workers is a fixture
    Seen,
    async_complete,
    async_stream,
    fresh_workers,
    h2o_registry,
    observed_registry,
    run,
    sync_complete,
    sync_stream,
)
from plugin_kit import provider_source
from scripted_server import Reply, ScriptedServer
from test_calls import GOOD, REFUSED, SCRIPTED, direct, module

import g4f_core
from g4f_core import hookimpl
from g4f_core.errors import (
    InvalidRequestError,
    ProviderConnectionError,
    ProviderResponseError,
    ProviderTimeoutError,
)
from g4f_core.plugins.registry import Registry
from g4f_core_providers.h2o.server import H2oEmulator

pytestmark = pytest.mark.usefixtures("fresh_workers")
Install = Callable[..., Registry]


@pytest.fixture
def emulator(use_registry: Callable[[Registry], Registry]) -> Any:
    use_registry(h2o_registry())
    with H2oEmulator() as emu:
        yield emu


def both(setup: Callable[[], None], **call: Any) -> tuple[Seen, Seen]:
    """The same call made with stream() and astream(); ``setup`` runs before each."""
    setup()
    want = sync_stream(**call)
    setup()
    got = run(async_stream(**call))
    return want, got


def both_complete(setup: Callable[[], None], **call: Any) -> tuple[Seen, Seen]:
    setup()
    want = sync_complete(**call)
    setup()
    got = run(async_complete(**call))
    return want, got


def nothing() -> None:
    pass


# -- text ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"model": "llama-13b", "temperature": 0.7},
        {"max_new_tokens": 3},
        {"messages": [{"role": "system", "content": "Be brief."}, *GOOD]},
    ],
    ids=["default", "model and option", "cut by max_new_tokens", "system message"],
)
def test_astream_yields_exactly_the_chunks_of_stream(emulator: Any, options: Any) -> None:
    call = {"messages": "Hello there", "provider": "H2o", "base_url": emulator.url, **options}
    want, got = both(nothing, **call)
    assert want.error is None and got.chunks
    assert got == want  # chunks, .text and .provider alike


def test_acomplete_returns_exactly_what_complete_returns(emulator: Any) -> None:
    want, got = both_complete(nothing, messages="Hello", provider="H2o", base_url=emulator.url)
    assert want.error is None and got.chunks[0]
    assert got == want


def test_create_async_mirrors_create_with_and_without_streaming(emulator: Any) -> None:
    call = {"model": "falcon-7b", "messages": GOOD, "provider": "H2o", "base_url": emulator.url}

    async def both_ways() -> tuple[object, list[str]]:
        text = await g4f_core.ChatCompletion.create_async(**call)
        chunks = await g4f_core.ChatCompletion.create_async(**call, stream=True)
        assert isinstance(chunks, g4f_core.AsyncChatStream)
        async with chunks:
            return text, [chunk async for chunk in chunks]

    text, chunks = run(both_ways())
    assert text == g4f_core.ChatCompletion.create(**call)
    assert chunks == list(g4f_core.ChatCompletion.create(**call, stream=True))  # type: ignore[arg-type]


def test_astream_reports_what_it_delivered_and_who_answers(emulator: Any) -> None:
    async def read_two() -> tuple[str | None, str, list[str], str, str]:
        chunks = g4f_core.astream("Hello", provider="h2o", base_url=emulator.url)
        assert (chunks.provider, chunks.text) == (None, "")  # nothing asked for yet
        async with chunks:
            first = [await chunks.__anext__(), await chunks.__anext__()]
            text_then = chunks.text
            rest = [chunk async for chunk in chunks]
        return chunks.provider, text_then, first, "".join(first + rest), chunks.text

    provider, text_then, first, whole, text = run(read_two())
    assert provider == "g4f-core:H2o"
    assert text_then == "".join(first)  # what was received, not what the worker buffered
    assert text == whole


# -- errors, retries, fallback, limits -----------------------------------------------------


@pytest.mark.parametrize(
    ("faults", "options"),
    [
        ({"generation_error": "boom"}, {"max_retries": 0}),
        ({"overloaded": True}, {"max_retries": 1}),
        ({"drop_after": 2}, {"max_retries": 2}),
        ({"stall_after": 2, "stall_seconds": 3.0}, {"timeout": 0.3}),
        ({"fail_generation": [(503, "text/plain", b"busy")] * 1}, {"max_retries": 1}),
    ],
    ids=["error event", "overloaded, retried", "dropped mid-stream", "idle timeout", "503 once"],
)
def test_astream_fails_and_retries_exactly_as_stream_does(
    emulator: Any, faults: dict[str, Any], options: dict[str, Any]
) -> None:
    def setup() -> None:
        emulator.reset()
        for name, value in faults.items():
            setattr(emulator.faults, name, list(value) if isinstance(value, list) else value)

    call = {"messages": "Hello", "provider": "H2o", "base_url": emulator.url, **options}
    want, got = both(setup, **call)
    assert got == want
    want, got = both_complete(setup, **call)
    assert got == want


def test_the_outcomes_compared_really_are_failures_and_retries(emulator: Any) -> None:
    """Guards the test above: equal outcomes must not mean equally empty ones."""
    emulator.faults.drop_after = 2
    seen = run(async_stream(messages="Hello", provider="H2o", base_url=emulator.url))
    assert seen.error is not None and seen.error[0] == "ProviderConnectionError"
    assert seen.error[2] == "".join(seen.chunks) and len(seen.chunks) == 2
    emulator.reset()
    emulator.faults.fail_generation = [(503, "text/plain", b"busy")]
    seen = run(async_stream(messages="Hello", provider="H2o", base_url=emulator.url))
    generations = [r for r in emulator.requests if r.method == "POST" and r.path.count("/") == 2]
    assert seen.error is None and len(generations) == 2


@pytest.fixture
def trio(install: Install, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """Alpha, Bravo and Charlie all serve the model "shared"; retries do not sleep."""
    from g4f_core import calls

    monkeypatch.setattr(calls, "_backoff", lambda abort, seconds: False)
    return install(Charlie=SCRIPTED, Alpha=SCRIPTED, Bravo=SCRIPTED)


def script(**names: dict[str, Any]) -> Callable[[], None]:
    """Reset the SCRIPTED providers, then give each the given module globals."""

    def setup() -> None:
        for name in ("Alpha", "Bravo", "Charlie"):
            mod = module(name)
            mod.failures[:] = []
            mod.after_first = None
            for key, value in names.get(name, {}).items():
                setattr(mod, key, list(value) if isinstance(value, list) else value)

    return setup


FALLBACKS = {
    "falls back before the first chunk": script(
        Alpha={"failures": [ProviderConnectionError("down")]}
    ),
    "never after it": script(Alpha={"after_first": ProviderConnectionError("lost")}),
    "retries, then falls back": script(
        Alpha={"failures": [ProviderConnectionError("a1"), ProviderConnectionError("a2")]},
        Bravo={"failures": [ProviderConnectionError("b1")]},
    ),
    "every provider fails": script(
        Alpha={"failures": [ProviderResponseError("no")]},
        Bravo={"failures": [ProviderResponseError("nor")]},
        Charlie={"failures": [ProviderResponseError("neither")]},
    ),
}


@pytest.mark.parametrize("setup", FALLBACKS.values(), ids=FALLBACKS.keys())
def test_by_model_astream_falls_back_exactly_as_stream_does(
    trio: Registry, setup: Callable[[], None]
) -> None:
    want, got = both(setup, messages="Hi", model="shared", max_retries=1)
    assert got == want
    want, got = both_complete(setup, messages="Hi", model="shared", max_retries=1)
    assert got == want


def test_the_fallbacks_compared_really_happened(trio: Registry) -> None:
    FALLBACKS["retries, then falls back"]()
    seen = run(async_stream(messages="Hi", model="shared", max_retries=1))
    assert seen.provider == "bravo-dist:Bravo" and seen.chunks == ["one ", "two"]
    assert (len(module("Alpha").calls), len(module("Bravo").calls)) == (2, 2)
    FALLBACKS["every provider fails"]()
    seen = run(async_stream(messages="Hi", model="shared", max_retries=1))
    assert seen.error is not None and seen.error[0] == "AllProvidersFailedError"
    assert [a[0].split(":")[1] for a in seen.attempts] == ["Alpha", "Bravo", "Charlie"]


def test_the_deadline_bounds_the_whole_async_call(install: Install) -> None:
    slow = provider_source(
        header="import time",
        body="""
            yield "a"
            time.sleep(0.4)
            yield "b"
            yield "c"
        """,
    )
    install(Slow=slow)
    want, got = both(nothing, messages="Hi", provider="Slow", deadline=0.2)
    assert got == want
    assert got.error is not None and got.error[0] == "ProviderTimeoutError"
    assert got.error[2] == "ab"


# -- checks before any I/O -----------------------------------------------------------------


@pytest.fixture
def guarded(serve: Callable[..., ScriptedServer], install: Install) -> ScriptedServer:
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


@pytest.mark.parametrize(
    ("call", "given", "error", "fragment"), REFUSED.values(), ids=REFUSED.keys()
)
def test_a_bad_request_is_refused_by_the_async_calls_before_any_await_or_connection(
    guarded: ScriptedServer,
    call: str,
    given: dict[str, Any],
    error: type[Exception],
    fragment: str,
) -> None:
    kwargs: dict[str, Any] = {"messages": GOOD, "provider": "Direct", **given}
    with pytest.raises(error) as sync_caught:
        getattr(g4f_core, call)(**kwargs)
    if call == "stream":
        with pytest.raises(error) as caught:
            g4f_core.astream(**kwargs)  # raised by the call itself: nothing awaited
    else:
        coroutine = g4f_core.acomplete(**kwargs)
        with pytest.raises(error) as caught:
            coroutine.send(None)  # the coroutine's first step, before any await
        coroutine.close()
    assert str(caught.value) == str(sync_caught.value)
    assert fragment in str(caught.value)
    assert guarded.connections == 0
    assert module("Direct").calls == []


def test_a_bad_worker_setting_is_refused_before_any_connection(
    guarded: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("G4F_CORE_ASYNC_WORKERS", "lots")
    says = "G4F_CORE_ASYNC_WORKERS takes an int; cannot read 'lots'"
    with pytest.raises(InvalidRequestError, match=says):
        g4f_core.astream(GOOD, provider="Direct")
    assert guarded.connections == 0


def test_registry_chooses_the_providers_of_the_async_calls(emulator: Any) -> None:
    g4f_core.default_registry()  # the process-wide one knows H2o, so empty it:
    from g4f_core.plugins import registry as registry_module

    registry_module._set_default(Registry([], environ={}))
    with pytest.raises(g4f_core.ProviderNotFoundError):
        g4f_core.astream("Hi", provider="H2o", base_url=emulator.url)
    own = h2o_registry()
    text = run(g4f_core.acomplete("Hi", provider="H2o", base_url=emulator.url, registry=own))
    chunks = run(async_stream(messages="Hi", provider="H2o", base_url=emulator.url, registry=own))
    assert text == "".join(chunks.chunks) != ""


# -- observers -------------------------------------------------------------------------------


@pytest.fixture
def observed(use_registry: Callable[[Registry], Registry]) -> list[Any]:
    events: list[Any] = []

    @hookimpl
    def g4f_core_call_started(event: Any) -> None:
        events.append(event)

    @hookimpl
    def g4f_core_call_finished(event: Any) -> None:
        events.append(event)

    observer = types.SimpleNamespace(
        g4f_core_call_started=g4f_core_call_started,
        g4f_core_call_finished=g4f_core_call_finished,
    )

    use_registry(observed_registry(observer))
    return events


def shown(events: list[Any]) -> list[tuple[Any, ...]]:
    """Every field of each event but the elapsed time."""
    return [
        (e.provider, e.model, e.stream, e.attempt, e.outcome, e.error, e.chunks, e.characters)
        for e in events
    ]


OBSERVED = {
    "retried after a 503": {"fail_generation": [(503, "text/plain", b"busy")]},
    "dropped after two tokens": {"drop_after": 2},
    "stopped after one token, provider done": {},
    "stopped after one token, provider stalled": {"stall_after": 1, "stall_seconds": 5.0},
}


@pytest.mark.parametrize("faults", OBSERVED.values(), ids=OBSERVED.keys())
def test_observers_see_async_calls_exactly_like_sync_ones(
    observed: list[Any], faults: dict[str, Any]
) -> None:
    stop_early = "drop_after" not in faults and "fail_generation" not in faults
    with H2oEmulator() as emu:

        def setup() -> None:
            observed.clear()
            emu.reset()
            for name, value in faults.items():
                setattr(emu.faults, name, list(value) if isinstance(value, list) else value)

        call = {"provider": "H2o", "base_url": emu.url, "max_retries": 1}
        setup()
        if stop_early:
            with g4f_core.stream("Hi", **call) as chunks:
                next(chunks)
        else:
            sync_stream(messages="Hi", **call)
        want = shown(observed)

        async def read() -> None:
            if not stop_early:
                await async_stream(messages="Hi", **call)
                return
            async with g4f_core.astream("Hi", **call) as chunks:
                await chunks.__anext__()
                if not faults:  # let the worker read the whole reply ahead first
                    while any(r.method == "DELETE" for r in emu.requests) is False:
                        await asyncio.sleep(0.005)

        setup()
        run(read())
        assert shown(observed) == want
    outcomes = [e.outcome for e in observed]
    if stop_early:
        assert outcomes == [None, "cancelled"] and observed[-1].chunks == 1
    else:
        assert outcomes[-1] in ("ok", "error") and len(outcomes) >= 2


def test_an_async_timeout_is_the_sync_timeout_error(emulator: Any) -> None:
    emulator.faults.stall_after = 1
    emulator.faults.stall_seconds = 3.0

    async def read() -> list[str]:
        return [
            c
            async for c in g4f_core.astream(
                "Hi", provider="H2o", base_url=emulator.url, timeout=0.3, max_retries=0
            )
        ]

    with pytest.raises(ProviderTimeoutError) as caught:
        run(read())
    assert caught.value.phase == "idle"
    assert caught.value.partial_text != ""


def test_the_async_calls_work_from_a_loop_in_another_thread(emulator: Any) -> None:
    """Two loops at once, in two threads, sharing the worker pool."""
    results: list[str] = []

    def in_thread() -> None:
        results.append(run(g4f_core.acomplete("Hi", provider="H2o", base_url=emulator.url)))

    import threading

    thread = threading.Thread(target=in_thread)
    thread.start()
    mine = run(g4f_core.acomplete("Hi", provider="H2o", base_url=emulator.url))
    thread.join(30)
    assert results == [mine]
    assert asyncio.iscoroutinefunction(g4f_core.acomplete)


def test_the_readme_async_example_runs_against_the_emulator(
    emulator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The async API", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert 'url = "http://localhost:8765"' in code
    code = code.replace("http://localhost:8765", emulator.url)
    exec(compile(code, "README.md (the async API)", "exec"), {"__name__": "readme"})  # noqa: S102
    printed = capsys.readouterr().out
    assert "g4f-core:H2o" in printed and "characters" in printed
