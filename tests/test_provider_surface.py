"""What a provider author gets from the core: defaults filled, errors named, any callable.

These are the promises of CONTRIBUTING.md's contract section that no single module
owns: each is exercised through the public call path, on providers installed as real
throwaway distributions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from plugin_kit import make_dist, provider_source

import g4f_core
from g4f_core import (
    ChatStream,
    ProviderNotFoundError,
    ProviderResponseError,
    Registry,
)

Install = Callable[..., Registry]

OPTIONS = "(Option('temperature', float, 0.5), Option('stop', (str, list), None))"

#: Yields repr(kwargs): what the core handed the provider.
KWARGS = provider_source(options=OPTIONS, body="yield repr(sorted(kwargs.items()))")

#: Names an option as a keyword parameter with no default: the core always passes it.
KEYWORD = provider_source(
    options="(Option('temperature', float, 0.5),)",
    signature="model, messages, stream, temperature",
    body="yield f'temperature={temperature}'",
)


def test_declared_defaults_reach_the_provider_when_the_caller_gives_none(
    install: Install,
) -> None:
    install(Kw=KWARGS)
    assert g4f_core.complete("Hi", provider="Kw") == "[('stop', None), ('temperature', 0.5)]"


def test_the_callers_value_wins_over_the_declared_default(install: Install) -> None:
    install(Kw=KWARGS)
    text = g4f_core.complete("Hi", provider="Kw", temperature=1)
    assert text == "[('stop', None), ('temperature', 1.0)]"  # checked: an int passes as float


def test_a_keyword_parameter_without_default_is_filled_from_the_declaration(
    install: Install,
) -> None:
    install(Key=KEYWORD)
    assert g4f_core.complete("Hi", provider="Key") == "temperature=0.5"
    assert g4f_core.complete("Hi", provider="Key", temperature=0.2) == "temperature=0.2"


def test_framework_options_never_reach_the_provider(install: Install) -> None:
    install(Kw=KWARGS)
    text = g4f_core.complete("Hi", provider="Kw", timeout=5, max_retries=0, deadline=9)
    assert text == "[('stop', None), ('temperature', 0.5)]"
    # None means "not given" for a framework option: its default applies.
    assert g4f_core.complete("Hi", provider="Kw", timeout=None, max_retries=None) == text


# -- the provider's name on its errors ---------------------------------------------------------

NAMELESS = provider_source(
    header="import g4f_core",
    body="""
        raise g4f_core.ProviderResponseError("the reply was garbled")
        yield ""
    """,
)
NAMED = provider_source(
    header="import g4f_core",
    body="""
        raise g4f_core.ProviderResponseError("the reply was garbled", provider="Upstream")
        yield ""
    """,
)
LATE = provider_source(
    header="import g4f_core",
    body="""
        yield "partial"
        raise g4f_core.ProviderResponseError("then it broke")
    """,
)


def test_an_error_raised_without_a_provider_carries_the_running_providers_name(
    install: Install,
) -> None:
    install(Nameless=NAMELESS)
    with pytest.raises(ProviderResponseError) as caught:
        g4f_core.complete("Hi", provider="Nameless")
    assert caught.value.provider == "Nameless"
    assert str(caught.value) == "Nameless: the reply was garbled"
    assert [attempt.provider for attempt in caught.value.attempts] == ["nameless-dist:Nameless"]


def test_an_error_that_names_its_provider_keeps_that_name(install: Install) -> None:
    install(Named=NAMED)
    with pytest.raises(ProviderResponseError) as caught:
        g4f_core.complete("Hi", provider="Named")
    assert caught.value.provider == "Upstream"


def test_an_error_after_the_first_chunk_is_named_too(install: Install) -> None:
    install(Late=LATE)
    with pytest.raises(ProviderResponseError) as caught:
        list(g4f_core.stream("Hi", provider="Late"))
    assert caught.value.provider == "Late"
    assert caught.value.partial_text == "partial"


# -- current() ---------------------------------------------------------------------------------

CONTEXT = provider_source(
    url="https://declared.example",
    header="from g4f_core import current",
    body="""
        ctx = current()
        yield f"{ctx.provider} {ctx.base_url} {ctx.timeout:g}"
    """,
)


def test_current_knows_the_running_provider_without_being_told(install: Install) -> None:
    install(Ctx=CONTEXT)
    assert g4f_core.complete("Hi", provider="Ctx") == "Ctx https://declared.example 30"
    text = g4f_core.complete("Hi", provider="Ctx", base_url="http://127.0.0.1:9/", timeout=2)
    assert text == "Ctx http://127.0.0.1:9 2"


def test_current_outside_a_call_holds_the_defaults() -> None:
    ctx = g4f_core.current()
    assert (ctx.base_url, ctx.timeout, ctx.deadline_at, ctx.auth) == (None, 30.0, None, None)


# -- _create_completion as any callable --------------------------------------------------------

#: One module, three providers: a bound method, a callable object and a partial.
CALLABLES = """
import functools

from g4f_core import Option


class Greeter:
    models = ["greet-1"]
    supports_stream = True
    needs_auth = False
    options = [Option("punctuation", str, "!")]

    def __init__(self, greeting):
        self.greeting = greeting
        self.calls = 0

    def _create_completion(self, model, messages, stream, **kwargs):
        self.calls += 1
        yield f"{self.greeting}, {messages[-1]['content']}{kwargs['punctuation']}"


class Reply:
    def __call__(self, model, messages, stream, **kwargs):
        yield f"object {model}"


def _reply(prefix, model, messages, stream, **kwargs):
    yield f"{prefix} {model}"


bound = Greeter("Hello")
callable_object = Greeter("unused")
callable_object._create_completion = Reply()
partial = Greeter("unused")
partial._create_completion = functools.partial(_reply, "partial")
"""


@pytest.fixture
def callables(
    site: Path,
    registry_for: Callable[..., Registry],
    use_registry: Callable[[Registry], Registry],
) -> Registry:
    make_dist(
        site,
        "callables-dist",
        entry_points={
            "Bound": "g4ftest_callables:bound",
            "CallableObject": "g4ftest_callables:callable_object",
            "Partial": "g4ftest_callables:partial",
        },
        modules={"g4ftest_callables": CALLABLES},
    )
    registry = use_registry(registry_for())
    assert registry.failures() == []
    return registry


def test_a_provider_whose_create_completion_is_a_bound_method_loads_and_is_called(
    callables: Registry,
) -> None:
    info = g4f_core.get_provider("Bound")
    assert "self" not in info.params
    assert "punctuation: str = '!'" in info.params
    assert g4f_core.complete("world", provider="Bound") == "Hello, world!"
    assert g4f_core.complete("you", provider="Bound", punctuation="?") == "Hello, you?"
    assert info.module.calls == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "reply"),
    [("CallableObject", "object greet-1"), ("Partial", "partial greet-1")],
)
def test_a_callable_object_or_a_partial_serves_as_create_completion(
    callables: Registry, name: str, reply: str
) -> None:
    assert g4f_core.complete("Hi", provider=name) == reply


# -- registry= ---------------------------------------------------------------------------------


@pytest.fixture
def own(site: Path, registry_for: Callable[..., Registry]) -> Registry:
    """A registry holding Kw, while the process-wide one stays empty."""
    make_dist(site, "kw-dist", "1.0", {"Kw": KWARGS})
    return registry_for()


def test_complete_and_stream_call_the_registry_they_are_given(own: Registry) -> None:
    with pytest.raises(ProviderNotFoundError):
        g4f_core.complete("Hi", provider="Kw")  # not in the default registry
    expected = "[('stop', None), ('temperature', 0.5)]"
    assert g4f_core.complete("Hi", provider="Kw", registry=own) == expected
    with g4f_core.stream("Hi", provider="Kw", registry=own) as chunks:
        assert isinstance(chunks, ChatStream)
        assert "".join(chunks) == expected
    assert g4f_core.complete("Hi", model="m1", registry=own) == expected


def test_chat_completion_create_takes_a_registry_too(own: Registry) -> None:
    text = g4f_core.ChatCompletion.create("m1", "Hi", provider="Kw", registry=own)
    assert text == "[('stop', None), ('temperature', 0.5)]"
    module = own.get("Kw").module
    streamed = g4f_core.ChatCompletion.create(None, "Hi", module, stream=True, registry=own)
    assert isinstance(streamed, ChatStream)
    assert streamed.provider is None
    assert "".join(streamed) == text
    assert streamed.provider == "kw-dist:Kw"  # the module was found in that registry


def test_provider_and_registry_cannot_be_declared_as_options(install: Install) -> None:
    bad = provider_source(options="{'registry': 'x', 'provider': 'y'}")
    registry = install(Bad=bad)
    [failure] = registry.failures()
    assert "option 'registry' is reserved" in failure.error
    assert "option 'provider' is reserved" in failure.error
