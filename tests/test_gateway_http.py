"""The gateway over raw HTTP: routes with and without /v1, exact shapes and SSE framing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from gateway_kit import h2o_registry, post_chat, raw, served, sse_data

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


def expected(emu: H2oEmulator, model: str = "falcon-40b") -> str:
    return "".join(emu.reply_for(format_prompt(HELLO), models[model]))


@pytest.mark.parametrize("prefix", ["/v1", ""])
def test_every_endpoint_answers_with_and_without_the_v1_prefix(
    gateway: GatewayServer, prefix: str
) -> None:
    listing = raw(gateway, "GET", f"{prefix}/models")
    assert listing.status == 200 and listing.json()["object"] == "list"
    providers = raw(gateway, "GET", f"{prefix}/providers")
    assert [p["name"] for p in providers.json()["providers"]] == ["H2o"]
    health = raw(gateway, "GET", f"{prefix}/health")
    assert health.json()["status"] == "ok"
    chat = post_chat(
        gateway, {"model": "H2o/falcon-7b", "messages": HELLO}, f"{prefix}/chat/completions"
    )
    assert chat.status == 200 and chat.json()["object"] == "chat.completion"


def test_the_model_list_has_the_openai_shape(gateway: GatewayServer) -> None:
    data = raw(gateway, "GET", "/v1/models").json()
    assert set(data) == {"object", "data"}
    first = data["data"][0]
    assert first == {"id": "H2o/falcon-40b", "object": "model", "created": 0, "owned_by": "H2o"}
    assert {"id": "falcon-7b", "object": "model", "created": 0, "owned_by": "g4f-core"} in data[
        "data"
    ]


def test_a_stream_is_sse_with_role_first_finish_last_then_done(
    emu: H2oEmulator, gateway: GatewayServer
) -> None:
    emu.faults.token_delay = 0.01
    reply = post_chat(gateway, {"model": "H2o/falcon-40b", "messages": HELLO, "stream": True})
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert reply.headers["x-accel-buffering"] == "no"
    assert reply.headers["cache-control"] == "no-cache"
    events = sse_data(reply.body)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all("role" not in c["choices"][0]["delta"] for c in chunks[1:])
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert len({c["id"] for c in chunks}) == 1
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == expected(emu)


def test_the_root_is_the_web_page_and_other_unknown_paths_a_json_404(
    gateway: GatewayServer,
) -> None:
    page = raw(gateway, "GET", "/")
    assert page.status == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    reply = raw(gateway, "GET", "/static/nothing.js")
    assert reply.status == 404
    assert reply.error["code"] == "unknown_url"


def test_a_wrong_method_is_a_json_405_naming_the_allowed_one(gateway: GatewayServer) -> None:
    reply = raw(gateway, "GET", "/v1/chat/completions")
    assert reply.status == 405
    assert reply.headers["allow"] == "POST"
    assert reply.error["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (json.dumps({"model": "H2o/falcon-7b"}).encode(), "messages"),
        (json.dumps({"messages": HELLO}).encode(), "model"),
        (
            json.dumps({"model": "H2o/falcon-7b", "messages": HELLO, "stream": "yes"}).encode(),
            "stream",
        ),
        (
            json.dumps(
                {
                    "model": "H2o/falcon-7b",
                    "messages": [{"role": "user", "content": [{"type": "image_url"}]}],
                }
            ).encode(),
            "messages",
        ),
        (
            json.dumps(
                {"model": "H2o/falcon-7b", "messages": [{"role": "tool", "content": "x"}]}
            ).encode(),
            "messages",
        ),
    ],
)
def test_a_malformed_body_is_a_json_400_naming_the_field(
    gateway: GatewayServer, emu: H2oEmulator, body: bytes, param: str | None
) -> None:
    reply = post_chat(gateway, body)
    assert reply.status == 400
    assert reply.error["param"] == param
    assert reply.headers["x-should-retry"] == "false"
    assert emu.connections_opened == 0
