"""The gateway driven by the official ``openai`` client, over waitress, against the H2o emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gateway_kit import client, h2o_registry, served

from g4f_core.gateway.serve import GatewayServer
from g4f_core_providers.h2o import format_prompt, models
from g4f_core_providers.h2o.server import H2oEmulator

HELLO = [{"role": "user", "content": "Hello there"}]


@pytest.fixture
def emu() -> Iterator[H2oEmulator]:
    with H2oEmulator() as server:
        yield server


@pytest.fixture
def gateway(emu: H2oEmulator) -> Iterator[GatewayServer]:
    with served(h2o_registry(emu)) as server:
        yield server


def expected(emu: H2oEmulator, model: str = "falcon-40b", messages: object = HELLO) -> str:
    return "".join(emu.reply_for(format_prompt(messages), models[model]))  # type: ignore[arg-type]


def test_the_client_lists_one_id_per_provider_and_model_and_one_per_bare_model(
    gateway: GatewayServer,
) -> None:
    with client(gateway) as api:
        ids = [m.id for m in api.models.list()]
        one = api.models.retrieve("H2o/falcon-7b")
    assert ids == [f"H2o/{m}" for m in models] + sorted(models)
    assert one.id == "H2o/falcon-7b" and one.owned_by == "H2o"


def test_a_whole_reply_is_a_chat_completion_with_the_emulators_text(
    emu: H2oEmulator, gateway: GatewayServer
) -> None:
    with client(gateway) as api:
        reply = api.chat.completions.create(model="H2o/falcon-7b", messages=HELLO)
    assert reply.object == "chat.completion"
    assert reply.model == "H2o/falcon-7b"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == expected(emu, "falcon-7b")
    assert reply.choices[0].finish_reason == "stop"


def test_a_streamed_reply_carries_the_role_first_the_finish_reason_last_and_all_the_text(
    emu: H2oEmulator, gateway: GatewayServer
) -> None:
    emu.faults.token_delay = 0.01  # several batches, not one
    with client(gateway) as api:
        chunks = list(
            api.chat.completions.create(model="H2o/falcon-40b", messages=HELLO, stream=True)
        )
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:])
    assert [c.choices[0].finish_reason for c in chunks] == [None] * (len(chunks) - 1) + ["stop"]
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == expected(emu)
    assert len(chunks) > 2


def test_a_bare_model_selects_by_model_and_the_headers_name_the_provider_and_attempts(
    emu: H2oEmulator, gateway: GatewayServer
) -> None:
    with client(gateway) as api:
        raw = api.chat.completions.with_raw_response.create(model="llama-13b", messages=HELLO)
    assert raw.headers["x-g4f-provider"] == "g4f-core:H2o"
    assert raw.headers["x-g4f-attempts"] == "1"
    assert raw.parse().choices[0].message.content == expected(emu, "llama-13b")


def test_content_parts_of_type_text_are_joined_into_one_message(
    emu: H2oEmulator, gateway: GatewayServer
) -> None:
    parts = [{"type": "text", "text": "Hello"}, {"type": "text", "text": " there"}]
    with client(gateway) as api:
        reply = api.chat.completions.create(
            model="H2o/falcon-40b", messages=[{"role": "user", "content": parts}]
        )
    assert reply.choices[0].message.content == expected(emu)


def test_max_tokens_reaches_h2o_as_max_new_tokens(emu: H2oEmulator, gateway: GatewayServer) -> None:
    with client(gateway) as api:
        api.chat.completions.create(
            model="H2o/falcon-40b", messages=HELLO, max_tokens=7, temperature=0.25
        )
    generate = next(r for r in emu.requests if r.path.startswith("/conversation/"))
    import json

    parameters = json.loads(generate.body)["parameters"]
    assert parameters["max_new_tokens"] == 7
    assert parameters["temperature"] == 0.25


def test_a_provider_option_openai_lacks_passes_as_an_extra_body_field(
    emu: H2oEmulator, gateway: GatewayServer
) -> None:
    with client(gateway) as api:
        api.chat.completions.create(
            model="H2o/falcon-40b", messages=HELLO, extra_body={"repetition_penalty": 1.5}
        )
    generate = next(r for r in emu.requests if r.path.startswith("/conversation/"))
    import json

    assert json.loads(generate.body)["parameters"]["repetition_penalty"] == 1.5


def test_harmless_parameters_are_accepted_and_change_nothing(
    emu: H2oEmulator, gateway: GatewayServer
) -> None:
    with client(gateway) as api:
        reply = api.chat.completions.create(
            model="H2o/falcon-40b",
            messages=HELLO,
            n=1,
            user="someone",
            top_p=1,
            presence_penalty=0,
        )
        streamed = api.chat.completions.create(
            model="H2o/falcon-40b",
            messages=HELLO,
            stream=True,
            stream_options={"include_usage": True},
        )
        text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert reply.choices[0].message.content == expected(emu) == text


def test_the_attempts_header_counts_a_retry_before_the_first_token(emu: H2oEmulator) -> None:
    emu.faults.fail_generation = [(503, "text/plain", b"busy")]
    with served(h2o_registry(emu, G4F_CORE_MAX_RETRIES="1")) as server, client(server) as api:
        raw = api.chat.completions.with_raw_response.create(
            model="H2o/falcon-40b", messages=HELLO, stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse())
    assert raw.headers["x-g4f-attempts"] == "2"
    assert text == expected(emu)
