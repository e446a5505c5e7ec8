"""H2o passes the provider conformance suite, against its emulator and as a live endpoint."""

from __future__ import annotations

from importlib import metadata

from g4f_core.plugins.registry import Registry
from g4f_core.testing import run_conformance
from g4f_core.testing.pytest_plugin import conformance_tests
from g4f_core_providers.h2o.server import H2oEmulator


def own_registry(environ: dict[str, str] | None = None) -> Registry:
    """This project's own distribution only: never the developer's other plugins."""
    return Registry([metadata.distribution("g4f-core")], environ=environ or {})


# One test per check, against H2o's emulator: test_h2o_conforms[streaming], ...
test_h2o_conforms = conformance_tests("H2o", registry=own_registry())


def test_h2o_passes_against_an_endpoint_given_by_the_environment() -> None:
    with H2oEmulator() as server:
        registry = own_registry({"G4F_CORE_H2O_URL": server.url})
        report = run_conformance("H2o", emulator=False, registry=registry)
    assert report.passed, report.format()
    assert (report.mode, report.target) == ("live", server.url)
    assert report.get("early-stop").status == "skip"
    assert "mid-stream stall not checked" in report.get("timeout").detail


def test_h2o_against_an_unreachable_endpoint_fails_on_the_endpoint_check() -> None:
    registry = own_registry({"G4F_CORE_H2O_URL": "http://127.0.0.1:9"})
    report = run_conformance("H2o", emulator=False, registry=registry)
    assert not report.passed
    assert [c.name for c in report.failures] == ["endpoint"]
    assert "unreachable" in report.get("endpoint").detail
    assert "connection refused" in report.get("endpoint").detail
    for name in ("streaming", "complete", "models"):
        assert report.get(name).status == "skip"
