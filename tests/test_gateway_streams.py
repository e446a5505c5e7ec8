"""Streams that behave: a client that leaves closes the upstream; silence gets keep-alives."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
from gateway_kit import client, h2o_registry, post_chat, raw, served, sse_data

from g4f_core.gateway.serve import GatewayServer
from g4f_core_providers.h2o.server import H2oEmulator

HELLO = [{"role": "user", "content": "Hello there"}]
CHAT = {"model": "H2o/falcon-40b", "messages": HELLO}


@pytest.fixture
def emu() -> Iterator[H2oEmulator]:
    with H2oEmulator() as server:
        yield server


def deleted_within(emu: H2oEmulator, seconds: float) -> float | None:
    """Seconds until the emulator saw the conversation's DELETE, or None."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if any(r.method == "DELETE" for r in emu.requests) and not emu.conversation_ids():
            return time.monotonic() - start
        time.sleep(0.01)
    return None


def open_stream(server: GatewayServer, body: dict[str, object]) -> socket.socket:
    """A raw streaming request whose reply is left unread: the test decides when to hang up."""
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    data = json.dumps(body).encode()
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(data)}\r\n\r\n".encode()
        + data
    )
    return sock


def read_until(sock: socket.socket, marker: bytes, limit: float = 10.0) -> bytes:
    got = b""
    end = time.monotonic() + limit
    while marker not in got and time.monotonic() < end:
        data = sock.recv(65536)
        if not data:
            break
        got += data
    return got


def test_a_client_leaving_mid_stream_closes_the_upstream_within_a_second(
    emu: H2oEmulator,
) -> None:
    emu.faults.script = [f" t{i}" for i in range(400)]
    emu.faults.token_delay = 0.02  # 8 s of tokens, unless the call is closed
    with served(h2o_registry(emu)) as server, client(server) as api:
        stream = api.chat.completions.create(**CHAT, stream=True)  # type: ignore[call-overload]
        first = next(iter(stream))
        assert first.choices[0].delta.content
        stream.close()
        took = deleted_within(emu, 3.0)
    assert took is not None and took < 1.0
    generates = [r for r in emu.requests if r.method == "POST" and "/conversation/" in r.path]
    assert emu.wait_for_close(generates[0].connection, 1.0)


def test_a_client_leaving_while_the_upstream_is_silent_still_closes_it_within_a_second(
    emu: H2oEmulator,
) -> None:
    emu.faults.stall_after = 2
    emu.faults.stall_seconds = 8.0
    with served(h2o_registry(emu)) as server:
        sock = open_stream(server, {**CHAT, "stream": True})
        assert b'"role":"assistant"' in read_until(sock, b'"role":"assistant"')
        time.sleep(0.3)  # the upstream is now stalled
        sock.close()
        took = deleted_within(emu, 3.0)
        assert took is not None and took < 1.0
        assert raw(server, "GET", "/health").json()["streams"]["active"] == 0


def test_a_client_leaving_before_the_first_token_releases_its_slot(emu: H2oEmulator) -> None:
    emu.faults.stall_after = 0
    emu.faults.stall_seconds = 4.0
    with served(h2o_registry(emu), max_streams=1) as server:
        sock = open_stream(server, {**CHAT, "stream": True})
        time.sleep(0.4)
        sock.close()
        end = time.monotonic() + 3.0
        while raw(server, "GET", "/health").json()["streams"]["active"] and time.monotonic() < end:
            time.sleep(0.05)
        assert raw(server, "GET", "/health").json()["streams"]["active"] == 0


def test_a_silent_upstream_gets_keep_alive_comments_then_the_reply(emu: H2oEmulator) -> None:
    emu.faults.stall_after = 2
    emu.faults.stall_seconds = 1.0
    with served(h2o_registry(emu), keepalive=0.2) as server:
        reply = post_chat(server, {**CHAT, "stream": True})
    assert reply.status == 200
    assert reply.body.count(b": keep-alive\n\n") >= 2
    assert sse_data(reply.body)[-1] == "[DONE]"


def test_a_slow_first_token_commits_to_200_and_keeps_the_connection_alive(
    emu: H2oEmulator,
) -> None:
    emu.faults.stall_after = 0
    emu.faults.stall_seconds = 1.0
    with served(h2o_registry(emu), first_chunk_wait=0.3, keepalive=0.2) as server:
        reply = post_chat(server, {**CHAT, "stream": True})
    assert reply.status == 200
    assert reply.body.startswith(b": keep-alive\n\n")
    events = sse_data(reply.body)
    assert events[-1] == "[DONE]"
    assert json.loads(events[0])["choices"][0]["delta"]["role"] == "assistant"


def test_the_provider_timeout_applies_through_the_gateway(emu: H2oEmulator) -> None:
    emu.faults.stall_after = 2
    emu.faults.stall_seconds = 5.0
    started = time.monotonic()
    with served(h2o_registry(emu, G4F_CORE_TIMEOUT="0.5")) as server:
        reply = post_chat(server, {**CHAT, "stream": True})
    assert time.monotonic() - started < 4.0
    last = json.loads(sse_data(reply.body)[-1])
    assert last["error"]["code"] == "upstream_timeout"


def test_many_tokens_already_buffered_go_out_in_few_events(emu: H2oEmulator) -> None:
    emu.faults.script = [f" w{i}" for i in range(1000)]
    with served(h2o_registry(emu)) as server:
        reply = post_chat(server, {**CHAT, "stream": True})
    events = sse_data(reply.body)
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content", "") for e in events[:-1])
    assert text == "".join(f" w{i}" for i in range(1000))
    assert len(events) < 1000 / 2  # batched: far fewer events than tokens
