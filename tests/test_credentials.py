"""The caller's credential reaches the server where the provider says, from every setting
that may hold it, and never anywhere else: not in messages, not unchecked into a header."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from plugin_kit import make_dist, provider_source
from scripted_server import Reply, ScriptedServer
from test_docs import install_metadata, tutorial_files

import g4f_core
from g4f_core import AuthRequiredError, InvalidRequestError, ProviderHTTPError
from g4f_core.plugins.registry import Registry

CANARY = "sk-canary-7f3a-credential"
CALLS_SERVER = """
def _create_completion(model, messages, stream, **kwargs):
    from g4f_core import Client, current
    with Client(current(), base_url=url) as http:
        yield http.request("POST", "/chat", json={"m": model}).text
"""


def provider(**attrs: Any) -> str:
    """A provider module whose call POSTs to its url; ``attrs`` are extra declarations."""
    lines = "\n".join(f"{k} = {v!r}" for k, v in attrs.items())
    return provider_source(body="pass", footer=lines + "\n" + textwrap.dedent(CALLS_SERVER))


def sent(server: ScriptedServer) -> dict[str, str]:
    return {k.lower(): v for k, v in server.requests[-1].headers.items()}


@pytest.fixture
def acme(site: Path, use_registry: Callable[[Registry], Registry]) -> Registry:
    """CONTRIBUTING.md's AcmeChat, installed exactly as the guide writes it."""
    files = tutorial_files()
    for path, source in files.items():
        target = site / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(source), encoding="utf-8")
    install_metadata(site, files["pyproject.toml"])
    return use_registry(Registry.from_path([str(site)], environ={}))


def test_the_guides_provider_sends_the_callers_credential_as_a_bearer_token(
    acme: Registry, serve: Callable[..., ScriptedServer]
) -> None:
    server = serve(Reply.json({"text": "hi"}))
    assert g4f_core.complete("Hello", provider="AcmeChat", base_url=server.url, auth=CANARY) == "hi"
    assert sent(server)["authorization"] == f"Bearer {CANARY}"


def test_the_guides_provider_sends_no_credential_when_none_is_given(
    acme: Registry, serve: Callable[..., ScriptedServer]
) -> None:
    server = serve(Reply.json({"text": "hi"}))
    g4f_core.complete("Hello", provider="AcmeChat", base_url=server.url)
    assert "authorization" not in sent(server)


@pytest.mark.parametrize(
    ("declared", "header", "value"),
    [
        ({}, "authorization", f"Bearer {CANARY}"),
        ({"auth_scheme": "bearer"}, "authorization", f"Bearer {CANARY}"),
        ({"auth_scheme": "header:X-Api-Key"}, "x-api-key", CANARY),
        ({"auth_scheme": "header:api-key"}, "api-key", CANARY),
    ],
)
def test_the_credential_goes_where_auth_scheme_says(
    install: Callable[..., Registry],
    serve: Callable[..., ScriptedServer],
    declared: dict[str, str],
    header: str,
    value: str,
) -> None:
    server = serve(Reply.text("ok"))
    install(Keyed=provider(url=server.url, **declared))
    g4f_core.complete("Hello", provider="Keyed", auth=CANARY)
    headers = sent(server)
    assert headers[header] == value
    others = {"authorization", "x-api-key", "api-key"} - {header}
    assert not others & set(headers)


def test_auth_scheme_none_leaves_the_credential_to_the_provider(
    install: Callable[..., Registry], serve: Callable[..., ScriptedServer]
) -> None:
    server = serve(Reply.text("ok"))
    install(Own=provider(url=server.url, auth_scheme="none"))
    g4f_core.complete("Hello", provider="Own", auth=CANARY)
    assert not {"authorization", "x-api-key"} & set(sent(server))


@pytest.mark.parametrize(
    ("environ", "options", "expected"),
    [
        ({"G4F_CORE_KEYED_AUTH": "from-setting", "KEYED_KEY": "from-env"}, {}, "from-setting"),
        ({"KEYED_KEY": "from-env"}, {}, "from-env"),
        ({"G4F_CORE_KEYED_AUTH": "from-setting"}, {"auth": "from-call"}, "from-call"),
    ],
)
def test_auth_then_the_g4f_setting_then_auth_env(
    site: Path,
    use_registry: Callable[[Registry], Registry],
    serve: Callable[..., ScriptedServer],
    environ: dict[str, str],
    options: dict[str, str],
    expected: str,
) -> None:
    server = serve(Reply.text("ok"))
    make_dist(site, "keyed-dist", "1.0", {"Keyed": provider(url=server.url, auth_env="KEYED_KEY")})
    use_registry(Registry.from_path([str(site)], environ=environ))
    g4f_core.complete("Hello", provider="Keyed", **options)
    assert sent(server)["authorization"] == f"Bearer {expected}"


def test_a_provider_needing_auth_names_every_setting_before_any_request(
    site: Path, use_registry: Callable[[Registry], Registry], serve: Callable[..., ScriptedServer]
) -> None:
    server = serve(Reply.text("ok"))
    source = provider(url=server.url, auth_env="KEYED_KEY").replace(
        "needs_auth = False", "needs_auth = True"
    )
    make_dist(site, "keyed-dist", "1.0", {"Keyed": source})
    use_registry(Registry.from_path([str(site)], environ={}))
    with pytest.raises(AuthRequiredError) as info:
        g4f_core.complete("Hello", provider="Keyed")
    assert str(info.value) == (
        "provider 'Keyed' needs a credential: pass auth=... or set G4F_CORE_KEYED_AUTH or KEYED_KEY"
    )
    assert server.requests == []
    use_registry(Registry.from_path([str(site)], environ={"KEYED_KEY": CANARY}))
    assert g4f_core.complete("Hello", provider="Keyed") == "ok"


@pytest.mark.parametrize("bad", [f"{CANARY}\r\nX-Evil: 1", f"{CANARY}\n", "a\x00b"])
def test_a_credential_that_would_break_the_header_is_refused_before_io(
    install: Callable[..., Registry], serve: Callable[..., ScriptedServer], bad: str
) -> None:
    server = serve(Reply.text("ok"))
    install(Keyed=provider(url=server.url))
    with pytest.raises(InvalidRequestError, match="line break or control character") as info:
        g4f_core.complete("Hello", provider="Keyed", auth=bad)
    assert CANARY not in str(info.value)
    assert server.requests == []


def test_a_credential_from_auth_env_echoed_by_the_server_is_masked(
    site: Path, use_registry: Callable[[Registry], Registry], serve: Callable[..., ScriptedServer]
) -> None:
    server = serve(Reply.json({"error": {"message": f"bad key {CANARY}"}}, status=401))
    make_dist(site, "keyed-dist", "1.0", {"Keyed": provider(url=server.url, auth_env="KEYED_KEY")})
    use_registry(Registry.from_path([str(site)], environ={"KEYED_KEY": CANARY}))
    with pytest.raises(ProviderHTTPError) as info:
        g4f_core.complete("Hello", provider="Keyed")
    assert CANARY not in str(info.value) and CANARY not in repr(info.value)
    assert "bad key ***" in str(info.value)


@pytest.mark.parametrize(
    ("declared", "says"),
    [
        ({"auth_scheme": "basic"}, "`auth_scheme` must be 'bearer'"),
        ({"auth_scheme": "header:Bad Name"}, "`auth_scheme` must be 'bearer'"),
        ({"auth_scheme": "xheader:X"}, "`auth_scheme` must be 'bearer'"),
        ({"auth_env": "sk-not-a-name"}, "`auth_env` must name an environment variable"),
    ],
)
def test_a_bad_credential_declaration_is_a_load_failure(
    site: Path, registry_for: Callable[..., Registry], declared: dict[str, str], says: str
) -> None:
    make_dist(site, "bad-dist", "1.0", {"Bad": provider(url="http://127.0.0.1:9", **declared)})
    [failure] = registry_for().failures()
    assert says in failure.error
    assert "sk-not-a-name" not in failure.error


def test_show_names_the_credential_settings(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    import io

    from g4f_core.cli import main

    make_dist(site, "keyed-dist", "1.0", {"Keyed": provider(url="http://h", auth_env="KEYED_KEY")})
    out = io.StringIO()
    assert main(["show", "Keyed"], registry=registry_for(), stdout=out) == 0
    assert "credential   pass auth=... or set G4F_CORE_KEYED_AUTH or KEYED_KEY" in out.getvalue()
