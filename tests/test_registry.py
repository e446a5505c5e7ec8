"""Discovery through entry points, failures, name clashes, environment switches, lookup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest
from plugin_kit import MISSING, CountedDists, make_dist, module_name_for, provider_source

import g4f_core
from g4f_core import (
    AmbiguousProviderError,
    PluginFailure,
    PluginLoadError,
    ProviderInfo,
    ProviderNotFoundError,
    Registry,
)

GOOD = provider_source(models=["m1", "m2"], url="https://good.example")

BROKEN = {
    "raises on import": (
        provider_source(header="raise RuntimeError('boom at import')"),
        "failed to import: RuntimeError: boom at import",
    ),
    "syntax error": ("def broken(:\n    pass\n", "failed to import: SyntaxError"),
    "missing dependency": (
        provider_source(header="import g4ftest_no_such_dependency"),
        "failed to import: ModuleNotFoundError: No module named 'g4ftest_no_such_dependency'",
    ),
    "exits on import": (
        provider_source(header="raise SystemExit(3)"),
        "failed to import: SystemExit",
    ),
    "no _create_completion": (
        "models = ['m1']\nsupports_stream = True\nneeds_auth = False\n",
        "has no `_create_completion` function",
    ),
    "supports_stream is a string": (
        provider_source(supports_stream="yes"),
        "invalid provider: `supports_stream` must be True or False, not 'yes'",
    ),
    "models neither list nor dict": (
        provider_source(models="m1"),
        "invalid provider: `models` must be a list of names or a dict",
    ),
    "no models": (provider_source(models=MISSING), "invalid provider: declares no models"),
    "empty models": (provider_source(models=[]), "invalid provider: `models` is empty"),
    "invalid options": (
        provider_source(options="{'stop': ['\\n']}"),
        "invalid provider: `options`: option 'stop'",
    ),
    "unsupported contract_version": (
        provider_source(header="contract_version = 99"),
        "invalid provider: targets provider contract version 99",
    ),
}


def dists_in(site: Path) -> list[metadata.Distribution]:
    return sorted(metadata.distributions(path=[str(site)]), key=lambda d: d.metadata["Name"])


def names(registry: Registry) -> list[str]:
    return [info.qualified_name for info in registry.providers()]


# -- discovery -----------------------------------------------------------------------------


def test_good_providers_are_discovered_with_their_provenance(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(site, "good-dist", "1.4", {"Good": GOOD})
    [info] = registry_for().providers()
    assert info.name == "Good"
    assert info.models == ("m1", "m2")
    assert info.url == "https://good.example"
    assert info.working is True
    assert info.distribution == "good-dist"
    assert info.version == "1.4"
    assert info.entry_point == f"Good = {module_name_for('good-dist', 'Good')}"


def test_dict_models_legacy_model_list_and_working_default_are_read(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(
        site,
        "mixed",
        "1.0",
        {
            "Dicty": provider_source(models={"short": "org/upstream-id"}),
            "Legacy": provider_source(models=MISSING, header="model = ['gpt-3.5-turbo']"),
            "Off": provider_source(working=False),
        },
    )
    registry = registry_for()
    assert registry.get("Dicty").models == ("short",)
    assert registry.get("Dicty").upstream_id("short") == "org/upstream-id"
    assert registry.get("Legacy").models == ("gpt-3.5-turbo",)
    assert registry.get("Off").working is False
    assert registry.get("Legacy").working is True
    assert registry.failures() == []


def test_providers_are_listed_in_name_order(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    for name in ["charlie", "Alpha", "bravo"]:
        make_dist(site, f"{name}-dist", "1.0", {name: GOOD})
    assert [info.name for info in registry_for().providers()] == ["Alpha", "bravo", "charlie"]


@pytest.mark.parametrize(("source", "reason"), BROKEN.values(), ids=BROKEN.keys())
def test_broken_plugin_becomes_one_failure_and_the_others_still_load(
    site: Path, source: str, reason: str
) -> None:
    make_dist(site, "aaa-good", "1.0", {"First": GOOD})
    make_dist(site, "bad-dist", "2.3", {"Bad": source})
    make_dist(site, "zzz-good", "1.0", {"Last": GOOD})
    registry = Registry(dists_in(site), environ={})  # the broken one loads in the middle
    assert names(registry) == ["aaa-good:First", "zzz-good:Last"]
    [failure] = registry.failures()
    assert failure.name == "Bad"
    assert failure.entry_point == f"Bad = {module_name_for('bad-dist', 'Bad')}"
    assert failure.distribution == "bad-dist"
    assert failure.version == "2.3"
    assert failure.error.startswith(reason)
    with pytest.raises(ProviderNotFoundError):
        registry.get("Bad")


def test_entry_point_naming_a_missing_module_is_a_failure(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(site, "ghost", "1.0", entry_points={"Ghost": "g4ftest_not_installed"})
    make_dist(site, "good-dist", "1.0", {"Good": GOOD})
    registry = registry_for()
    assert names(registry) == ["good-dist:Good"]
    assert [f.name for f in registry.failures()] == ["Ghost"]
    assert "ModuleNotFoundError" in registry.failures()[0].error


def test_every_broken_plugin_is_reported_at_once(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    for index, (source, _) in enumerate(BROKEN.values()):
        make_dist(site, f"bad-{index}", "1.0", {f"Bad{index}": source})
    make_dist(site, "good-dist", "1.0", {"Good": GOOD})
    registry = registry_for()
    assert names(registry) == ["good-dist:Good"]
    assert sorted(f.name for f in registry.failures()) == sorted(
        f"Bad{i}" for i in range(len(BROKEN))
    )


def test_failures_are_plugin_failure_records(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(site, "bad-dist", "2.3", {"Bad": provider_source(models=[])})
    [failure] = registry_for().failures()
    assert isinstance(failure, PluginFailure)
    assert failure.to_dict() == {
        "name": "Bad",
        "entry_point": f"Bad = {module_name_for('bad-dist', 'Bad')}",
        "distribution": "bad-dist",
        "version": "2.3",
        "error": failure.error,
        "origin": None,
    }


# -- name clashes --------------------------------------------------------------------------


@pytest.fixture
def clash(site: Path) -> Path:
    """Two distributions both declaring a provider named Echo."""
    for dist in ("alpha-pack", "beta-pack"):
        make_dist(site, dist, "1.0", {"Echo": provider_source(body=f"yield {dist!r}")})
    return site


def test_bare_name_declared_by_two_distributions_is_ambiguous(
    clash: Path, registry_for: Callable[..., Registry]
) -> None:
    with pytest.raises(AmbiguousProviderError) as caught:
        registry_for().get("Echo")
    assert isinstance(caught.value, ProviderNotFoundError)
    assert isinstance(caught.value, KeyError)
    assert "alpha-pack" in str(caught.value)
    assert "beta-pack" in str(caught.value)
    assert "'alpha-pack:Echo'" in str(caught.value)


def test_qualified_name_selects_each_of_two_clashing_providers(
    clash: Path, registry_for: Callable[..., Registry]
) -> None:
    registry = registry_for()
    assert registry.get("alpha-pack:Echo").distribution == "alpha-pack"
    assert registry.get("BETA-PACK:echo").distribution == "beta-pack"
    assert names(registry) == ["alpha-pack:Echo", "beta-pack:Echo"]


def test_name_clash_is_one_failure_per_distribution(
    clash: Path, registry_for: Callable[..., Registry]
) -> None:
    failures = registry_for().failures()
    assert [(f.name, f.distribution) for f in failures] == [
        ("Echo", "alpha-pack"),
        ("Echo", "beta-pack"),
    ]
    assert all("name clash" in f.error for f in failures)


def test_name_clash_outcome_does_not_depend_on_install_order(clash: Path) -> None:
    forward = Registry(dists_in(clash), environ={})
    backward = Registry(list(reversed(dists_in(clash))), environ={})
    assert forward.providers() == backward.providers()
    assert forward.failures() == backward.failures()
    with pytest.raises(AmbiguousProviderError) as first:
        forward.get("Echo")
    with pytest.raises(AmbiguousProviderError) as second:
        backward.get("Echo")
    assert str(first.value) == str(second.value)


# -- environment -----------------------------------------------------------------------------


def test_disabled_provider_is_neither_imported_nor_listed(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    modules = make_dist(site, "echo-dist", "1.0", {"Echo": GOOD})
    make_dist(site, "other-dist", "1.0", {"Other": GOOD})
    registry = registry_for({"G4F_CORE_DISABLE": " ECHO , nothing"})
    assert names(registry) == ["other-dist:Other"]
    assert modules["Echo"] not in sys.modules
    assert registry.failures() == []


def test_disabled_provider_lookup_says_it_is_disabled(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(site, "echo-dist", "1.0", {"Echo": GOOD})
    with pytest.raises(ProviderNotFoundError, match="disabled by G4F_CORE_DISABLE"):
        registry_for({"G4F_CORE_DISABLE": "echo"}).get("Echo")


def test_a_qualified_name_disables_one_of_two_clashing_providers(
    clash: Path, registry_for: Callable[..., Registry]
) -> None:
    registry = registry_for({"G4F_CORE_DISABLE": "Alpha-Pack:Echo"})
    assert registry.get("Echo").distribution == "beta-pack"
    assert registry.failures() == []


def test_disabling_a_broken_plugin_silences_it(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(site, "bad-dist", "1.0", {"Bad": BROKEN["raises on import"][0]})
    assert registry_for({"G4F_CORE_DISABLE": "bad"}).failures() == []


def test_strict_mode_raises_the_first_failure(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(site, "bad-dist", "1.0", {"Bad": BROKEN["raises on import"][0]})
    make_dist(site, "good-dist", "1.0", {"Good": GOOD})
    registry = registry_for({"G4F_CORE_STRICT": "1"})
    with pytest.raises(PluginLoadError, match="'Bad' from bad-dist") as caught:
        registry.providers()
    assert isinstance(caught.value.__cause__, RuntimeError)


@pytest.mark.parametrize("value", ["", "0", "false", "No", " off "])
def test_strict_mode_off_records_failures_without_raising(
    site: Path, registry_for: Callable[..., Registry], value: str
) -> None:
    make_dist(site, "bad-dist", "1.0", {"Bad": BROKEN["raises on import"][0]})
    registry = registry_for({"G4F_CORE_STRICT": value})
    assert len(registry.failures()) == 1


@pytest.mark.parametrize("value", ["1", "true", "YES", "on", "2"])
def test_strict_mode_is_on_for_any_other_value(
    site: Path, registry_for: Callable[..., Registry], value: str
) -> None:
    make_dist(site, "bad-dist", "1.0", {"Bad": BROKEN["raises on import"][0]})
    with pytest.raises(PluginLoadError):
        registry_for({"G4F_CORE_STRICT": value}).providers()


def test_strict_mode_with_good_plugins_loads_them(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(site, "good-dist", "1.0", {"Good": GOOD})
    assert names(registry_for({"G4F_CORE_STRICT": "1"})) == ["good-dist:Good"]


# -- laziness and threads ----------------------------------------------------------------------


def test_constructing_a_registry_imports_nothing(site: Path) -> None:
    modules = make_dist(site, "good-dist", "1.0", {"Good": GOOD})
    dists = CountedDists.under(site)
    registry = Registry(dists, environ={})
    assert dists.reads == 0
    assert modules["Good"] not in sys.modules
    registry.get("good")
    assert modules["Good"] in sys.modules
    assert dists.reads == 1


def test_discovery_runs_once_across_lookups(site: Path) -> None:
    make_dist(site, "good-dist", "1.0", {"Good": GOOD})
    dists = CountedDists.under(site)
    registry = Registry(dists, environ={})
    registry.get("Good")
    registry.providers()
    registry.failures()
    registry.select(model="m1")
    registry.load()
    assert dists.reads == 1


def test_discovery_runs_once_when_sixteen_threads_look_up_at_once(site: Path) -> None:
    slow = provider_source(header="import time\ntime.sleep(0.2)")  # widen the race window
    make_dist(site, "slow-dist", "1.0", {"Slow": slow})
    dists = CountedDists.under(site)
    registry = Registry(dists, environ={})
    barrier = threading.Barrier(16)
    found: list[ProviderInfo] = []
    errors: list[BaseException] = []

    def look_up() -> None:
        barrier.wait()
        try:
            found.append(registry.get("slow"))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=look_up) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert len(found) == 16
    assert all(info is found[0] for info in found)
    assert dists.reads == 1


def test_importing_g4f_core_imports_no_provider_and_not_requests(site: Path) -> None:
    modules = make_dist(site, "good-dist", "1.0", {"Good": GOOD})
    code = (
        "import json, sys, g4f_core; g4f_core.__version__; g4f_core.Registry; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("G4F_CORE_")}
    env["PYTHONPATH"] = str(site)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=30
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert "g4f_core" in loaded
    assert modules["Good"] not in loaded
    assert "requests" not in loaded
    assert not {
        name
        for name in loaded
        if name == "g4f_core_providers" or name.startswith("g4f_core_providers.")
    }


# -- lookup --------------------------------------------------------------------------------


@pytest.fixture
def echo(site: Path, registry_for: Callable[..., Registry]) -> Registry:
    make_dist(site, "echo-dist", "1.0", {"Echo": GOOD})
    make_dist(site, "bad-dist", "1.0", {"Broken": BROKEN["raises on import"][0]})
    return registry_for()


@pytest.mark.parametrize("name", ["Echo", "echo", "ECHO", "  eCho\t", "echo-dist:Echo"])
def test_lookup_is_case_insensitive_and_ignores_surrounding_space(
    echo: Registry, name: str
) -> None:
    assert echo.get(name).name == "Echo"


def test_lookup_of_a_provider_info_returns_it(echo: Registry) -> None:
    info = echo.get("Echo")
    assert echo.get(info) is info


def test_unknown_name_suggests_the_closest_one(echo: Registry) -> None:
    with pytest.raises(ProviderNotFoundError, match="did you mean 'Echo'") as caught:
        echo.get("Ecko")
    assert isinstance(caught.value, KeyError)
    assert "no provider named 'Ecko'" in str(caught.value)


def test_unknown_name_without_a_close_match_lists_what_is_available(echo: Registry) -> None:
    with pytest.raises(ProviderNotFoundError) as caught:
        echo.get("Zzzzzz")
    assert "did you mean" not in str(caught.value)
    assert "available: Echo" in str(caught.value)


def test_name_of_a_failed_plugin_reports_why_it_failed(echo: Registry) -> None:
    with pytest.raises(ProviderNotFoundError, match="failed to load") as caught:
        echo.get("broken")
    assert "RuntimeError: boom at import" in str(caught.value)
    assert "bad-dist" in str(caught.value)


def test_lookup_of_a_non_name_is_refused(echo: Registry) -> None:
    with pytest.raises(ProviderNotFoundError, match="must be a name"):
        echo.get(42)  # type: ignore[arg-type]


def test_module_level_lookup_functions_use_the_default_registry(
    echo: Registry, use_registry: Callable[[Registry], Registry]
) -> None:
    use_registry(echo)
    assert g4f_core.get_provider("echo").name == "Echo"
    assert [info.name for info in g4f_core.list_providers()] == ["Echo"]
    assert [f.name for f in g4f_core.failures()] == ["Broken"]


def test_list_providers_filters_by_every_capability(
    site: Path,
    registry_for: Callable[..., Registry],
    use_registry: Callable[[Registry], Registry],
) -> None:
    make_dist(
        site,
        "caps",
        "1.0",
        {
            "Streamer": provider_source(models={"falcon-7b": "h2oai/falcon-7b-v3"}),
            "Batch": provider_source(models=["falcon-7b", "llama"], supports_stream=False),
            "Keyed": provider_source(models=["llama"], needs_auth=True),
            "Broke": provider_source(models=["llama"], working=False),
        },
    )
    use_registry(registry_for())

    def listed(**filters: object) -> list[str]:
        return [info.name for info in g4f_core.list_providers(**filters)]  # type: ignore[arg-type]

    assert listed() == ["Batch", "Broke", "Keyed", "Streamer"]
    assert listed(model="FALCON-7B") == ["Batch", "Streamer"]
    assert listed(model="h2oai/falcon-7b-v3") == ["Streamer"]
    assert listed(stream=True) == ["Broke", "Keyed", "Streamer"]
    assert listed(stream=False) == ["Batch"]
    assert listed(needs_auth=False) == ["Batch", "Broke", "Streamer"]
    assert listed(working=True) == ["Batch", "Keyed", "Streamer"]
    assert listed(model="llama", working=True, needs_auth=False) == ["Batch"]


def test_a_qualified_name_matches_the_distribution_as_pip_does(site: Path) -> None:
    make_dist(site, "alpha-pack", "1.0", providers={"Echo": provider_source()})
    registry = Registry.from_path([str(site)], environ={})
    for spelling in ("alpha-pack:Echo", "alpha_pack:echo", "Alpha.Pack:ECHO"):
        assert registry.get(spelling).distribution == "alpha-pack"
