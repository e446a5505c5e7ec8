"""The emulator is a server users run: what one client can make it hold is bounded.

A request body is refused (413, as SvelteKit's body limit answers) before more than the
limit is read, however it is framed; a request head and body must arrive within the
intake time, so half-sent heads cannot hold threads forever; connections beyond the
limit are answered 503 at once instead of getting a thread each; and JSON the parser
cannot take (nested too deeply, or an escaped lone surrogate) gets the error chat-ui or
TGI would answer, not a dropped connection with a traceback.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from g4f_core_providers.h2o._emulator_handler import MAX_BODY
from g4f_core_providers.h2o.server import H2oEmulator


@pytest.fixture
def emulator() -> Iterator[H2oEmulator]:
    with H2oEmulator(head_timeout=0.6, max_connections=12) as server:
        yield server


def connect(emulator: H2oEmulator) -> socket.socket:
    port = int(emulator.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def answer(sock: socket.socket, timeout: float = 3.0) -> bytes:
    """What the server sends until it closes (or ``timeout`` passes)."""
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while True:
            part = sock.recv(65536)
            if not part:
                break
            data += part
    return data


def handler_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("h2o-emulator-connection"))


def wait_for(predicate: object, timeout: float = 5.0) -> bool:
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def still_serves(emulator: H2oEmulator) -> bool:
    return requests.get(f"{emulator.url}/", timeout=5).status_code == 200


HEAD = "POST /conversation HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"


def test_a_huge_chunk_in_a_chunked_body_is_refused_413_before_it_is_read(
    emulator: H2oEmulator,
) -> None:
    with connect(emulator) as sock:
        sock.sendall(f"{HEAD}Transfer-Encoding: chunked\r\n\r\n".encode() + b"19000000\r\n")
        sock.sendall(b"x" * 4096)  # the start of a 400 MiB chunk, never the rest
        reply = answer(sock)  # an emulator reading the chunk whole would still be waiting
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert b"exceeds limit of 8388608 bytes" in reply
    assert still_serves(emulator)


def test_chunks_adding_up_past_the_limit_are_refused_413(emulator: H2oEmulator) -> None:
    piece = 1 << 20
    with connect(emulator) as sock:
        sock.sendall(f"{HEAD}Transfer-Encoding: chunked\r\n\r\n".encode())
        with contextlib.suppress(OSError):  # the server may stop reading once it has refused
            for _ in range(MAX_BODY // piece + 1):
                sock.sendall(b"%x\r\n" % piece + b"x" * piece + b"\r\n")
        reply = answer(sock)
    assert reply.startswith(b"HTTP/1.1 413 ")


def test_a_content_length_over_the_limit_is_refused_413_unread(emulator: H2oEmulator) -> None:
    with connect(emulator) as sock:
        sock.sendall(
            f"{HEAD}Content-Length: {400 << 20}\r\nAccept: application/json\r\n\r\n".encode()
        )
        reply = answer(sock)
    assert reply.startswith(b"HTTP/1.1 413 ")
    body = json.loads(reply.split(b"\r\n\r\n", 1)[1])
    assert body == {"message": f"Content-length of {400 << 20} exceeds limit of {MAX_BODY} bytes."}


def test_half_sent_heads_are_closed_after_the_intake_time_and_free_their_threads(
    emulator: H2oEmulator,
) -> None:
    socks = [connect(emulator) for _ in range(10)]
    try:
        for sock in socks:
            sock.sendall(HEAD.encode())  # no blank line: the head never ends
        assert wait_for(lambda: handler_threads() >= 10)
        began = time.monotonic()
        closed = [answer(sock, timeout=5.0) for sock in socks]
        waited = time.monotonic() - began
    finally:
        for sock in socks:
            sock.close()
    assert closed == [b""] * 10  # each was shut, nothing answered to half a request
    assert waited < 0.6 + 4.0
    assert wait_for(lambda: handler_threads() == 0)
    assert still_serves(emulator)


def test_a_head_trickled_a_byte_at_a_time_is_still_cut_at_the_intake_time(
    emulator: H2oEmulator,
) -> None:
    with connect(emulator) as sock:
        began = time.monotonic()
        cut = None
        for byte in (HEAD * 20).encode():
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                cut = time.monotonic() - began
                break
            time.sleep(0.05)
            if time.monotonic() - began > 8:
                break
            sock.settimeout(0.001)
            with contextlib.suppress(TimeoutError, BlockingIOError):
                if sock.recv(1) == b"":
                    cut = time.monotonic() - began
                    break
    assert cut is not None and cut < 0.6 + 4.0


def test_connections_beyond_the_limit_get_503_at_once_and_no_thread(
    emulator: H2oEmulator,
) -> None:
    held = [connect(emulator) for _ in range(12)]
    try:
        assert wait_for(lambda: handler_threads() == 12)
        with connect(emulator) as extra:
            reply = answer(extra, timeout=2.0)
        assert reply.startswith(b"HTTP/1.1 503 ")
        assert handler_threads() <= 12
        assert emulator.connections_refused == 1
    finally:
        for sock in held:
            sock.close()
    assert wait_for(lambda: handler_threads() == 0)
    assert still_serves(emulator)


@pytest.fixture
def conversation(emulator: H2oEmulator) -> tuple[requests.Session, str]:
    session = requests.Session()
    form = {"ethicsModalAccepted": "true", "activeModel": emulator.models[0]}
    session.post(f"{emulator.url}/settings", data=form, headers={"Referer": f"{emulator.url}/"})
    reply = session.post(f"{emulator.url}/conversation", json={"model": emulator.models[0]})
    return session, reply.json()["conversationId"]


DEEP = b"[" * 100_000 + b"]" * 100_000
OPTIONS = {
    "id": "00000000-0000-0000-0000-000000000000",
    "response_id": "00000000-0000-0000-0000-000000000000",
    "is_retry": False,
    "use_cache": False,
    "web_search_id": "",
}


def test_deeply_nested_json_gets_chat_uis_500_not_a_dropped_connection(
    emulator: H2oEmulator,
    conversation: tuple[requests.Session, str],
    capfd: pytest.CaptureFixture[str],
) -> None:
    session, cid = conversation
    headers = {"Content-Type": "application/json", "Accept": "*/*"}
    create = session.post(
        f"{emulator.url}/conversation", data=b'{"model":' + DEEP + b"}", headers=headers
    )
    generate = session.post(
        f"{emulator.url}/conversation/{cid}", data=b'{"inputs":' + DEEP + b"}", headers=headers
    )
    assert (create.status_code, create.json()) == (500, {"message": "Internal Error"})
    assert (generate.status_code, generate.json()) == (500, {"message": "Internal Error"})
    assert "Traceback" not in capfd.readouterr().err


def test_an_escaped_lone_surrogate_in_inputs_gets_tgis_422(
    emulator: H2oEmulator,
    conversation: tuple[requests.Session, str],
    capfd: pytest.CaptureFixture[str],
) -> None:
    session, cid = conversation
    body = json.dumps({"inputs": "hi \ud800", "parameters": {}, "stream": True, "options": OPTIONS})
    reply = session.post(
        f"{emulator.url}/conversation/{cid}",
        data=body.encode(),
        headers={"Content-Type": "application/json", "Accept": "*/*"},
    )
    assert reply.status_code == 422
    assert reply.text.startswith("Failed to deserialize the JSON body into the target type")
    assert "Traceback" not in capfd.readouterr().err
    assert still_serves(emulator)
