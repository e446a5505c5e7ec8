"""Hooks: registering providers in code, observing calls, refusing malformed hookimpls."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from plugin_kit import make_dist, provider_source

import g4f_core
from g4f_core import CallEvent, ProviderConnectionError, ProviderNotFoundError, Registry
from g4f_core.plugins.hookspecs import PROJECT

CANARY = "canary-5d1e-private"

#: Registers three providers from one plugin; the second one is invalid.
REGISTERING = """
import types
from g4f_core import hookimpl

def _provider(models, text):
    return types.SimpleNamespace(
        models=models,
        supports_stream=True,
        needs_auth=False,
        _create_completion=lambda model, messages, stream, **kw: iter([text]),
    )

@hookimpl
def g4f_core_register_providers(register):
    register(_provider(["a"], "from one"), name="One")
    register(_provider("not a list", "never"), name="Two")
    register(_provider(["c"], "from three"), name="Three")
"""

#: A plugin that only observes calls, keeping every event it sees.
OBSERVER = """
from g4f_core import hookimpl

started = []
finished = []

@hookimpl
def g4f_core_call_started(event):
    started.append(event)

@hookimpl
def g4f_core_call_finished(event):
    finished.append(event)
"""

RAISING_OBSERVER = """
from g4f_core import hookimpl

@hookimpl
def g4f_core_call_started(event):
    raise RuntimeError("observer broke")

@hookimpl
def g4f_core_call_finished(event):
    raise RuntimeError("observer broke again")
"""

#: A provider echoing the prompt back, so that the reply carries the canary too.
ECHO = provider_source(
    models=["echo-model"],
    header="import g4f_core",
    body="""
        text = messages[-1]["content"]
        yield text[:10]
        yield text[10:]
        if kwargs.get("fail"):
            raise g4f_core.ProviderConnectionError("lost " + text)
    """,
)


@pytest.fixture
def observed(
    site: Path,
    registry_for: Callable[..., Registry],
    use_registry: Callable[[Registry], Registry],
) -> Any:
    """The observer plugin's module, installed next to the Echo provider."""
    make_dist(site, "echo-dist", "1.0", {"Echo": ECHO})
    modules = make_dist(site, "metrics", "1.0", {"Metrics": OBSERVER})
    registry = use_registry(registry_for())
    assert registry.failures() == []
    return sys.modules[modules["Metrics"]]


def _fields(event: CallEvent) -> list[str]:
    return [repr(value) for value in attrs.astuple(event)]


# -- registering providers in code ---------------------------------------------------------------


def test_one_plugin_registers_several_providers_and_one_invalid_is_a_failure(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(site, "bundle", "3.1", {"Bundle": REGISTERING})
    registry = registry_for()
    assert [info.name for info in registry.providers()] == ["One", "Three"]
    [failure] = registry.failures()
    assert failure.name == "Two"
    assert failure.distribution == "bundle"
    assert "`models` must be" in failure.error
    with pytest.raises(ProviderNotFoundError, match="failed to load"):
        registry.get("Two")


def test_providers_registered_by_hook_carry_the_plugins_provenance(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(site, "bundle", "3.1", {"Bundle": REGISTERING})
    info = registry_for().get("one")
    assert info.distribution == "bundle"
    assert info.version == "3.1"
    assert "registered by hook" in (info.entry_point or "")


def test_providers_registered_by_hook_can_be_called(
    site: Path,
    registry_for: Callable[..., Registry],
    use_registry: Callable[[Registry], Registry],
) -> None:
    make_dist(site, "bundle", "3.1", {"Bundle": REGISTERING})
    use_registry(registry_for())
    assert g4f_core.complete("Hi", provider="Three") == "from three"


def test_a_raising_register_hook_is_a_failure_of_its_plugin(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    source = """
        from g4f_core import hookimpl

        @hookimpl
        def g4f_core_register_providers(register):
            raise RuntimeError("config file missing")
    """
    make_dist(site, "bundle", "1.0", {"Bundle": source})
    make_dist(site, "good-dist", "1.0", {"Good": provider_source()})
    registry = registry_for()
    assert [info.name for info in registry.providers()] == ["Good"]
    [failure] = registry.failures()
    assert "RuntimeError: config file missing" in failure.error


def test_hook_registered_providers_obey_g4f_core_disable(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(site, "bundle", "3.1", {"Bundle": REGISTERING})
    registry = registry_for({"G4F_CORE_DISABLE": "one"})
    assert [info.name for info in registry.providers()] == ["Three"]


# -- observer hooks -------------------------------------------------------------------------------


def test_observers_see_the_start_and_end_of_a_call(observed: Any) -> None:
    g4f_core.complete(CANARY, provider="Echo")
    [started] = observed.started
    [finished] = observed.finished
    assert (started.provider, started.model, started.stream) == (
        "echo-dist:Echo",
        "echo-model",
        False,
    )
    assert started.outcome is None
    assert started.elapsed is None
    assert finished.outcome == "ok"
    assert finished.error is None
    assert finished.elapsed is not None
    assert 0 <= finished.elapsed < 10
    assert finished.chunks == 2
    assert finished.characters == len(CANARY)
    assert finished.attempt == 1


def test_observers_never_see_prompt_or_reply_text(observed: Any) -> None:
    g4f_core.complete(
        [{"role": "system", "content": CANARY}, {"role": "user", "content": CANARY}],
        provider="Echo",
    )
    events = observed.started + observed.finished
    assert events
    for event in events:
        assert all(CANARY not in field for field in _fields(event))
        assert CANARY not in repr(event)


def test_observers_see_a_failure_by_its_class_name_only(observed: Any) -> None:
    with pytest.raises(ProviderConnectionError):
        g4f_core.complete(CANARY, provider="Echo", fail=True, max_retries=0)
    [finished] = observed.finished
    assert finished.outcome == "error"
    assert finished.error == "ProviderConnectionError"
    assert finished.chunks == 2
    assert all(CANARY not in field for field in _fields(finished))


def test_observers_see_a_cancelled_stream(observed: Any) -> None:
    with g4f_core.stream(CANARY, provider="Echo") as chunks:
        next(chunks)
    [finished] = observed.finished
    assert finished.outcome == "cancelled"
    assert finished.stream is True
    assert finished.chunks == 1


def test_observers_see_every_attempt_of_a_retried_call(
    site: Path,
    registry_for: Callable[..., Registry],
    use_registry: Callable[[Registry], Registry],
) -> None:
    flaky = provider_source(
        header="import g4f_core\ncalls = []",
        body="""
            calls.append(model)
            if len(calls) == 1:
                raise g4f_core.RateLimitError("slow down", retry_after=0)
            yield "ok"
        """,
    )
    make_dist(site, "flaky-dist", "1.0", {"Flaky": flaky})
    modules = make_dist(site, "metrics", "1.0", {"Metrics": OBSERVER})
    use_registry(registry_for())
    assert g4f_core.complete("Hi", provider="Flaky") == "ok"
    metrics = sys.modules[modules["Metrics"]]
    assert [e.attempt for e in metrics.started] == [1, 2]
    assert [(e.attempt, e.outcome, e.error) for e in metrics.finished] == [
        (1, "error", "RateLimitError"),
        (2, "ok", None),
    ]


def test_an_observer_that_raises_is_logged_and_the_call_succeeds(
    site: Path,
    registry_for: Callable[..., Registry],
    use_registry: Callable[[Registry], Registry],
    caplog: pytest.LogCaptureFixture,
) -> None:
    make_dist(site, "echo-dist", "1.0", {"Echo": ECHO})
    make_dist(site, "bad-metrics", "1.0", {"Metrics": RAISING_OBSERVER})
    use_registry(registry_for())
    with caplog.at_level(logging.WARNING, logger="g4f_core"):
        assert g4f_core.complete("Hello world!", provider="Echo") == "Hello world!"
    messages = [record.getMessage() for record in caplog.records]
    assert any("g4f_core_call_started" in m and "observer broke" in m for m in messages)
    assert any("g4f_core_call_finished" in m for m in messages)
    assert all(record.name.startswith("g4f_core") for record in caplog.records)


# -- malformed hookimpls ------------------------------------------------------------


MISSPELT = provider_source(
    header="""
        from g4f_core import hookimpl
        seen = []

        @hookimpl
        def g4f_core_call_started(event):
            seen.append(event)

        @hookimpl
        def g4f_core_call_finsihed(event):
            seen.append(event)
    """,
)

EXTRA_ARGUMENT = provider_source(
    header="""
        from g4f_core import hookimpl
        seen = []

        @hookimpl
        def g4f_core_call_started(event, prompt):
            seen.append(event)
    """,
)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (MISSPELT, "implements unknown hook 'g4f_core_call_finsihed'"),
        (EXTRA_ARGUMENT, "invalid hook"),
    ],
    ids=["misspelt hook name", "argument not in the spec"],
)
def test_a_malformed_hookimpl_is_a_load_failure_leaving_nothing_registered(
    site: Path,
    registry_for: Callable[..., Registry],
    use_registry: Callable[[Registry], Registry],
    source: str,
    reason: str,
) -> None:
    modules = make_dist(site, "sloppy", "1.0", {"Sloppy": source})
    make_dist(site, "echo-dist", "1.0", {"Echo": ECHO})
    registry = use_registry(registry_for())
    [failure] = registry.failures()
    assert failure.name == "Sloppy"
    assert reason in failure.error
    assert [info.name for info in registry.providers()] == ["Echo"]
    g4f_core.complete("Hi", provider="Echo")
    assert sys.modules[modules["Sloppy"]].seen == []  # its valid hook was not kept either
    if registry._hooks.pm is not None:
        assert registry._hooks.pm.get_plugins() == set()


def test_an_invalid_provider_keeps_none_of_its_hooks(
    site: Path,
    registry_for: Callable[..., Registry],
    use_registry: Callable[[Registry], Registry],
) -> None:
    invalid = provider_source(
        supports_stream="yes",
        header="""
            from g4f_core import hookimpl
            seen = []

            @hookimpl
            def g4f_core_call_started(event):
                seen.append(event)
        """,
    )
    modules = make_dist(site, "half", "1.0", {"Half": invalid})
    make_dist(site, "echo-dist", "1.0", {"Echo": ECHO})
    registry = use_registry(registry_for())
    assert [f.name for f in registry.failures()] == ["Half"]
    g4f_core.complete("Hi", provider="Echo")
    assert sys.modules[modules["Half"]].seen == []


def test_a_misspelt_hook_name_suggests_the_real_one(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(site, "sloppy", "1.0", {"Sloppy": MISSPELT})
    [failure] = registry_for().failures()
    assert "did you mean 'g4f_core_call_finished'?" in failure.error


def test_hookimpl_is_g4f_cores_own_marker() -> None:
    assert g4f_core.hookimpl.project_name == PROJECT == "g4f_core"


# -- pluggy's semantics ---------------------------------------------------------------------------

#: An observer written as pluggy wrappers: g4f-core calls each implementation on its own.
HOOKWRAPPER = """
from g4f_core import hookimpl

seen = []

@hookimpl(hookwrapper=True)
def g4f_core_call_finished(event):
    seen.append(event)
    yield
"""
NEW_STYLE_WRAPPER = """
from g4f_core import hookimpl

seen = []

@hookimpl(wrapper=True)
def g4f_core_call_started(event):
    seen.append(event)
    return (yield)
"""


@pytest.mark.parametrize(
    ("source", "hook", "flag"),
    [
        (HOOKWRAPPER, "g4f_core_call_finished", "hookwrapper=True"),
        (NEW_STYLE_WRAPPER, "g4f_core_call_started", "wrapper=True"),
    ],
    ids=["hookwrapper", "wrapper"],
)
def test_a_wrapper_observer_is_refused_at_load_naming_the_plugin_and_hook(
    site: Path,
    registry_for: Callable[..., Registry],
    use_registry: Callable[[Registry], Registry],
    source: str,
    hook: str,
    flag: str,
) -> None:
    modules = make_dist(site, "wrapping", "1.0", {"Wrapping": source})
    make_dist(site, "echo-dist", "1.0", {"Echo": ECHO})
    registry = use_registry(registry_for())
    [failure] = registry.failures()
    assert (failure.name, failure.distribution) == ("Wrapping", "wrapping")
    assert f"plugin 'wrapping:Wrapping' implements hook {hook!r} with {flag}" in failure.error
    assert "drop the flag" in failure.error
    g4f_core.complete("Hi", provider="Echo")
    assert sys.modules[modules["Wrapping"]].seen == []
    assert not registry.has_observers  # nothing of the refused plugin stayed registered


def test_a_wrapper_observer_raises_at_load_in_strict_mode(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(site, "wrapping", "1.0", {"Wrapping": HOOKWRAPPER})
    with pytest.raises(g4f_core.PluginLoadError, match="hookwrapper=True"):
        registry_for({"G4F_CORE_STRICT": "1"}).providers()


def _ordered(name: str, marker: str) -> str:
    return f"""
from g4f_core import hookimpl

@hookimpl{marker}
def g4f_core_call_finished(event):
    import g4ftest_order_log
    g4ftest_order_log.calls.append({name!r})
"""


def test_observers_run_in_pluggys_order_tryfirst_first_trylast_last(
    site: Path,
    registry_for: Callable[..., Registry],
    use_registry: Callable[[Registry], Registry],
) -> None:
    make_dist(site, "echo-dist", "1.0", {"Echo": ECHO}, modules={"g4ftest_order_log": "calls = []"})
    # Discovered in distribution order: a, b, c; pluggy calls the last registered first.
    make_dist(site, "a-dist", "1.0", {"A": _ordered("a", "(trylast=True)")})
    make_dist(site, "b-dist", "1.0", {"B": _ordered("b", "")})
    make_dist(site, "c-dist", "1.0", {"C": _ordered("c", "")})
    make_dist(site, "d-dist", "1.0", {"D": _ordered("d", "(tryfirst=True)")})
    registry = use_registry(registry_for())
    assert registry.failures() == []
    g4f_core.complete("Hi", provider="Echo")
    assert sys.modules["g4ftest_order_log"].calls == ["d", "c", "b", "a"]


def test_a_register_hook_named_by_specname_is_called(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    source = REGISTERING.replace(
        "@hookimpl\ndef g4f_core_register_providers(register):",
        "@hookimpl(specname='g4f_core_register_providers')\ndef add_mine(register):",
    )
    assert "add_mine" in source
    make_dist(site, "many", "1.0", {"Many": source})
    assert [info.name for info in registry_for().providers()] == ["One", "Three"]
