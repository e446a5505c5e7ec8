"""The OpenAI-compatible emulator speaks the protocol as real servers do, byte for byte:
checked requests, the three error shapes, each framing variant, and a clean stop."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from g4f_core_providers.openai.server import OpenAIEmulator

HELLO = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def emulator() -> Iterator[OpenAIEmulator]:
    with OpenAIEmulator(models=["m", "other"]) as server:
        yield server


def call(
    emulator: OpenAIEmulator,
    body: Any = HELLO,
    *,
    method: str = "POST",
    path: str = "/v1/chat/completions",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(emulator.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(
            method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})}
        )
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def events(raw: bytes) -> list[str]:
    return [line[5:].strip() for line in raw.decode().splitlines() if line.startswith("data:")]


def test_a_whole_reply_has_the_apis_shape(emulator: OpenAIEmulator) -> None:
    status, headers, raw = call(emulator)
    data = json.loads(raw)
    assert (status, headers["content-type"]) == (200, "application/json")
    assert data["object"] == "chat.completion" and data["model"] == "m"
    [choice] = data["choices"]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"].startswith("Hello from m!")
    assert choice["finish_reason"] == "stop"
    assert data["usage"]["completion_tokens"] == len(choice["message"]["content"].split())


def test_a_stream_is_role_chunk_tokens_finish_and_done(emulator: OpenAIEmulator) -> None:
    status, headers, raw = call(emulator, {**HELLO, "stream": True})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert headers["transfer-encoding"] == "chunked"
    datas = events(raw)
    assert datas[-1] == "[DONE]"
    chunks = [json.loads(d) for d in datas[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    text = "".join(c["choices"][0]["delta"]["content"] for c in chunks[1:-1])
    assert text == json.loads(call(emulator)[2])["choices"][0]["message"]["content"]
    assert raw.count(b"data: ") == len(datas)


@pytest.mark.parametrize(
    ("switch", "check"),
    [
        ({"framing": "compact"}, lambda raw: b"data:{" in raw and b"data: " not in raw),
        ({"framing": "crlf"}, lambda raw: raw.count(b"\r\n\r\n") >= raw.count(b"data:")),
        ({"keepalive": True}, lambda raw: raw.count(b": keep-alive") == raw.count(b"data:")),
        ({"done": False}, lambda raw: b"[DONE]" not in raw and b'"finish_reason": "stop"' in raw),
        ({"finish": False}, lambda raw: b'"finish_reason": "stop"' not in raw),
        ({"usage": True}, lambda raw: b'"choices": [], "usage"' in raw),
        ({"role_chunk": False}, lambda raw: b'"role"' not in raw),
        ({"empty_stream": True}, lambda raw: raw == b""),
        ({"cut_after": 2}, lambda raw: raw.count(b'"content"') == 2 and b"[DONE]" not in raw),
    ],
)
def test_each_framing_switch_changes_the_bytes(
    emulator: OpenAIEmulator, switch: dict[str, Any], check: Any
) -> None:
    for key, value in switch.items():
        setattr(emulator.behaviour, key, value)
    _, _, raw = call(emulator, {**HELLO, "stream": True})
    assert check(raw), raw[:300]


def test_an_error_event_ends_the_stream_after_the_given_tokens(emulator: OpenAIEmulator) -> None:
    emulator.behaviour.error_after = 1
    datas = events(call(emulator, {**HELLO, "stream": True})[2])
    assert json.loads(datas[-1]) == {
        "error": {"message": "the emulator was told to fail", "type": "server_error", "code": None}
    }
    assert sum('"content"' in d for d in datas) == 1


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({**HELLO, "model": "nope"}, 404, "The model `nope` does not exist"),
        ({**HELLO, "messages": []}, 400, "'messages' must be a non-empty array"),
        ({**HELLO, "messages": [{"role": "robot", "content": "x"}]}, 400, "'role' must be one of"),
        ({**HELLO, "temperature": 3}, 400, "out of range for 'temperature'"),
        ({**HELLO, "top_p": -1}, 400, "out of range for 'top_p'"),
        ({**HELLO, "max_tokens": 0}, 400, "'max_tokens' must be at least 1"),
        ({**HELLO, "stop": ["a"] * 5}, 400, "'stop' takes at most 4"),
        ({**HELLO, "stop": 5}, 400, "'stop' must be a string or an array"),
        ({**HELLO, "wat": 1}, 400, "Unrecognized request argument supplied: wat"),
        ({**HELLO, "stream": "yes"}, 400, "'stream' must be a boolean"),
        ([1], 400, "must be a JSON object"),
    ],
)
def test_a_request_the_api_refuses_gets_its_error(
    emulator: OpenAIEmulator, body: Any, status: int, says: str
) -> None:
    got, headers, raw = call(emulator, body)
    assert got == status and headers["content-type"] == "application/json"
    assert says in json.loads(raw)["error"]["message"]


@pytest.mark.parametrize(
    ("shape", "ctype", "body"),
    [
        ("openai", "application/json", {"error": {"message": "boom", "type": "server_error",
                                                  "param": None, "code": None}}),
        ("detail", "application/json", {"detail": "boom"}),
        ("text", "text/plain; charset=utf-8", "boom"),
    ],
)  # fmt: skip
def test_a_failure_comes_in_the_chosen_error_shape(
    emulator: OpenAIEmulator, shape: str, ctype: str, body: Any
) -> None:
    emulator.behaviour.fail_status = 503
    emulator.behaviour.error_shape = shape
    emulator.behaviour.error_message = "boom"
    emulator.behaviour.retry_after = "2"
    status, headers, raw = call(emulator)
    assert (status, headers["content-type"], headers["retry-after"]) == (503, ctype, "2")
    assert (json.loads(raw) if ctype == "application/json" else raw.decode()) == body


def test_fail_times_fails_only_the_first_requests(emulator: OpenAIEmulator) -> None:
    emulator.behaviour.fail_status = 500
    emulator.behaviour.fail_times = 2
    assert [call(emulator)[0] for _ in range(4)] == [500, 500, 200, 200]


def test_a_key_is_required_when_the_endpoint_has_one() -> None:
    with OpenAIEmulator(models=["m"], require_auth=True) as server:
        assert call(server)[0] == 401
        assert json.loads(call(server)[2])["error"]["code"] == "invalid_api_key"
        assert call(server, headers={"Authorization": "Bearer "})[0] == 401
        assert call(server, headers={"Authorization": "Bearer k"})[0] == 200


def test_models_and_unknown_routes(emulator: OpenAIEmulator) -> None:
    status, _, raw = call(emulator, None, method="GET", path="/v1/models")
    assert status == 200 and [m["id"] for m in json.loads(raw)["data"]] == ["m", "other"]
    assert call(emulator, path="/chat/completions")[0] == 200  # also without /v1
    assert call(emulator, path="/v1/completions")[0] == 404
    assert call(emulator, None, method="GET", path="/v1/nothing")[0] == 404


def test_requests_are_recorded_with_lowercased_headers(emulator: OpenAIEmulator) -> None:
    call(emulator, headers={"X-Title": "t"})
    [request] = emulator.requests
    assert (request.method, request.path, request.body) == ("POST", "/v1/chat/completions", HELLO)
    assert request.headers["x-title"] == "t"


def test_token_delay_spaces_the_events() -> None:
    with OpenAIEmulator(models=["m"], token_delay=0.05) as server:
        start = time.monotonic()
        call(server, {**HELLO, "stream": True, "max_tokens": 4})
        assert time.monotonic() - start >= 4 * 0.05


def test_reply_tokens_sets_the_length_of_the_reply(emulator: OpenAIEmulator) -> None:
    emulator.behaviour.reply_tokens = 1000
    text = json.loads(call(emulator)[2])["choices"][0]["message"]["content"]
    assert len(text.split()) == 1000


def test_stop_ends_an_idle_keep_alive_connection_at_once() -> None:
    server = OpenAIEmulator(models=["m"])
    url = urlsplit(server.start())
    sock = socket.create_connection((url.hostname or "", url.port or 0), timeout=5)
    try:
        time.sleep(0.05)
        start = time.monotonic()
        server.stop()
        assert sock.recv(1) == b""  # closed by the server, not left to a timeout
        assert time.monotonic() - start < 2.0
    finally:
        sock.close()
    with pytest.raises(RuntimeError):
        OpenAIEmulator().url  # noqa: B018 - no address before start()
