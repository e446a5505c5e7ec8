"""Plugin and discovery faults F35-F39: a broken plugin never breaks discovery.

Plugins are throwaway distributions written into a temporary folder (``*.dist-info`` with
an ``entry_points.txt`` next to the module), exactly as pip installs them, so discovery
really imports them. Good plugins must load, broken ones must each be reported once with
their reason, and the outcome must not depend on the order of ``sys.path``.
"""

from __future__ import annotations

import itertools
import logging
import sys
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

import pytest
from plugin_kit import make_dist, provider_source
from promises import Promises, promise_fixture  # noqa: F401

import g4f_core
from g4f_core.errors import AmbiguousProviderError, PluginLoadError, ProviderNotFoundError
from g4f_core.plugins.registry import Registry

GOOD = provider_source(models=["good-model"], body='yield "good"')

BROKEN: dict[str, str] = {
    "RaisesRuntimeError": "raise RuntimeError('missing configuration')\n",
    "HasSyntaxError": "def broken(:\n    pass\n",
    "ImportsMissingModule": "import g4ftest_module_that_does_not_exist\n",
    "CallsSysExit": "import sys\nsys.exit(3)\n",
    "RaisesValueError": "raise ValueError('bad default')\n",
}
EXPECTED_REASON = {
    "RaisesRuntimeError": "RuntimeError",
    "HasSyntaxError": "SyntaxError",
    "ImportsMissingModule": "ModuleNotFoundError",
    "CallsSysExit": "SystemExit",
    "RaisesValueError": "ValueError",
}

INVALID: dict[str, str] = {
    "ModelsNotAList": provider_source(models=5),
    "StreamIsAString": provider_source(supports_stream="yes"),
    "AuthIsAString": provider_source(needs_auth="no"),
    "NoCreateCompletion": "models = ['m']\nsupports_stream = True\nneeds_auth = False\n",
    "HookWithUnknownArgument": provider_source(
        header="from g4f_core import hookimpl",
        footer="""
            @hookimpl
            def g4f_core_register_providers(register, extra):
                pass
        """,
    ),
    "HookNameMisspelt": provider_source(
        header="from g4f_core import hookimpl",
        footer="""
            @hookimpl
            def g4f_core_register_provider(register):
                pass
        """,
    ),
}

RAISING_HOOK = """
from g4f_core import hookimpl

@hookimpl
def g4f_core_register_providers(register):
    raise RuntimeError("the registry of this plugin is down")
"""

RAISING_OBSERVER = provider_source(
    models=["observed-model"],
    body='yield "still answered"',
    header="from g4f_core import hookimpl",
    footer="""
        @hookimpl
        def g4f_core_call_started(event):
            raise RuntimeError("observer broke")
    """,
)


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Path]]:
    """Fresh site folders on sys.path; modules imported from them are forgotten afterwards."""
    made: list[Path] = []
    monkeypatch.setattr(sys, "dont_write_bytecode", True)

    def folder(name: str) -> Path:
        path = tmp_path / name
        path.mkdir()
        monkeypatch.syspath_prepend(str(path))
        made.append(path)
        return path

    yield folder
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and any(Path(file).is_relative_to(p) for p in made):
            del sys.modules[name]


def failure_names(registry: Registry) -> list[str]:
    return sorted(f.name for f in registry.failures())


# -- F35 a plugin raising on import ------------------------------------------------------


def test_plugins_raising_on_import_are_each_reported_once_and_the_good_ones_load(
    site: Path, registry_for: Callable[..., Registry], promise: Promises
) -> None:
    for index in range(3):
        make_dist(site, f"good{index}-dist", "1.0", {f"Good{index}": GOOD})
    for name, source in BROKEN.items():
        make_dist(site, f"{name.lower()}-dist", "2.0", {name: source})
    make_dist(site, "ghost-dist", "1.0", entry_points={"Ghost": "g4ftest_not_installed"})
    registry = registry_for()
    providers = registry.providers()  # discovery raises nothing
    failures = {f.name: f for f in registry.failures()}
    good = sorted(p.name for p in providers)
    reported = [n for n in [*BROKEN, "Ghost"] if n in failures]
    promise("P5").record(
        "F35 plugins raising on import",
        good_expected=3,
        good_loaded=len(good),
        broken_expected=len(BROKEN) + 1,
        broken_reported=len(reported),
        discovery_exceptions=0,
    )
    assert good == ["Good0", "Good1", "Good2"]
    assert failure_names(registry) == sorted([*BROKEN, "Ghost"])  # each exactly once
    for name, reason in EXPECTED_REASON.items():
        assert reason in failures[name].error
        assert failures[name].distribution == f"{name.lower()}-dist"
        assert failures[name].version == "2.0"
    assert "ModuleNotFoundError" in failures["Ghost"].error


def test_strict_mode_turns_the_first_import_failure_into_an_error_naming_the_plugin(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(site, "good-dist", "1.0", {"Good": GOOD})
    make_dist(site, "bad-dist", "1.0", {"Bad": BROKEN["RaisesRuntimeError"]})
    registry = registry_for({"G4F_CORE_STRICT": "1"})
    with pytest.raises(PluginLoadError, match=r"'Bad'.*missing configuration"):
        registry.providers()


def test_a_disabled_broken_plugin_is_never_imported(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    marker = site / "imported.txt"
    source = f"open({str(marker)!r}, 'w').close()\nraise RuntimeError('boom')\n"
    make_dist(site, "bad-dist", "1.0", {"Bad": source})
    make_dist(site, "good-dist", "1.0", {"Good": GOOD})
    registry = registry_for({"G4F_CORE_DISABLE": "Bad"})
    assert [p.name for p in registry.providers()] == ["Good"]
    assert registry.failures() == []
    assert not marker.exists()


def test_a_call_to_a_plugin_that_failed_to_load_says_why(
    site: Path, registry_for: Callable[..., Registry], use_registry: Callable[..., Registry]
) -> None:
    make_dist(site, "bad-dist", "1.0", {"Bad": BROKEN["RaisesRuntimeError"]})
    use_registry(registry_for())
    with pytest.raises(ProviderNotFoundError, match=r"failed to load.*missing configuration"):
        g4f_core.complete("hi", provider="Bad")


# -- F36 an invalid capability declaration ---------------------------------------------------


def test_invalid_declarations_are_reported_and_leave_nothing_registered(
    site: Path, registry_for: Callable[..., Registry], promise: Promises
) -> None:
    make_dist(site, "good-dist", "1.0", {"Good": GOOD})
    for name, source in INVALID.items():
        make_dist(site, f"{name.lower()}-dist", "1.0", {name: source})
    registry = registry_for()
    names = [p.name for p in registry.providers()]
    failures = {f.name: f.error for f in registry.failures()}
    promise("P5").record(
        "F36 invalid capability declarations",
        good_expected=1,
        good_loaded=len(names),
        broken_expected=len(INVALID),
        broken_reported=sum(1 for n in INVALID if n in failures),
        discovery_exceptions=0,
    )
    assert names == ["Good"]
    assert sorted(failures) == sorted(INVALID)
    assert "models" in failures["ModelsNotAList"]
    assert "supports_stream" in failures["StreamIsAString"]
    assert "needs_auth" in failures["AuthIsAString"]
    assert "_create_completion" in failures["NoCreateCompletion"]
    assert "extra" in failures["HookWithUnknownArgument"]
    assert "'g4f_core_register_providers'" in failures["HookNameMisspelt"]


def test_a_rejected_hook_plugin_never_observes_calls(
    site: Path, registry_for: Callable[..., Registry], use_registry: Callable[..., Registry]
) -> None:
    seen = "g4ftest_seen_events"
    observer = provider_source(
        models=["typo-model"],
        header="from g4f_core import hookimpl\nEVENTS = []",
        footer="""
            @hookimpl
            def g4f_core_call_started(event):
                EVENTS.append(event)

            @hookimpl
            def g4f_core_call_finishd(event):
                EVENTS.append(event)
        """,
    )
    make_dist(site, "typo-dist", "1.0", {"Typo": observer}, module_name=seen)
    make_dist(site, "good-dist", "1.0", {"Good": GOOD})
    registry = use_registry(registry_for())
    assert g4f_core.complete("hi", provider="Good") == "good"
    assert [f.name for f in registry.failures()] == ["Typo"]
    assert "g4f_core_call_finished" in registry.failures()[0].error
    module = sys.modules.get(seen)
    assert module is None or module.EVENTS == []


# -- F37 two plugins with the same name ----------------------------------------------------------


def outcome(registry: Registry) -> tuple[object, ...]:
    """Everything a user could observe about the clash, in a comparable form."""
    try:
        bare: object = registry.get("HuggingChat").qualified_name
    except AmbiguousProviderError as exc:
        bare = ("ambiguous", str(exc))
    qualified = {
        name: registry.get(f"{name}:HuggingChat").distribution
        for name in ("alpha-chat", "beta-chat", "gamma-chat")
    }
    return (
        tuple(p.qualified_name for p in registry.providers()),
        tuple(sorted((f.name, f.distribution or "", f.error) for f in registry.failures())),
        bare,
        tuple(sorted(qualified.items())),
    )


def test_a_name_clash_resolves_the_same_under_every_sys_path_order(
    folders: Callable[[str], Path], promise: Promises
) -> None:
    roots = []
    for dist in ("alpha-chat", "beta-chat", "gamma-chat"):
        root = folders(dist)
        make_dist(root, dist, "1.0", {"HuggingChat": GOOD}, module_name=f"g4ftest_{dist[0]}")
        roots.append(str(root))
    outcomes = set()
    shadowed = 0
    permutations = list(itertools.permutations(roots))
    for order in permutations:
        registry = Registry(metadata.distributions(path=list(order)), environ={})
        seen = outcome(registry)
        outcomes.add(seen)
        shadowed += not isinstance(seen[2], tuple)  # the bare name chose one silently
    promise("P6").record(
        "F37 three distributions declaring 'HuggingChat'",
        permutations=len(permutations),
        distinct_outcomes=len(outcomes),
        silent_shadowing=shadowed,
        passed=len(outcomes) == 1 and shadowed == 0,
    )
    assert len(outcomes) == 1
    assert shadowed == 0
    failures: tuple[tuple[str, str, str], ...] = next(iter(outcomes))[1]  # type: ignore[assignment]
    clash = [f for f in failures if "name clash" in f[2]]
    assert sorted(f[1] for f in clash) == ["alpha-chat", "beta-chat", "gamma-chat"]


def test_an_impostor_of_a_built_in_provider_never_wins_silently(
    folders: Callable[[str], Path], promise: Promises
) -> None:
    root = folders("impostor")
    make_dist(root, "h2o-impostor", "9.9", {"H2o": GOOD}, module_name="g4ftest_impostor")
    builtin = metadata.distribution("g4f-core")
    impostor = next(iter(metadata.distributions(path=[str(root)])))
    results = set()
    for dists in ([builtin, impostor], [impostor, builtin]):
        registry = Registry(dists, environ={})
        with pytest.raises(AmbiguousProviderError) as caught:
            registry.get("H2o")
        results.add(
            (
                str(caught.value),
                registry.get("g4f-core:H2o").distribution,
                registry.get("h2o-impostor:H2o").distribution,
            )
        )
    promise("P6").record(
        "F37 impostor of the built-in H2o",
        permutations=2,
        distinct_outcomes=len(results),
        silent_shadowing=0,
        passed=len(results) == 1,
    )
    assert len(results) == 1
    (message, builtin_dist, impostor_dist) = results.pop()
    assert "g4f-core:H2o" in message and "h2o-impostor:H2o" in message
    assert (builtin_dist, impostor_dist) == ("g4f-core", "h2o-impostor")


# -- F38 a hook raising at call time ----------------------------------------------------------


def test_a_registering_hook_that_raises_leaves_the_other_providers_listed(
    site: Path, registry_for: Callable[..., Registry], promise: Promises
) -> None:
    make_dist(site, "good-dist", "1.0", {"Good": GOOD})
    make_dist(site, "hooks-dist", "1.0", {"Registrar": RAISING_HOOK})
    registry = registry_for()
    names = [p.name for p in registry.providers()]
    failures = registry.failures()
    promise("P5").record(
        "F38 registering hook raising",
        good_expected=1,
        good_loaded=len(names),
        broken_expected=1,
        broken_reported=len(failures),
        discovery_exceptions=0,
    )
    assert names == ["Good"]
    assert [f.name for f in failures] == ["Registrar"]
    assert "the registry of this plugin is down" in failures[0].error


def test_an_observer_hook_that_raises_never_breaks_a_call(
    site: Path,
    registry_for: Callable[..., Registry],
    use_registry: Callable[..., Registry],
    caplog: pytest.LogCaptureFixture,
) -> None:
    make_dist(site, "observed-dist", "1.0", {"Observed": RAISING_OBSERVER})
    use_registry(registry_for())
    with caplog.at_level(logging.WARNING, logger="g4f_core"):
        assert g4f_core.complete("hi", provider="Observed") == "still answered"
    assert any("observer broke" in r.getMessage() for r in caplog.records)


# -- F39 plugin metadata in the working directory -------------------------------------------------


def test_a_dist_info_in_the_working_directory_is_not_a_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, promise: Promises
) -> None:
    here = tmp_path / "cwd"
    here.mkdir()
    marker = tmp_path / "imported.txt"
    source = f"open({str(marker)!r}, 'w').close()\n" + GOOD
    make_dist(here, "stray-dist", "1.0", {"Stray": source}, module_name="g4ftest_stray")
    monkeypatch.chdir(here)
    monkeypatch.setattr(sys, "path", ["", *sys.path])  # as under `python -c` or the REPL
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    registry = Registry(environ={})
    names = [p.name for p in registry.providers()]
    failures = [f.name for f in registry.failures()]
    promise("P5").record(
        "F39 dist-info in the working directory ignored",
        stray_loaded=int("Stray" in names),
        passed="Stray" not in names,
    )
    assert "Stray" not in names
    assert "Stray" not in failures
    assert not marker.exists()
    sys.modules.pop("g4ftest_stray", None)
