"""Every error row of the gateway: its status and body over raw HTTP, and what openai raises.

Upstream faults come from the H2o emulator's fault switches and from a throwaway SSE
provider whose upstream is a scripted loopback server (for exact statuses and headers).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import openai
import pytest
from gateway_kit import client, h2o_registry, post_chat, raw, served, sse_data
from plugin_kit import provider_source
from scripted_server import Reply, ScriptedServer

from g4f_core.gateway.serve import GatewayServer
from g4f_core.plugins.registry import Registry
from g4f_core_providers.h2o.server import H2oEmulator

HELLO = [{"role": "user", "content": "Hello there"}]
CHAT = {"model": "H2o/falcon-40b", "messages": HELLO}

#: A provider relaying ``data: {"t": ...}`` events of its upstream (the scripted server).
SSE_PROVIDER = provider_source(
    models=("s1",),
    url="http://127.0.0.1:9",
    header="import json",
    body="""
    from g4f_core import Client, current
    with Client(current()) as http:
        response = http.request("POST", "/chat", json={"n": len(messages)}, stream=True)
        for data in http.events(response):
            if data == "[DONE]":
                return
            yield json.loads(data)["t"]
    """,
)


@pytest.fixture
def emu() -> Iterator[H2oEmulator]:
    with H2oEmulator() as server:
        yield server


@pytest.fixture
def gateway(emu: H2oEmulator) -> Iterator[GatewayServer]:
    with served(h2o_registry(emu, G4F_CORE_TIMEOUT="0.5")) as server:
        yield server


@pytest.fixture
def scripted(
    install: Callable[..., Registry], serve: Callable[..., ScriptedServer]
) -> Callable[..., Iterator[GatewayServer]]:
    """A gateway over the SSE provider, its upstream scripted by the test."""

    def build(script: object) -> Iterator[GatewayServer]:
        upstream = serve(script)
        registry = install(
            {"G4F_CORE_SCRIPTED_URL": upstream.url, "G4F_CORE_MAX_RETRIES": "0"},
            Scripted=SSE_PROVIDER,
        )
        with served(registry) as server:
            yield server

    return build


def raises(server: GatewayServer, kind: type[Exception], **body: object) -> Exception:
    with client(server) as api, pytest.raises(kind) as caught:
        api.chat.completions.create(**{**CHAT, **body})  # type: ignore[call-overload]
    return caught.value


# -- 400 / 404: bad requests, before any I/O --------------------------------------------------


def test_a_parameter_the_provider_cannot_honour_is_a_400_naming_it(
    emu: H2oEmulator, gateway: GatewayServer
) -> None:
    error = raises(gateway, openai.BadRequestError, top_p=0.5)
    assert isinstance(error, openai.BadRequestError)
    assert error.param == "top_p" and error.code == "unsupported_parameter"
    assert "top_p" in error.message
    reply = post_chat(gateway, {**CHAT, "stop": ["\n"]})
    assert reply.status == 400 and reply.error["param"] == "stop"
    assert reply.headers["x-should-retry"] == "false"
    assert emu.connections_opened == 0


def test_an_option_value_the_provider_refuses_is_a_400(
    emu: H2oEmulator, gateway: GatewayServer
) -> None:
    error = raises(gateway, openai.BadRequestError, max_tokens=0)
    assert "max_new_tokens" in str(error)
    error = raises(gateway, openai.BadRequestError, extra_body={"repetiton_penalty": 1.1})
    assert "did you mean 'repetition_penalty'" in str(error)
    assert emu.connections_opened == 0


@pytest.mark.parametrize(
    ("model", "hint"),
    [
        ("H2o/falcon-70b", "falcon-7b"),
        ("falcon-4b", "falcon-40b"),
        ("H20/falcon-7b", "H2o/falcon-7b"),
    ],
)
def test_an_unknown_model_or_provider_is_a_404_with_did_you_mean(
    emu: H2oEmulator, gateway: GatewayServer, model: str, hint: str
) -> None:
    error = raises(gateway, openai.NotFoundError, model=model)
    assert isinstance(error, openai.NotFoundError)
    assert error.status_code == 404 and error.code == "model_not_found"
    assert f"did you mean '{hint}'" in error.message
    assert emu.connections_opened == 0


# -- 502 / 504 / 429: upstream failures before the first token --------------------------------


def test_an_upstream_failure_is_a_502_and_the_client_raises_internal_server_error(
    emu: H2oEmulator, gateway: GatewayServer
) -> None:
    emu.faults.fail_generation = [(500, "text/plain", b"boom")]
    error = raises(gateway, openai.InternalServerError)
    assert isinstance(error, openai.InternalServerError)
    assert error.status_code == 502 and error.code == "upstream_error"
    emu.faults.fail_generation = [(500, "text/plain", b"boom")]
    reply = post_chat(gateway, {**CHAT, "stream": True})
    assert reply.status == 502 and reply.error["type"] == "upstream_error"
    assert "x-should-retry" not in reply.headers  # a 500 upstream may pass


def test_an_upstream_failure_a_retry_cannot_fix_says_x_should_retry_false(
    emu: H2oEmulator, gateway: GatewayServer
) -> None:
    emu.faults.post_refactor = True  # a protocol H2o does not speak: retrying will not help
    reply = post_chat(gateway, {**CHAT, "stream": True})
    assert reply.status == 502
    assert reply.headers["x-should-retry"] == "false"
    with client(gateway, max_retries=2) as api, pytest.raises(openai.InternalServerError):
        api.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    generations = [r for r in emu.requests if r.path.startswith("/conversation/")]
    assert len([r for r in generations if r.method == "POST"]) == 2  # the client did not retry


def test_an_upstream_timeout_is_a_504(emu: H2oEmulator, gateway: GatewayServer) -> None:
    emu.faults.stall_after = 0
    emu.faults.stall_seconds = 3.0
    error = raises(gateway, openai.InternalServerError, stream=True)
    assert isinstance(error, openai.InternalServerError)
    assert error.status_code == 504 and error.code == "upstream_timeout"


def test_an_upstream_rate_limit_is_a_429_with_retry_after(
    scripted: Callable[..., Iterator[GatewayServer]],
) -> None:
    limited = Reply.json({"error": "slow down"}, 429, headers={"Retry-After": "7"})
    for server in scripted(limited):
        reply = post_chat(server, {"model": "Scripted/s1", "messages": HELLO})
        assert reply.status == 429
        assert reply.headers["retry-after"] == "7"
        assert reply.error["code"] == "rate_limit_exceeded"
        error = raises(server, openai.RateLimitError, model="Scripted/s1")
        assert isinstance(error, openai.RateLimitError) and error.status_code == 429


def test_a_provider_missing_its_credential_is_a_503_the_operator_fixes(
    install: Callable[..., Registry],
) -> None:
    registry = install(Keyed=provider_source(needs_auth=True))
    with served(registry) as server:
        reply = post_chat(server, {"model": "Keyed/m1", "messages": HELLO})
    assert reply.status == 503
    assert reply.error["code"] == "provider_not_configured"
    assert reply.headers["x-should-retry"] == "false"
    assert "G4F_CORE_<NAME>_AUTH" in reply.error["message"]


# -- after the first token --------------------------------------------------------------------


def test_a_failure_after_the_first_token_is_one_error_event_that_ends_the_stream(
    emu: H2oEmulator, gateway: GatewayServer
) -> None:
    emu.faults.incomplete_after = 3
    reply = post_chat(gateway, {**CHAT, "stream": True})
    assert reply.status == 200
    events = sse_data(reply.body)
    assert "[DONE]" not in events
    last = json.loads(events[-1])
    assert set(last) == {"error"} and last["error"]["type"] == "upstream_error"
    assert all("choices" in json.loads(e) for e in events[:-1])
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content", "") for e in events[:-1])
    assert text  # the three tokens were relayed first


def test_the_client_raises_api_error_on_the_error_event_after_its_tokens(
    emu: H2oEmulator, gateway: GatewayServer
) -> None:
    emu.faults.incomplete_after = 3
    got: list[str] = []
    with client(gateway) as api, pytest.raises(openai.APIError) as caught:
        for chunk in api.chat.completions.create(**CHAT, stream=True):  # type: ignore[call-overload]
            got.append(chunk.choices[0].delta.content or "")
    assert not isinstance(caught.value, openai.APIStatusError)
    assert "Incomplete generation" in caught.value.message
    assert "".join(got)


def test_a_whole_reply_that_fails_midway_is_an_error_status_not_partial_text(
    emu: H2oEmulator, gateway: GatewayServer
) -> None:
    emu.faults.incomplete_after = 3
    reply = post_chat(gateway, CHAT)
    assert reply.status == 502
    assert reply.error["type"] == "upstream_error"


# -- 503 at --max-streams ---------------------------------------------------------------------


def test_a_call_past_max_streams_is_a_503_with_retry_after(emu: H2oEmulator) -> None:
    emu.faults.script = [f" t{i}" for i in range(200)]
    emu.faults.token_delay = 0.05  # 10 s of tokens: the holder keeps its slot while we look
    with served(h2o_registry(emu), max_streams=1) as server:
        first_token, release = threading.Event(), threading.Event()

        def hold() -> None:
            with client(server) as api:
                for _ in api.chat.completions.create(**CHAT, stream=True):  # type: ignore[call-overload]
                    first_token.set()
                    release.wait(20)
                    break  # leaving the stream hangs up: the gateway gives the slot back

        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        assert first_token.wait(10)
        reply = post_chat(server, CHAT)
        assert reply.status == 503
        assert reply.headers["retry-after"] == "1"
        assert reply.error["code"] == "too_many_streams"
        error = raises(server, openai.InternalServerError)
        assert isinstance(error, openai.InternalServerError) and error.status_code == 503
        release.set()
        holder.join(20)
        end = time.monotonic() + 5
        while raw(server, "GET", "/health").json()["streams"]["active"] and time.monotonic() < end:
            time.sleep(0.05)
        emu.faults.script = None
        emu.faults.token_delay = 0.0
        assert post_chat(server, CHAT).status == 200  # the slot came back
