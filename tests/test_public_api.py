"""The public surface of ``import g4f_core``, pinned: changing it is a decision, not an accident."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import g4f_core

PUBLIC = [
    "AllProvidersFailedError",
    "AmbiguousProviderError",
    "AsyncChatStream",
    "Attempt",
    "AuthRequiredError",
    "CallContext",
    "CallEvent",
    "ChatCompletion",
    "ChatStream",
    "Client",
    "Config",
    "Emulator",
    "G4FError",
    "GatewayConfig",
    "InvalidRequestError",
    "ModelNotSupportedError",
    "Option",
    "Origin",
    "PluginFailure",
    "PluginLoadError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderInfo",
    "ProviderNotFoundError",
    "ProviderNotWorkingError",
    "ProviderResponseError",
    "ProviderTable",
    "ProviderTimeoutError",
    "RateLimitError",
    "Registry",
    "StreamNotSupportedError",
    "__version__",
    "acomplete",
    "astream",
    "complete",
    "current",
    "default_registry",
    "failures",
    "get_provider",
    "hookimpl",
    "list_providers",
    "load_config",
    "make_gateway",
    "stream",
]

ERRORS = [name for name in PUBLIC if name.endswith("Error") and name != "G4FError"]


def test_all_is_pinned() -> None:
    assert g4f_core.__all__ == PUBLIC


def test_all_is_sorted() -> None:
    assert g4f_core.__all__ == sorted(g4f_core.__all__)


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(g4f_core, name) is not None


def test_dir_lists_the_public_names() -> None:
    assert set(PUBLIC) <= set(dir(g4f_core))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'NotThere'"):
        g4f_core.NotThere  # noqa: B018 - the attribute access is the test


@pytest.mark.parametrize("name", ERRORS)
def test_every_error_derives_from_g4f_error(name: str) -> None:
    assert issubclass(getattr(g4f_core, name), g4f_core.G4FError)


def test_errors_of_the_contract_are_all_public() -> None:
    contract = {
        "ProviderNotFoundError",
        "ModelNotSupportedError",
        "StreamNotSupportedError",
        "AuthRequiredError",
        "ProviderNotWorkingError",
        "InvalidRequestError",
        "ProviderError",
        "ProviderConnectionError",
        "ProviderTimeoutError",
        "ProviderHTTPError",
        "RateLimitError",
        "ProviderResponseError",
        "AllProvidersFailedError",
    }
    assert contract <= set(ERRORS)


def test_builtin_mixins_let_callers_catch_either() -> None:
    assert issubclass(g4f_core.ProviderNotFoundError, KeyError)
    assert issubclass(g4f_core.AmbiguousProviderError, g4f_core.ProviderNotFoundError)
    assert issubclass(g4f_core.InvalidRequestError, ValueError)
    assert issubclass(g4f_core.ModelNotSupportedError, g4f_core.InvalidRequestError)
    assert issubclass(g4f_core.StreamNotSupportedError, g4f_core.InvalidRequestError)


@pytest.mark.parametrize(
    "name",
    [
        "ProviderConnectionError",
        "ProviderTimeoutError",
        "ProviderHTTPError",
        "RateLimitError",
        "ProviderResponseError",
        "AllProvidersFailedError",
    ],
)
def test_upstream_failures_are_provider_errors(name: str) -> None:
    assert issubclass(getattr(g4f_core, name), g4f_core.ProviderError)


def test_rate_limit_is_an_http_error_with_status_429() -> None:
    error = g4f_core.RateLimitError("slow down", provider="P", retry_after=2.0)
    assert isinstance(error, g4f_core.ProviderHTTPError)
    assert (error.status, error.retry_after, error.provider) == (429, 2.0, "P")


def test_provider_not_found_reads_as_a_sentence_not_a_quoted_key() -> None:
    assert str(g4f_core.ProviderNotFoundError("no provider named 'X'")) == "no provider named 'X'"


def test_provider_error_starts_with_no_partial_text_and_names_its_provider() -> None:
    error = g4f_core.ProviderConnectionError("refused", provider="H2o")
    assert error.partial_text == ""
    assert error.attempts == []
    assert str(error) == "H2o: refused"


def _pyproject_version() -> str:
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    project = text.split("[project]", 1)[1].split("\n[", 1)[0]
    match = re.search(r'^version\s*=\s*"([^"]+)"', project, re.MULTILINE)
    assert match, "pyproject.toml has no [project] version"
    return match.group(1)


def test_version_matches_pyproject() -> None:
    assert g4f_core.__version__ == _pyproject_version()


def test_version_matches_the_installed_distribution() -> None:
    assert g4f_core.__version__ == metadata.version("g4f-core")


def test_listing_and_lookup_from_python_import_no_http_library() -> None:
    """Listing is the fast path: requests is imported only when a call is made."""
    code = (
        "import sys, g4f_core\n"
        "g4f_core.list_providers(); g4f_core.failures(); g4f_core.ProviderNotFoundError\n"
        "g4f_core.get_provider('H2o')\n"
        "print(sorted(m for m in ('requests', 'urllib3', 'g4f_core.transport.client',"
        " 'importlib.metadata')"
        " if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_the_library_logger_has_a_null_handler_so_it_never_prints_by_itself() -> None:
    import logging

    from g4f_core.plugins import registry  # noqa: F401 - the logger is set up where it is defined

    handlers = logging.getLogger("g4f_core").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)
