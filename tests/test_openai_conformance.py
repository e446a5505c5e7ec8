"""A configured OpenAI-compatible endpoint passes the conformance suite: against its emulator
(one test per check), with a credential setting, and live against a server of the protocol."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
from openai_kit import configured, own_registry, table

from g4f_core.testing import run_conformance
from g4f_core.testing.pytest_plugin import conformance_tests
from g4f_core_providers.openai.server import OpenAIEmulator

# The suite's tests are made at import, so their config file is written now.
_FOLDER = Path(tempfile.mkdtemp(prefix="g4f-core-openai-conformance-"))
atexit.register(shutil.rmtree, _FOLDER, ignore_errors=True)
(_FOLDER / "g4f-core.toml").write_text(
    table("Plain", "https://api.example/v1", '{ mini = "gpt-4o-mini", big = "vendor/big-1" }')
    + table("Keyed", "https://api.example/v1", '["gpt-4o-mini"]', 'auth_env = "KEYED_KEY"')
    + table("Batch", "https://api.example/v1", '["m"]', "supports_stream = false"),
    encoding="utf-8",
)
_REGISTRY = own_registry({"G4F_CORE_CONFIG": str(_FOLDER / "g4f-core.toml")})

# test_plain_endpoint_conforms[streaming], ...: every check against the emulator.
test_plain_endpoint_conforms = conformance_tests("Plain", registry=_REGISTRY)
test_endpoint_needing_a_key_conforms = conformance_tests("Keyed", registry=_REGISTRY)
test_endpoint_that_cannot_stream_conforms = conformance_tests("Batch", registry=_REGISTRY)


def test_the_suite_skips_nothing_against_the_emulator() -> None:
    report = run_conformance("Keyed", registry=_REGISTRY)
    assert report.passed, report.format()
    assert report.count("skip") == 0
    assert report.target is not None and report.target.endswith("/v1")


def test_a_live_run_with_the_key_from_auth_env_passes(tmp_path: Path) -> None:
    with OpenAIEmulator(models=["gpt-4o-mini"], require_auth=True) as server:
        registry = configured(
            tmp_path,
            table("Keyed", server.url, '["gpt-4o-mini"]', 'auth_env = "KEYED_KEY"'),
            KEYED_KEY="sk-from-the-environment",
        )
        report = run_conformance("Keyed", emulator=False, registry=registry)
        assert report.passed, report.format()
        bearer = {r.headers.get("authorization") for r in server.requests}
    assert bearer == {"Bearer sk-from-the-environment"}
    assert report.get("early-stop").status == "skip"


def test_a_live_run_without_the_key_fails_on_the_endpoint_naming_the_settings(
    tmp_path: Path,
) -> None:
    registry = configured(
        tmp_path, table("Keyed", "http://127.0.0.1:9/v1", '["m"]', 'auth_env = "KEYED_KEY"')
    )
    report = run_conformance("Keyed", emulator=False, registry=registry)
    assert not report.passed
    assert report.get("endpoint").detail == (
        "the provider needs a credential: set G4F_CORE_KEYED_AUTH or KEYED_KEY"
    )


def test_the_emulator_refuses_a_call_without_the_key(tmp_path: Path) -> None:
    from g4f_core import ProviderHTTPError, complete

    with OpenAIEmulator(models=["m"], require_auth=True) as server:
        registry = configured(tmp_path, table("Open", server.url, '["m"]'))
        with pytest.raises(ProviderHTTPError, match="Incorrect API key provided") as info:
            complete("Hi", provider="Open", max_retries=0, registry=registry)
    assert info.value.status == 401
