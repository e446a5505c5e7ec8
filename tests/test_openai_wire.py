"""The chat-completions protocol end to end: a configured endpoint, the real call path, and
the emulator on loopback in every framing and failure real servers produce."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai_kit import configured, table

import g4f_core
from g4f_core import (
    InvalidRequestError,
    ProviderConnectionError,
    ProviderHTTPError,
    ProviderResponseError,
    RateLimitError,
)
from g4f_core.plugins.registry import Registry
from g4f_core_providers.openai.server import OpenAIEmulator

MODELS = '{ mini = "gpt-4o-mini", big = "vendor/big-1" }'
EXPECTED = (
    "Hello from gpt-4o-mini! This is the g4f-core emulator of the OpenAI chat completions "
    "API, answering 1 message(s)."
)


@pytest.fixture
def emulator() -> Iterator[OpenAIEmulator]:
    with OpenAIEmulator(models=["gpt-4o-mini", "vendor/big-1"]) as server:
        yield server


@pytest.fixture
def registry(tmp_path: Path, emulator: OpenAIEmulator) -> Registry:
    extra = 'headers = { "X-Title" = "g4f-core tests" }'
    return configured(tmp_path, table("Emu", emulator.url, MODELS, extra))


def complete(registry: Registry, prompt: Any = "Hello", **options: Any) -> str:
    """A whole reply from the configured "Emu" through the public call path."""
    options.setdefault("max_retries", 0)
    return g4f_core.complete(prompt, provider="Emu", registry=registry, **options)


def chunks(registry: Registry, prompt: Any = "Hello", **options: Any) -> list[str]:
    options.setdefault("max_retries", 0)
    with g4f_core.stream(prompt, provider="Emu", registry=registry, **options) as stream:
        return list(stream)


def last_body(emulator: OpenAIEmulator) -> dict[str, Any]:
    body: dict[str, Any] = emulator.requests[-1].body
    return body


# -- the request ---------------------------------------------------------------------------


def test_a_streamed_reply_arrives_token_by_token(
    registry: Registry, emulator: OpenAIEmulator
) -> None:
    parts = chunks(registry)
    assert "".join(parts) == EXPECTED
    assert parts[:3] == ["Hello", " from", " gpt-4o-mini!"]
    request = emulator.requests[-1]
    assert request.path == "/v1/chat/completions"
    assert request.body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Hello"}],
        "stream": True,
    }
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["x-title"] == "g4f-core tests"
    assert "authorization" not in request.headers


def test_a_whole_reply_is_the_same_text(registry: Registry, emulator: OpenAIEmulator) -> None:
    assert complete(registry) == EXPECTED
    assert last_body(emulator)["stream"] is False
    assert emulator.requests[-1].headers["accept"] == "application/json"


def test_a_short_model_name_is_sent_as_its_upstream_id(
    registry: Registry, emulator: OpenAIEmulator
) -> None:
    assert complete(registry, model="big").startswith("Hello from vendor/big-1!")
    assert last_body(emulator)["model"] == "vendor/big-1"
    assert complete(registry, model="vendor/big-1")  # the upstream id selects it too


def test_declared_options_are_sent_and_unset_ones_are_not(
    registry: Registry, emulator: OpenAIEmulator
) -> None:
    complete(
        registry,
        temperature=0.2,
        top_p=1,
        max_tokens=3,
        seed=7,
        presence_penalty=-2,
        frequency_penalty=2,
        stop=["zzz"],
    )
    body = last_body(emulator)
    assert {k: v for k, v in body.items() if k not in ("model", "messages", "stream")} == {
        "temperature": 0.2,
        "top_p": 1.0,
        "max_tokens": 3,
        "seed": 7,
        "presence_penalty": -2.0,
        "frequency_penalty": 2.0,
        "stop": ["zzz"],
    }


def test_max_tokens_and_stop_shape_the_reply(registry: Registry) -> None:
    assert complete(registry, max_tokens=2) == "Hello from"
    assert complete(registry, stop="emulator") == "Hello from gpt-4o-mini! This is the g4f-core "
    assert "".join(chunks(registry, stop=["This", "from"])) == "Hello "


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"temperature": 2.5}, "'temperature' must be <= 2"),
        ({"temperature": -0.1}, "'temperature' must be >= 0"),
        ({"top_p": 1.5}, "'top_p' must be <= 1"),
        ({"max_tokens": 0}, "'max_tokens' must be >= 1"),
        ({"max_tokens": 1.5}, "'max_tokens' must be an int, not float"),
        ({"presence_penalty": 3}, "'presence_penalty' must be <= 2"),
        ({"frequency_penalty": -2.5}, "'frequency_penalty' must be >= -2"),
        ({"stop": 3}, "'stop' must be a str | list[str]"),
        ({"stop": ["a", 1]}, "'stop' must be a str | list[str]"),
        ({"seed": "7"}, "'seed' must be an int, not str"),
        ({"logit_bias": {}}, "does not accept option 'logit_bias'"),
    ],
)
def test_a_bad_option_is_refused_before_any_request(
    registry: Registry, emulator: OpenAIEmulator, options: dict[str, Any], says: str
) -> None:
    before = len(emulator.requests)
    with pytest.raises(InvalidRequestError, match=says.replace("|", r"\|").replace("[", r"\[")):
        complete(registry, **options)
    assert len(emulator.requests) == before


# -- stream framing variants ---------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        {"framing": "compact"},
        {"framing": "crlf"},
        {"keepalive": True},
        {"done": False},
        {"usage": True},
        {"role_chunk": False},
        {"framing": "crlf", "keepalive": True, "usage": True, "done": False},
    ],
    ids=lambda v: ",".join(f"{k}={v[k]}" for k in v),
)
def test_every_framing_real_servers_use_gives_the_same_text(
    registry: Registry, emulator: OpenAIEmulator, variant: dict[str, Any]
) -> None:
    for key, value in variant.items():
        setattr(emulator.behaviour, key, value)
    assert "".join(chunks(registry)) == EXPECTED


def test_a_stream_ending_without_finish_or_done_is_truncated_with_partial_text(
    registry: Registry, emulator: OpenAIEmulator
) -> None:
    emulator.behaviour.cut_after = 3
    with pytest.raises(ProviderConnectionError, match="cut short: the body ended before") as info:
        chunks(registry)
    assert info.value.partial_text == "Hello from gpt-4o-mini!"
    assert info.value.provider == "Emu"


def test_done_before_any_finish_reason_is_a_reply_cut_short(
    registry: Registry, emulator: OpenAIEmulator
) -> None:
    emulator.behaviour.finish = False  # as llama.cpp's server ends an interrupted stream
    with pytest.raises(ProviderConnectionError, match=r"cut short: \[DONE\] came before") as info:
        chunks(registry)
    assert info.value.partial_text == EXPECTED
    assert "--interrupt_requests false" in str(info.value)


def test_a_stream_emptied_before_any_text_is_retried(
    registry: Registry, emulator: OpenAIEmulator
) -> None:
    emulator.behaviour.finish = False
    emulator.behaviour.reply = ""
    with pytest.raises(ProviderConnectionError, match="cut short"):
        chunks(registry, max_retries=1)
    assert len(emulator.requests) == 2  # nothing was delivered: retrying is safe


def test_a_stream_cut_mid_body_is_a_connection_error_with_partial_text(
    registry: Registry, emulator: OpenAIEmulator
) -> None:
    emulator.behaviour.abort_after = 2
    with pytest.raises(ProviderConnectionError) as info:
        chunks(registry)
    assert info.value.partial_text == "Hello from"


def test_an_empty_stream_names_the_likely_cause(
    registry: Registry, emulator: OpenAIEmulator
) -> None:
    emulator.behaviour.empty_stream = True
    with pytest.raises(ProviderResponseError, match=r"empty stream .* context window") as info:
        chunks(registry, max_retries=2)
    assert info.value.partial_text == ""
    assert len(emulator.requests) == 1  # not retried: the same prompt overflows again


def test_an_error_event_mid_stream_is_a_response_error_with_partial_text(
    registry: Registry, emulator: OpenAIEmulator
) -> None:
    emulator.behaviour.error_after = 2
    emulator.behaviour.error_message = "the GPU fell over"
    with pytest.raises(ProviderResponseError, match="server_error: the GPU fell over") as info:
        chunks(registry)
    assert info.value.partial_text == "Hello from"
    assert info.value.error_type == "server_error"


def test_an_error_event_before_any_text_is_retried(
    registry: Registry, emulator: OpenAIEmulator
) -> None:
    emulator.behaviour.error_after = 0
    emulator.behaviour.role_chunk = False
    with pytest.raises(ProviderResponseError):
        chunks(registry, max_retries=1)
    assert len(emulator.requests) == 2


# -- error replies -------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["openai", "detail", "text"])
@pytest.mark.parametrize("stream", [True, False])
def test_the_three_error_bodies_give_the_servers_message(
    registry: Registry, emulator: OpenAIEmulator, shape: str, stream: bool
) -> None:
    emulator.behaviour.fail_status = 400
    emulator.behaviour.error_shape = shape
    emulator.behaviour.error_message = "messages must not be empty today"
    with pytest.raises(ProviderHTTPError) as info:
        (chunks if stream else complete)(registry)
    assert info.value.status == 400
    assert "answered HTTP 400: messages must not be empty today" in str(info.value)
    assert len(emulator.requests) == 1  # a 400 is not retried


def test_an_openai_error_body_gives_its_code_as_error_type(
    registry: Registry, emulator: OpenAIEmulator
) -> None:
    emulator.behaviour.fail_status = 400
    with pytest.raises(ProviderHTTPError) as info:
        complete(registry)
    assert info.value.error_type == "server_error"


@pytest.mark.parametrize("status", [401, 403])
def test_an_auth_refusal_without_a_credential_says_how_to_give_one(
    registry: Registry, emulator: OpenAIEmulator, tmp_path: Path, status: int
) -> None:
    emulator.behaviour.fail_status = status
    with pytest.raises(ProviderHTTPError) as info:
        complete(registry)
    message = str(info.value)
    assert f"HTTP {status}" in message
    assert 'the server wants a credential: add auth_env = "MY_API_KEY" to the table in ' in message
    assert f"{tmp_path / 'g4f-core.toml'} [providers.Emu]" in message
    assert "G4F_CORE_EMU_AUTH" in message


def test_an_auth_refusal_names_the_setting_the_credential_came_from(
    tmp_path: Path, emulator: OpenAIEmulator
) -> None:
    registry = configured(
        tmp_path,
        table("Emu", emulator.url, MODELS, 'auth_env = "EMU_KEY"'),
        EMU_KEY="sk-canary-refused-123",
    )
    emulator.behaviour.fail_status = 401
    emulator.behaviour.error_message = "Incorrect API key provided: sk-canary-refused-123"
    with pytest.raises(ProviderHTTPError) as info:
        complete(registry)
    message = str(info.value)
    assert "the server refused the credential from EMU_KEY: check it" in message
    assert "sk-canary-refused-123" not in message  # the echoed key is masked
    assert "Incorrect API key provided: ***" in message


def test_an_unknown_upstream_model_names_the_model_and_the_table(
    tmp_path: Path, emulator: OpenAIEmulator
) -> None:
    registry = configured(tmp_path, table("Emu", emulator.url, '{ gone = "retired-model" }'))
    with pytest.raises(ProviderHTTPError) as info:
        complete(registry)
    message = str(info.value)
    assert info.value.status == 404 and info.value.error_type == "model_not_found"
    assert "The model `retired-model` does not exist" in message
    assert "model 'gone' (sent as 'retired-model') is not served there: fix `models` in " in message
    assert "[providers.Emu]" in message


def test_a_404_on_the_route_asks_whether_base_url_is_the_api_root(
    tmp_path: Path, emulator: OpenAIEmulator
) -> None:
    registry = configured(tmp_path, table("Emu", emulator.url.removesuffix("/v1") + "/api", MODELS))
    with pytest.raises(ProviderHTTPError, match=r"is base_url the API root .* ends in /v1"):
        complete(registry)


def test_429_is_a_rate_limit_error_with_retry_after(
    registry: Registry, emulator: OpenAIEmulator
) -> None:
    emulator.behaviour.fail_status = 429
    emulator.behaviour.retry_after = "7"
    with pytest.raises(RateLimitError) as info:
        complete(registry)
    assert (info.value.status, info.value.retry_after) == (429, 7.0)


def test_429_with_a_short_retry_after_is_retried_then_answers(
    registry: Registry, emulator: OpenAIEmulator
) -> None:
    emulator.behaviour.fail_status = 429
    emulator.behaviour.fail_times = 1
    emulator.behaviour.retry_after = "0.05"
    assert complete(registry, max_retries=1) == EXPECTED
    assert len(emulator.requests) == 2


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_before_the_first_token_is_retried(
    registry: Registry, emulator: OpenAIEmulator, status: int
) -> None:
    emulator.behaviour.fail_status = status
    emulator.behaviour.fail_times = 2
    assert "".join(chunks(registry, max_retries=2)) == EXPECTED
    assert len(emulator.requests) == 3


def test_a_prompt_quoted_back_in_an_error_never_reaches_the_message(
    registry: Registry, emulator: OpenAIEmulator
) -> None:
    prompt = "my private question about 'quotes' and\nnew lines " + "x" * 400
    emulator.behaviour.fail_status = 400
    emulator.behaviour.error_message = (
        "validation failed: {'role': 'user', 'content': " + repr(prompt) + "}"
    )
    with pytest.raises(ProviderHTTPError) as info:
        complete(registry, prompt)
    message = str(info.value)
    assert "private question" not in message and "xxxxxxxx" not in message
    assert "[prompt]" in message


def test_a_json_reply_to_a_streaming_request_says_to_turn_streaming_off(
    serve: Any, tmp_path: Path
) -> None:
    from scripted_server import Reply

    server = serve(Reply.json({"choices": []}))
    registry = configured(tmp_path, table("Emu", server.url + "/v1", MODELS))
    with pytest.raises(ProviderResponseError, match="set supports_stream = false"):
        chunks(registry)


def test_an_error_object_in_a_200_reply_is_a_response_error(serve: Any, tmp_path: Path) -> None:
    from scripted_server import Reply

    server = serve(
        Reply.json({"error": {"message": "overloaded, try later", "type": "overloaded"}})
    )
    registry = configured(tmp_path, table("Emu", server.url + "/v1", MODELS))
    for call in (chunks, complete):
        with pytest.raises(ProviderResponseError, match="overloaded: overloaded, try later"):
            call(registry)


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        ({"choices": [{"index": 0, "message": {"role": "assistant", "content": None},
                       "finish_reason": "tool_calls"}]},
         "carried no text (finish_reason 'tool_calls')"),
        ({"choices": []}, "a reply without choices"),
        ([1, 2], "not a JSON object"),
        ({"choices": [{"message": {"content": 5}}]}, "`message.content` that is not a string"),
    ],
)  # fmt: skip
def test_a_whole_reply_without_text_is_a_response_error(
    serve: Any, tmp_path: Path, reply: object, says: str
) -> None:
    from scripted_server import Reply

    server = serve(Reply.json(reply))
    registry = configured(tmp_path, table("Emu", server.url + "/v1", MODELS))
    with pytest.raises(ProviderResponseError, match=says.replace("(", r"\(").replace(")", r"\)")):
        complete(registry)


@pytest.mark.parametrize(
    ("event", "says"),
    [
        ("not json", "an event that is not JSON"),
        ("[1]", "an event that is not a JSON object"),
        ('{"choices": {"0": 1}}', "`choices` that is not a list"),
        ('{"choices": ["x"]}', "a choice that is not an object"),
        ('{"choices": [{"delta": "x"}]}', "a `delta` that is not an object"),
        ('{"choices": [{"delta": {"content": 5}}]}', "`delta.content` that is not a string"),
    ],
)
def test_a_malformed_event_is_a_response_error(
    serve: Any, tmp_path: Path, event: str, says: str
) -> None:
    from scripted_server import Reply

    server = serve(Reply.sse(json.dumps({"choices": [{"delta": {"content": "ok"}}]}), event))
    registry = configured(tmp_path, table("Emu", server.url + "/v1", MODELS))
    with pytest.raises(ProviderResponseError, match=says) as info:
        chunks(registry)
    assert info.value.partial_text == "ok"


def test_only_the_first_choice_is_the_reply(serve: Any, tmp_path: Path) -> None:
    from scripted_server import Reply

    events = [
        {"choices": [{"index": 1, "delta": {"content": "other"}}]},
        {"choices": [{"index": 0, "delta": {"content": "mine"}, "finish_reason": "stop"}]},
    ]
    server = serve(Reply.sse(*map(json.dumps, events)))
    registry = configured(tmp_path, table("Emu", server.url + "/v1", MODELS))
    assert chunks(registry) == ["mine"]  # no [DONE], but a finish_reason: complete


def test_a_server_that_goes_quiet_after_finish_reason_is_complete(
    serve: Any, tmp_path: Path
) -> None:
    from scripted_server import Reply

    done = json.dumps({"choices": [{"delta": {"content": "all"}, "finish_reason": "stop"}]})
    server = serve(Reply.sse(done, hold=3.0))
    registry = configured(tmp_path, table("Emu", server.url + "/v1", MODELS))
    assert chunks(registry, timeout=0.5) == ["all"]


# -- the transport's limits apply --------------------------------------------------------


def test_the_deadline_bounds_a_slow_stream_and_keeps_what_was_delivered(
    registry: Registry, emulator: OpenAIEmulator
) -> None:
    from g4f_core import ProviderTimeoutError

    emulator.behaviour.token_delay = 0.1
    with pytest.raises(ProviderTimeoutError) as info:
        chunks(registry, deadline=0.45)
    assert info.value.phase == "deadline"
    assert info.value.partial_text and EXPECTED.startswith(info.value.partial_text)


def test_the_idle_timeout_bounds_the_gap_between_tokens(
    registry: Registry, emulator: OpenAIEmulator
) -> None:
    from g4f_core import ProviderTimeoutError

    emulator.behaviour.token_delay = 0.6
    with pytest.raises(ProviderTimeoutError, match=r"no event .* for 0.2 s"):
        chunks(registry, timeout=0.2)


def test_max_reply_bytes_bounds_a_stream_and_a_whole_reply(
    registry: Registry, emulator: OpenAIEmulator
) -> None:
    emulator.behaviour.reply_tokens = 5000
    for call in (chunks, complete):
        with pytest.raises(ProviderResponseError, match="exceeded max_reply_bytes=20000"):
            call(registry, max_reply_bytes=20_000)


def test_the_provider_uses_only_public_g4f_core_names() -> None:
    import ast

    folder = Path(__file__).resolve().parent.parent / "providers" / "g4f_core_providers" / "openai"
    imported = set()
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("g4f_core"):
                imported.add(node.module)
            if isinstance(node, ast.Import):
                imported |= {a.name for a in node.names if a.name.startswith("g4f_core")}
    assert imported == {"g4f_core"}
    assert "Client" in g4f_core.__all__ and "hookimpl" in g4f_core.__all__
