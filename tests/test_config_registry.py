"""Config tables become providers through the register hook: provenance, failures that name
file, table and key, clashes, unclaimed protocols, and nothing costly at discovery."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from openai_kit import configured, own_registry, table
from plugin_kit import make_dist

from g4f_core import Origin, PluginLoadError, ProviderNotFoundError
from g4f_core.plugins import hookspecs
from g4f_core.plugins.marker import REGISTER_ARGS
from g4f_core.plugins.registry import Registry

URL = "http://127.0.0.1:9/v1"


def test_each_table_is_a_provider_with_its_origin(tmp_path: Path) -> None:
    registry = configured(
        tmp_path,
        table("Ollama", URL, '["llama3.2"]')
        + table("Cloud", URL, '{ small = "vendor/s-1" }', 'auth_env = "CLOUD_KEY"'),
    )
    assert registry.failures() == []
    cloud, ollama = (registry.get(n) for n in ("Cloud", "ollama"))
    path = str(tmp_path / "g4f-core.toml")
    assert ollama.origin == Origin(path, "providers.Ollama")
    assert (ollama.url, ollama.models, ollama.needs_auth) == (URL, ("llama3.2",), False)
    assert (cloud.needs_auth, cloud.auth_env, cloud.upstream_id("small")) == (
        True,
        "CLOUD_KEY",
        "vendor/s-1",
    )
    assert cloud.distribution == "g4f-core"
    assert cloud.entry_point == "openai-compatible = g4f_core_providers.openai (registered by hook)"
    assert cloud.to_dict()["origin"] == {"file": path, "table": "providers.Cloud"}
    assert [p.name for p in registry.select(needs_auth=False)] == ["H2o", "Ollama"]


def test_a_bad_table_is_a_failure_and_every_other_provider_loads(tmp_path: Path) -> None:
    registry = configured(
        tmp_path, table("Good", URL) + table("Bad", URL, extra='bse_url = "x"\napi_key = "k"')
    )
    assert {p.name for p in registry.providers()} == {"Good", "H2o"}
    failures = {f.error for f in registry.failures() if f.name == "Bad"}
    path = tmp_path / "g4f-core.toml"
    assert failures == {
        f"{path}, table [providers.Bad], key 'bse_url': unknown key; did you mean 'base_url'?",
        f"{path}, table [providers.Bad], key 'api_key': credentials are never read from the "
        "config file: put it in an environment variable and name that variable with "
        'auth_env = "MY_API_KEY"',
    }
    assert all(f.origin == Origin(str(path), "providers.Bad") for f in registry.failures())
    with pytest.raises(
        ProviderNotFoundError, match=r"could not be made from the config file: .*providers\.Bad"
    ):
        registry.get("Bad")


def test_a_file_that_does_not_parse_breaks_no_installed_provider(tmp_path: Path) -> None:
    registry = configured(tmp_path, "[providers.X\n")
    assert [p.name for p in registry.providers()] == ["H2o"]
    [failure] = registry.failures()
    assert failure.name == "g4f-core.toml"
    assert failure.origin == Origin(str(tmp_path / "g4f-core.toml"))
    assert "is not valid TOML" in failure.error


def test_a_table_named_like_an_installed_provider_is_refused_never_shadowing_it(
    tmp_path: Path,
) -> None:
    registry = configured(tmp_path, table("h2o", URL))
    h2o = registry.get("H2o")
    assert h2o.origin is None and h2o.url == "https://gpt-gm.h2o.ai"
    [failure] = registry.failures()
    assert failure.origin is not None and failure.origin.table == "providers.h2o"
    assert "name clash: 'h2o' is the name of an installed provider (from g4f-core 0.1.0)" in (
        failure.error
    )
    assert failure.error.startswith(f"{tmp_path / 'g4f-core.toml'}, table [providers.h2o]: ")


def test_a_protocol_no_plugin_speaks_is_a_failure_with_did_you_mean(tmp_path: Path) -> None:
    registry = configured(tmp_path, table("Odd", URL, protocol="opneai"))
    [failure] = registry.failures()
    assert failure.error.endswith(
        "no installed plugin speaks protocol 'opneai'; did you mean 'openai'?"
    )


def test_the_plugin_refuses_a_base_url_that_is_the_endpoint_itself(tmp_path: Path) -> None:
    registry = configured(tmp_path, table("Full", "http://h:1/v1/chat/completions"))
    [failure] = registry.failures()
    assert failure.name == "Full" and failure.origin is not None
    assert "key 'base_url': give the API root" in failure.error


def test_a_table_can_be_disabled_like_any_provider(tmp_path: Path) -> None:
    registry = configured(tmp_path, table("A", URL) + table("B", URL), G4F_CORE_DISABLE="b")
    assert [p.name for p in registry.providers()] == ["A", "H2o"]
    with pytest.raises(ProviderNotFoundError, match="disabled by G4F_CORE_DISABLE"):
        registry.get("B")


def test_disabling_the_family_reads_no_config(tmp_path: Path) -> None:
    registry = configured(tmp_path, "not toml [", G4F_CORE_DISABLE="openai-compatible")
    assert registry.failures() == [] and [p.name for p in registry.providers()] == ["H2o"]


def test_strict_mode_raises_on_a_bad_table(tmp_path: Path) -> None:
    registry = configured(tmp_path, table("Bad", URL, extra="x = 1"), G4F_CORE_STRICT="1")
    with pytest.raises(PluginLoadError, match=r"table \[providers.Bad\], key 'x'"):
        registry.providers()


def test_the_url_and_auth_settings_apply_to_a_table(tmp_path: Path) -> None:
    from g4f_core.planning import context_for

    registry = configured(
        tmp_path,
        table("Cloud", URL, extra='auth_env = "CLOUD_KEY"'),
        G4F_CORE_CLOUD_URL="http://127.0.0.1:8/v2",
        G4F_CORE_CLOUD_AUTH="from-g4f-setting",
        CLOUD_KEY="from-auth-env",
    )
    ctx = context_for(registry.get("Cloud"), {}, registry.environ)
    assert (ctx.base_url, ctx.auth, ctx.auth_from) == (
        "http://127.0.0.1:8/v2",
        "from-g4f-setting",
        "G4F_CORE_CLOUD_AUTH",
    )


# -- the hook itself -----------------------------------------------------------------------


def test_register_args_are_the_hookspecs_arguments() -> None:
    spec = inspect.signature(hookspecs.g4f_core_register_providers)
    assert tuple(spec.parameters) == REGISTER_ARGS


THIRD_PARTY = """
from g4f_core import hookimpl

def _complete(model, messages, stream, **kwargs):
    yield "hi"

@hookimpl
def g4f_core_register_providers(register, fail, config):
    for t in config.tables_for("echo"):
        if t.name == "Broken":
            fail(t.name, "this table is broken on purpose", origin=t.origin)
            continue
        provider = type("P", (), {"_create_completion": staticmethod(_complete),
                                  "models": list(t.models), "supports_stream": True,
                                  "needs_auth": False, "url": t.base_url})
        register(provider, name=t.name, origin=t.origin)
"""

ONLY_REGISTER = """
from g4f_core import hookimpl

def _complete(model, messages, stream):
    yield "x"

@hookimpl
def g4f_core_register_providers(register):
    register(type("P", (), {"_create_completion": staticmethod(_complete),
                            "models": ["m"], "supports_stream": False, "needs_auth": False}),
             name="Plain")
"""


def test_a_third_party_protocol_plugin_gets_its_tables_and_records_failures(
    site: Path, tmp_path: Path
) -> None:
    make_dist(site, "echo-dist", "2.0", {"EchoPlugin": THIRD_PARTY})
    path = tmp_path / "g4f-core.toml"
    path.write_text(table("Echoed", URL, protocol="echo") + table("Broken", URL, protocol="echo"))
    registry = Registry.from_path([str(site)], environ={"G4F_CORE_CONFIG": str(path)})
    echoed = registry.get("Echoed")
    assert echoed.origin == Origin(str(path), "providers.Echoed")
    assert echoed.distribution == "echo-dist"
    [failure] = registry.failures()
    assert failure.distribution == "echo-dist"
    assert failure.error == f"{path}, table [providers.Broken]: this table is broken on purpose"


OBSERVER = """
@hookimpl
def g4f_core_call_finished(event):
    pass
"""


@pytest.mark.parametrize(
    "source",
    [
        THIRD_PARTY + OBSERVER,
        THIRD_PARTY.replace(
            "@hookimpl\ndef g4f_core_register_providers(",
            "@hookimpl(specname='g4f_core_register_providers')\ndef from_tables(",
        ),
    ],
    ids=["next-to-an-observer", "named-by-specname"],
)
def test_a_register_hook_pluggy_holds_gets_fail_and_config_too(
    site: Path, tmp_path: Path, source: str
) -> None:
    assert source != THIRD_PARTY
    make_dist(site, "echo-dist", "2.0", {"EchoPlugin": source})
    path = tmp_path / "g4f-core.toml"
    path.write_text(table("Echoed", URL, protocol="echo") + table("Broken", URL, protocol="echo"))
    registry = Registry.from_path([str(site)], environ={"G4F_CORE_CONFIG": str(path)})
    assert registry.get("Echoed").origin == Origin(str(path), "providers.Echoed")
    assert [f.error for f in registry.failures()] == [
        f"{path}, table [providers.Broken]: this table is broken on purpose"
    ]


def test_a_hook_taking_only_register_reads_no_config(site: Path, tmp_path: Path) -> None:
    make_dist(site, "plain-dist", "1.0", {"PlainPlugin": ONLY_REGISTER})
    path = tmp_path / "g4f-core.toml"
    path.write_text("this is not toml [")
    registry = Registry.from_path([str(site)], environ={"G4F_CORE_CONFIG": str(path)})
    assert [p.name for p in registry.providers()] == ["Plain"]
    assert registry.failures() == []  # nobody asked for the config: nobody read it
    assert not registry.has_observers  # and pluggy was never needed


def test_a_register_hook_with_an_unknown_argument_is_still_refused(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(
        site, "odd-dist", "1.0", {"Odd": ONLY_REGISTER.replace("(register)", "(register, extra)")}
    )
    [failure] = registry_for().failures()
    assert failure.error.startswith("invalid hook")


LISTING = """
import json, sys
from importlib import metadata
from g4f_core import cli
from g4f_core.plugins.registry import Registry
cli.main(["providers", "--json"], registry=Registry([metadata.distribution("g4f-core")]))
heavy = ("pluggy", "requests", "urllib3", "g4f_core.transport.client",
         "g4f_core_providers.openai._wire", "g4f_core_providers.openai.server")
print(json.dumps([m for m in heavy if m in sys.modules]))
"""


def test_listing_configured_providers_imports_no_pluggy_and_no_http(tmp_path: Path) -> None:
    path = tmp_path / "g4f-core.toml"
    path.write_text(table("Ollama", URL))
    env = {"G4F_CORE_CONFIG": str(path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", LISTING], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    *listing, imported = done.stdout.strip().splitlines()
    assert "Ollama" in [p["name"] for p in json.loads("\n".join(listing))["providers"]]
    assert json.loads(imported) == []


def test_a_registry_without_the_family_never_reads_the_config(tmp_path: Path) -> None:
    path = tmp_path / "g4f-core.toml"
    path.write_text("broken [")
    assert Registry([], environ={"G4F_CORE_CONFIG": str(path)}).failures() == []
    assert own_registry({"G4F_CORE_CONFIG": str(path)}).failures() != []
