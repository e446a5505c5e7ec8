"""ProviderInfo.from_module: the provider contract read into a frozen record."""

from __future__ import annotations

import textwrap
import types

import attrs
import pytest
from plugin_kit import MISSING, provider_source

from g4f_core import Option, ProviderInfo
from g4f_core.plugins.provider import InvalidProviderError


def module_from(source: str, name: str = "my_provider") -> types.ModuleType:
    """A module object run from ``source``, as importing the provider's file would make."""
    module = types.ModuleType(name)
    code = compile(textwrap.dedent(source), f"<{name}>", "exec")
    exec(code, module.__dict__)  # noqa: S102 - test-written provider source
    return module


def info_from(source: str, name: str = "Prov", **kwargs: str) -> ProviderInfo:
    return ProviderInfo.from_module(module_from(source), name=name, **kwargs)


FULL = provider_source(
    models=["falcon-40b", "falcon-7b"],
    supports_stream=True,
    needs_auth=True,
    working=False,
    url="https://chat.example",
    params="my params",
    options="{'temperature': 0.5}",
)


def test_reads_every_field_of_the_contract() -> None:
    info = info_from(FULL, distribution="prov-dist", version="1.2", entry_point="Prov = prov")
    assert info.name == "Prov"
    assert info.url == "https://chat.example"
    assert info.models == ("falcon-40b", "falcon-7b")
    assert info.supports_stream is True
    assert info.needs_auth is True
    assert info.working is False
    assert info.params == "my params"
    assert info.options == (Option("temperature", float, 0.5),)
    assert info.distribution == "prov-dist"
    assert info.version == "1.2"
    assert info.entry_point == "Prov = prov"
    assert info.qualified_name == "prov-dist:Prov"


def test_working_defaults_to_true_and_url_to_none() -> None:
    info = info_from(provider_source())
    assert info.working is True
    assert info.url is None


def test_models_as_list_keep_their_order() -> None:
    info = info_from(provider_source(models=["b", "a", "c"]))
    assert info.models == ("b", "a", "c")
    assert info.default_model == "b"


def test_models_as_dict_map_short_names_to_upstream_ids() -> None:
    info = info_from(provider_source(models={"falcon-7b": "h2oai/falcon-7b-v3", "llama": "x/l"}))
    assert info.models == ("falcon-7b", "llama")
    assert info.upstream_id("falcon-7b") == "h2oai/falcon-7b-v3"


def test_legacy_model_list_of_gpt4free_is_read() -> None:
    info = info_from(provider_source(models=MISSING, header="model = ['gpt-3.5-turbo']"))
    assert info.models == ("gpt-3.5-turbo",)


def test_params_from_the_module_are_kept_verbatim() -> None:
    info = info_from(provider_source(params="g4f.Providers.X supports: (model: str)"))
    assert info.params == "g4f.Providers.X supports: (model: str)"


def test_params_are_derived_in_gpt4free_shape() -> None:
    info = info_from(provider_source())
    assert info.params == "my_provider supports: (model: str, messages: list, stream: bool)"


def test_derived_params_list_every_declared_option_with_type_and_default() -> None:
    options = "{'temperature': 0.5, 'max_new_tokens': 1024, 'do_sample': True, 'stop': ''}"
    info = info_from(provider_source(options=options))
    assert info.params == (
        "my_provider supports: (model: str, messages: list, stream: bool, "
        "temperature: float = 0.5, max_new_tokens: int = 1024, do_sample: bool = True, "
        "stop: str = '')"
    )


def test_derived_params_read_postponed_annotations() -> None:
    source = provider_source(
        header="from __future__ import annotations",
        signature="model: str, messages: list[dict[str, str]], stream: bool, **kwargs",
    )
    info = info_from(source)
    assert info.params == "my_provider supports: (model: str, messages: list, stream: bool)"


def test_derived_params_name_an_option_taken_by_name_only_once() -> None:
    source = provider_source(
        options="{'temperature': 0.5}",
        signature="model: str, messages: list, stream: bool, temperature: float = 0.5",
    )
    info = info_from(source)
    assert info.params == (
        "my_provider supports: (model: str, messages: list, stream: bool, temperature: float = 0.5)"
    )


def test_options_declared_as_option_records_are_kept() -> None:
    source = provider_source(
        options="(Option('temperature', float, 0.5, 'sampling'), Option('truncate', int, 1000))"
    )
    info = info_from(source)
    assert info.options == (
        Option("temperature", float, 0.5, "sampling"),
        Option("truncate", int, 1000),
    )
    assert info.options[0].help == "sampling"


def test_options_declared_as_dict_are_typed_by_their_default() -> None:
    info = info_from(provider_source(options="{'n': 3, 'top_p': 0.9, 'sample': False, 'u': 'x'}"))
    assert [(o.name, o.type, o.default) for o in info.options] == [
        ("n", int, 3),
        ("top_p", float, 0.9),
        ("sample", bool, False),
        ("u", str, "x"),
    ]


def test_provider_with_kwargs_and_no_options_accepts_any_option() -> None:
    assert info_from(provider_source()).accepts_any_option is True


def test_provider_with_declared_options_accepts_only_those() -> None:
    assert info_from(provider_source(options="{'n': 1}")).accepts_any_option is False


def test_provider_without_kwargs_accepts_no_undeclared_option() -> None:
    info = info_from(provider_source(signature="model: str, messages: list, stream: bool"))
    assert info.accepts_any_option is False
    assert info.options == ()


INVALID = {
    "no _create_completion": (
        "models = ['m']\nsupports_stream = True\nneeds_auth = False\n",
        "_create_completion",
    ),
    "_create_completion not callable": (
        "models = ['m']\nsupports_stream = True\nneeds_auth = False\n_create_completion = 1\n",
        "not callable",
    ),
    "supports_stream is a string": (provider_source(supports_stream="yes"), "supports_stream"),
    "supports_stream missing": (provider_source(supports_stream=MISSING), "supports_stream"),
    "needs_auth missing": (provider_source(needs_auth=MISSING), "needs_auth"),
    "needs_auth is an int": (provider_source(needs_auth=0), "needs_auth"),
    "working is a string": (provider_source(working="true"), "working"),
    "models is a string": (provider_source(models="m1"), "`models` must be"),
    "models is a number": (provider_source(models=3), "`models` must be"),
    "no models": (provider_source(models=MISSING), "declares no models"),
    "empty models list": (provider_source(models=[]), "empty"),
    "empty models dict": (provider_source(models={}), "empty"),
    "blank model name": (provider_source(models=[" "]), "non-empty"),
    "model listed twice": (provider_source(models=["a", "a"]), "twice"),
    "upstream id not a string": (provider_source(models={"a": 1}), "upstream id"),
    "url not http": (provider_source(url="ftp://example"), "url"),
    "params not a string": (provider_source(params=3), "params"),
    "options is a string": (provider_source(options="'temperature'"), "options"),
    "option default not a scalar": (provider_source(options="{'stop': ['\\n']}"), "stop"),
    "options mix records and names": (
        provider_source(options="[Option('a', int, 1), 'b']"),
        "sequence of g4f_core.Option",
    ),
    "option declared twice": (
        provider_source(options="[Option('a', int, 1), Option('a', int, 2)]"),
        "twice",
    ),
    "option reserved by the framework": (provider_source(options="{'timeout': 1.0}"), "reserved"),
    "option the function cannot take": (
        provider_source(options="{'n': 1}", signature="model, messages, stream"),
        "'n'",
    ),
    "wrong signature": (provider_source(signature="messages, model, stream"), "must take"),
    "unsupported contract_version": (
        provider_source(header="contract_version = 2"),
        "contract version 2",
    ),
}


@pytest.mark.parametrize(("source", "fragment"), INVALID.values(), ids=INVALID.keys())
def test_invalid_declaration_is_refused_with_a_reason(source: str, fragment: str) -> None:
    with pytest.raises(InvalidProviderError) as caught:
        info_from(source)
    assert fragment in str(caught.value)
    assert str(caught.value)  # always says what is wrong


@pytest.mark.parametrize("name", ["", "1abc", "has space", "a:b"])
def test_invalid_provider_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidProviderError, match="provider name"):
        info_from(provider_source(), name=name)


def test_record_is_frozen() -> None:
    info = info_from(provider_source())
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        info.name = "Other"  # type: ignore[misc]


def test_repr_shows_no_callables_or_modules() -> None:
    text = repr(info_from(FULL))
    assert "Prov" in text
    assert "<function" not in text
    assert "<module" not in text
    assert "_create_completion" not in text


def test_to_dict_has_exactly_the_json_keys_of_the_contract() -> None:
    data = info_from(FULL, distribution="prov-dist", version="1.2").to_dict()
    assert set(data) == {
        "name",
        "url",
        "models",
        "supports_stream",
        "needs_auth",
        "working",
        "params",
        "options",
        "distribution",
        "version",
        "entry_point",
        "auth_env",
        "origin",
    }
    assert data["models"] == ["falcon-40b", "falcon-7b"]
    assert data["options"] == [{"name": "temperature", "type": "float", "default": 0.5, "help": ""}]


def test_any_object_with_the_attributes_is_a_provider() -> None:
    namespace = types.SimpleNamespace(
        models=["m"],
        supports_stream=False,
        needs_auth=False,
        _create_completion=lambda model, messages, stream, **kwargs: iter(["x"]),
    )
    info = ProviderInfo.from_module(namespace, name="Ns")
    assert info.models == ("m",)
    assert info.supports_stream is False


def test_every_independent_problem_is_reported_at_once() -> None:
    module = types.SimpleNamespace(
        models="gpt", supports_stream="yes", needs_auth=None, url="ftp://x", params=5
    )
    with pytest.raises(InvalidProviderError) as info:
        ProviderInfo.from_module(module, name="Many")
    message = str(info.value)
    for fragment in (
        "_create_completion",
        "`models`",
        "`supports_stream`",
        "`needs_auth`",
        "`url`",
        "`params`",
    ):
        assert fragment in message


def test_a_create_completion_whose_signature_cannot_be_read_is_refused() -> None:
    with pytest.raises(InvalidProviderError, match="signature of `_create_completion` cannot"):
        info_from(provider_source(footer="_create_completion = max"))
