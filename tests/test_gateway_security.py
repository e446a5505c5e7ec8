"""Security by default: the key, transport settings a body cannot set, the body cap, CORS, logs."""

from __future__ import annotations

import json
import logging
import select
import socket
from collections.abc import Iterator

import openai
import pytest
from gateway_kit import client, h2o_registry, post_chat, raw, served

from g4f_core.gateway import GatewayConfig
from g4f_core.gateway.serve import GatewayServer
from g4f_core_providers.h2o.server import H2oEmulator

HELLO = [{"role": "user", "content": "Hello there"}]
CHAT = {"model": "H2o/falcon-40b", "messages": HELLO}
KEY = "sk-gateway-canary-5f1e"
ORIGIN = "https://app.example.org"


@pytest.fixture
def emu() -> Iterator[H2oEmulator]:
    with H2oEmulator() as server:
        yield server


@pytest.fixture
def keyed(emu: H2oEmulator) -> Iterator[GatewayServer]:
    with served(h2o_registry(emu), api_key=KEY) as server:
        yield server


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A listening loopback socket: a body naming it must never make the gateway connect."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock
    sock.close()


def connected(sock: socket.socket, wait: float = 0.5) -> bool:
    readable, _, _ = select.select([sock], [], [], wait)
    return bool(readable)


# -- the key ----------------------------------------------------------------------------------


def test_without_the_key_every_endpoint_but_health_is_a_401(keyed: GatewayServer) -> None:
    for method, path in (
        ("GET", "/v1/models"),
        ("GET", "/providers"),
        ("POST", "/v1/chat/completions"),
    ):
        reply = raw(keyed, method, path, b"{}")
        assert reply.status == 401, path
        assert reply.error["code"] == "invalid_api_key"
        assert reply.headers["www-authenticate"] == "Bearer"
    assert raw(keyed, "GET", "/health").status == 200


def test_the_client_raises_authentication_error_on_a_wrong_key_and_works_with_the_right_one(
    keyed: GatewayServer,
) -> None:
    with client(keyed, key="sk-wrong") as api, pytest.raises(openai.AuthenticationError) as caught:
        api.models.list()
    assert caught.value.status_code == 401
    assert KEY not in str(caught.value.body)
    with client(keyed, key=KEY) as api:
        assert api.chat.completions.create(**CHAT).choices[0].message.content  # type: ignore[call-overload]


def test_the_key_must_come_as_a_bearer_token(keyed: GatewayServer) -> None:
    assert raw(keyed, "GET", "/v1/models", headers={"Authorization": KEY}).status == 401
    assert raw(keyed, "GET", "/v1/models", headers={"Authorization": f"Basic {KEY}"}).status == 401
    ok = raw(keyed, "GET", "/v1/models", headers={"Authorization": f"Bearer {KEY}"})
    assert ok.status == 200


# -- transport settings ------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["base_url", "proxy", "ca_bundle", "auth", "timeout", "api_base"])
def test_a_body_cannot_set_a_transport_setting_and_no_connection_reaches_what_it_names(
    emu: H2oEmulator, listener: socket.socket, field: str
) -> None:
    port = listener.getsockname()[1]
    target = f"http://127.0.0.1:{port}"
    with served(h2o_registry(emu)) as server:
        reply = post_chat(server, {**CHAT, field: target})
        assert reply.status == 400
        assert reply.error["param"] == field and reply.error["code"] == "forbidden_parameter"
        with client(server) as api, pytest.raises(openai.BadRequestError):
            api.chat.completions.create(**CHAT, extra_body={field: target})  # type: ignore[call-overload]
        with client(server) as api, pytest.raises(openai.NotFoundError):
            api.chat.completions.create(model=target, messages=HELLO)
    assert not connected(listener)
    assert emu.connections_opened == 0


# -- the body cap ------------------------------------------------------------------------------


def test_a_body_over_the_cap_is_a_json_413(emu: H2oEmulator) -> None:
    with served(h2o_registry(emu), max_body_bytes=4096) as server:
        big = {**CHAT, "messages": [{"role": "user", "content": "x" * 8192}]}
        reply = post_chat(server, big)
        assert reply.status == 413
        assert reply.error["code"] == "request_too_large"
        with client(server) as api, pytest.raises(openai.APIStatusError) as caught:
            api.chat.completions.create(**big)  # type: ignore[call-overload]
        assert caught.value.status_code == 413
        assert post_chat(server, CHAT).status == 200
    assert emu.connections_opened == 1  # only the last, small call reached H2o


def test_the_default_cap_is_8_mib_and_is_enforced_before_the_body_is_read(
    emu: H2oEmulator,
) -> None:
    assert GatewayConfig().max_body_bytes == 8 << 20
    with served(h2o_registry(emu)) as server:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            head = (
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {(8 << 20) + 1}\r\n\r\n"
            )
            sock.sendall(head.encode() + b'{"model": ')  # a few bytes of the body, no more
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
    status, _, rest = answer.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 413")
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in headers.lower()
    assert json.loads(body)["error"]["code"] == "request_too_large"
    assert emu.connections_opened == 0


# -- CORS --------------------------------------------------------------------------------------


def test_cors_is_off_by_default(emu: H2oEmulator) -> None:
    with served(h2o_registry(emu)) as server:
        reply = raw(server, "GET", "/v1/models", headers={"Origin": ORIGIN})
        asked = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
        pre = raw(server, "OPTIONS", "/v1/chat/completions", headers=asked)
    assert reply.status == 200
    assert not [h for h in reply.headers if h.startswith("access-control-")]
    assert pre.status == 204
    assert not [h for h in pre.headers if h.startswith("access-control-")]


def test_cors_names_exact_origins_and_answers_preflights(emu: H2oEmulator) -> None:
    with served(h2o_registry(emu), cors_origins=(ORIGIN,), api_key=KEY) as server:
        asked = {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os",
        }
        pre = raw(server, "OPTIONS", "/v1/chat/completions", headers=asked)
        ok = post_chat(server, CHAT, headers={"Origin": ORIGIN, "Authorization": f"Bearer {KEY}"})
        other = raw(server, "GET", "/health", headers={"Origin": "https://evil.example"})
    assert pre.status == 204
    assert pre.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert "authorization" in pre.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in pre.headers
    assert ok.status == 200
    assert ok.headers["access-control-allow-origin"] == ORIGIN
    assert ok.headers["vary"] == "Origin"
    assert "x-g4f-provider" in ok.headers["access-control-expose-headers"]
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize("origin", ["*", "app.example.org", "https://app.example.org/path"])
def test_cors_refuses_wildcards_and_anything_but_an_origin(origin: str) -> None:
    with pytest.raises(ValueError, match="origin"):
        GatewayConfig(cors_origins=(origin,))


# -- the access log ----------------------------------------------------------------------------


def test_the_access_log_line_has_method_path_status_provider_duration_size_and_no_text(
    emu: H2oEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    canary = "purple-elephant-canary-7731"
    caplog.set_level(logging.DEBUG)
    with served(h2o_registry(emu), api_key=KEY) as server:
        with client(server, key=KEY) as api:
            whole = api.chat.completions.create(
                model="H2o/falcon-40b", messages=[{"role": "user", "content": canary}]
            )
            streamed = api.chat.completions.create(
                model="H2o/falcon-40b", messages=[{"role": "user", "content": canary}], stream=True
            )
            reply = "".join(c.choices[0].delta.content or "" for c in streamed)
        raw(server, "GET", "/v1/models")  # a 401
    lines = [r.getMessage() for r in caplog.records if r.name == "g4f_core.gateway.access"]
    assert len(lines) == 3
    first = lines[0]
    assert first.startswith('"POST /v1/chat/completions" 200 provider=g4f-core:H2o attempts=1 ')
    assert "duration=" in first and "ms bytes=" in first
    assert lines[2].startswith('"GET /v1/models" 401 provider=- ')
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert canary not in everything
    assert reply not in everything and whole.choices[0].message.content not in everything
    assert KEY not in everything
