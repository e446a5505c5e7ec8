"""The conformance suite inside a provider package's own pytest run.

Either generate one test per check in a test module::

    from g4f_core.testing.pytest_plugin import conformance_tests

    test_conformance = conformance_tests("AcmeChat")    # test_conformance[streaming], ...

or enable the plugin in the package's root ``conftest.py`` and use the fixture::

    pytest_plugins = ["g4f_core.testing.pytest_plugin"]

    def test_conforms(g4f_conformance):
        report = g4f_conformance("AcmeChat")
        assert report.passed, report.format()

With the plugin enabled, ``pytest --g4f-live`` runs the checks against the provider's
live endpoint instead of its emulator. The suite runs once per provider and mode per
session; each generated test reports its own check, failing with the check's message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from g4f_core.errors import G4FError
from g4f_core.plugins.provider import ProviderInfo
from g4f_core.plugins.registry import Registry
from g4f_core.testing.report import CHECKS, FAIL, SKIP, Report
from g4f_core.testing.suite import run_conformance

__all__ = ["conformance_tests", "g4f_conformance", "pytest_addoption"]

_REPORTS = pytest.StashKey[dict[tuple[str, str, int], Report]]()
_LIVE_OPTION = "--g4f-live"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        _LIVE_OPTION,
        action="store_true",
        default=False,
        help="run g4f-core conformance checks against live endpoints, not emulators",
    )


def _live(config: pytest.Config) -> bool:
    return bool(config.getoption("g4f_live", default=False))


def _report(
    config: pytest.Config,
    provider: str | ProviderInfo | object,
    *,
    emulator: bool,
    registry: Registry | None,
    name: str | None,
) -> Report:
    """Run the suite once per provider and mode, however many tests read the result."""
    reports = config.stash.setdefault(_REPORTS, {})
    mode = "emulator" if emulator and not _live(config) else "live"
    label = provider if isinstance(provider, str) else getattr(provider, "name", None)
    key = (str(name or label or id(provider)), mode, id(registry))
    if key not in reports:
        try:
            reports[key] = run_conformance(
                provider, emulator=mode == "emulator", registry=registry, name=name
            )
        except G4FError as exc:  # not installed, or failed to load: say which and why
            pytest.fail(
                f"{exc} (is the provider's distribution installed? `pip install -e .`)",
                pytrace=False,
            )
    return reports[key]


def conformance_tests(
    provider: str | ProviderInfo | object,
    *,
    emulator: bool = True,
    registry: Registry | None = None,
    name: str | None = None,
) -> Callable[..., None]:
    """A test function parametrized over every check; assign it to a ``test_*`` name.

    ``provider`` is what :func:`~g4f_core.testing.run_conformance` takes: an installed
    provider's name, a ``ProviderInfo``, or a provider module.
    """

    @pytest.mark.parametrize("check", [check for check, _ in CHECKS])
    def test(check: str, request: pytest.FixtureRequest) -> None:
        report = _report(request.config, provider, emulator=emulator, registry=registry, name=name)
        result = report.get(check)
        if result.status == SKIP:
            pytest.skip(result.detail)
        if result.status == FAIL:
            pytest.fail(f"{report.provider}: {result.title}: {result.detail}", pytrace=False)

    test.__doc__ = "The provider passes one g4f-core conformance check."
    return test


@pytest.fixture
def g4f_conformance(request: pytest.FixtureRequest) -> Callable[..., Report]:
    """Run (once per session) the conformance suite; returns the :class:`Report`."""

    def run(provider: str | ProviderInfo | object, **kwargs: Any) -> Report:
        return _report(
            request.config,
            provider,
            emulator=kwargs.get("emulator", True),
            registry=kwargs.get("registry"),
            name=kwargs.get("name"),
        )

    return run
