"""OpenAI request bodies -> library calls: names, values and refusals, with no I/O at all."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from plugin_kit import provider_source

from g4f_core import Option, ProviderInfo, Registry
from g4f_core.gateway.errors import WireError
from g4f_core.gateway.mapping import (
    TRANSPORT,
    build_call,
    convert_messages,
    map_options,
)
from g4f_core.options import FRAMEWORK_OPTIONS


def _create(model: str, messages: list[Any], stream: bool, **kwargs: Any) -> Any:
    yield "ok"


def info(options: object = None, name: str = "P") -> ProviderInfo:
    module = SimpleNamespace(
        _create_completion=_create,
        models=["m"],
        supports_stream=True,
        needs_auth=False,
        options=options,
    )
    return ProviderInfo.from_module(module, name=name)


TGI = info(
    (
        Option("temperature", float, 0.4, openai=["temperature"]),
        Option("max_new_tokens", int, 1024, openai=["max_tokens", "max_completion_tokens"]),
        Option("truncate", int, 2048),
    )
)


def test_standard_names_map_through_the_options_openai_names() -> None:
    got = map_options(TGI, {"model": "x", "messages": [], "max_tokens": 5, "temperature": 0.1})
    assert got == {"max_new_tokens": 5, "temperature": 0.1}


def test_a_providers_own_option_passes_under_its_own_name() -> None:
    assert map_options(TGI, {"truncate": 100, "max_new_tokens": 3}) == {
        "truncate": 100,
        "max_new_tokens": 3,
    }


def test_two_names_for_one_option_with_different_values_are_refused() -> None:
    with pytest.raises(WireError) as caught:
        map_options(TGI, {"max_tokens": 5, "max_completion_tokens": 6})
    assert caught.value.status == 400 and caught.value.param == "max_completion_tokens"
    assert map_options(TGI, {"max_tokens": 5, "max_completion_tokens": 5}) == {"max_new_tokens": 5}


@pytest.mark.parametrize("key", ["top_p", "stop", "seed", "tools", "response_format", "logprobs"])
def test_a_standard_parameter_without_a_mapping_is_refused_by_name(key: str) -> None:
    value: object = {"top_p": 0.5, "stop": ["x"], "seed": 1, "tools": [{"type": "function"}],
                     "response_format": {"type": "json_object"}, "logprobs": True}[key]  # fmt: skip
    with pytest.raises(WireError) as caught:
        map_options(TGI, {key: value})
    assert caught.value.param == key and caught.value.code == "unsupported_parameter"


@pytest.mark.parametrize(
    "body",
    [
        {"n": 1},
        {"user": "u"},
        {"stream_options": {"include_usage": True}},
        {"top_p": 1},
        {"presence_penalty": 0},
        {"frequency_penalty": 0.0},
        {"logprobs": False},
        {"stop": None},
        {"response_format": {"type": "text"}},
    ],
)
def test_harmless_and_neutral_parameters_ask_for_nothing(body: dict[str, object]) -> None:
    assert map_options(TGI, body) == {}


def test_only_one_choice_can_be_asked_for() -> None:
    with pytest.raises(WireError) as caught:
        map_options(TGI, {"n": 2})
    assert caught.value.param == "n"


def test_a_provider_taking_any_keyword_gets_standard_parameters_by_their_openai_names() -> None:
    loose = info(None)
    assert loose.accepts_any_option
    assert map_options(loose, {"top_p": 0.5, "stop": ["x"]}) == {"top_p": 0.5, "stop": ["x"]}


def test_every_framework_option_is_a_transport_setting_a_body_cannot_set() -> None:
    assert {opt.name for opt in FRAMEWORK_OPTIONS} <= TRANSPORT
    assert {"base_url", "proxy", "ca_bundle", "auth", "api_key"} <= TRANSPORT


def test_developer_messages_are_system_messages_and_text_parts_are_joined() -> None:
    got = convert_messages(
        [
            {"role": "developer", "content": "be brief"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
            {"role": "assistant", "content": "c", "name": "bot"},
        ]
    )
    assert got == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "ab"},
        {"role": "assistant", "content": "c"},
    ]


@pytest.mark.parametrize(
    "messages",
    [
        [],
        "hello",
        [{"role": "tool", "content": "x"}],
        [{"role": "assistant", "content": None}],
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
        [{"role": "user", "content": 5}],
    ],
)
def test_messages_the_library_cannot_take_are_a_400_on_messages(messages: object) -> None:
    with pytest.raises(WireError) as caught:
        convert_messages(messages)
    assert caught.value.status == 400 and caught.value.param == "messages"


def test_a_bare_model_uses_the_mapping_of_the_first_provider_that_can_honour_the_body(
    install: Callable[..., Registry],
) -> None:
    registry = install(
        Aplain=provider_source(models=("shared",), options="{'temperature': 0.5}"),
        Btgi=provider_source(
            models=("shared",), options="(Option('max_new_tokens', int, 9, openai='max_tokens'),)"
        ),
    )
    call = build_call(registry, {"model": "shared", "messages": [{"role": "user", "content": "x"}],
                                 "max_tokens": 4})  # fmt: skip
    assert call.provider is None and call.options == {"max_new_tokens": 4}
    with pytest.raises(WireError) as caught:
        build_call(registry, {"model": "shared", "messages": [{"role": "user", "content": "x"}],
                              "seed": 3})  # fmt: skip
    assert caught.value.param == "seed"
