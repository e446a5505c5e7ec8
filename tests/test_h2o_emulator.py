"""The H2o emulator speaks chat-ui + TGI as gpt-gm.h2o.ai did (shared/h2o-protocol.md §5).

Every test talks to a real emulator over loopback HTTP. Expected bytes come from the protocol
notes' example exchanges (§4), so a change in wire format shows up here first.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from g4f_core_providers.h2o.server import DEFAULT_MODELS, Faults, H2oEmulator

FALCON = DEFAULT_MODELS[0]
LLAMA = DEFAULT_MODELS[2]
DANIEL = "user: Hi, I'm Daniel\nassistant: "
DANIEL_SCRIPT = [" Hello", ",", " Daniel", "!"]
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
OPTIONS = {
    "id": "0d6c5f4e-8a51-4b2e-9a3c-6f0e2d7b9c11",
    "response_id": "7b1e9d2a-3c4f-4e5a-8b6c-9d0e1f2a3b4c",
    "is_retry": False,
    "use_cache": False,
    "web_search_id": "",
}
# Example 4.1 of the protocol notes, byte for byte.
DANIEL_STREAM = (
    b'data:{"token":{"id":23090,"text":" Hello","logprob":-1.8251953,"special":false},'
    b'"generated_text":null,"details":null}\n\n'
    b'data:{"token":{"id":23,"text":",","logprob":-0.3173828,"special":false},'
    b'"generated_text":null,"details":null}\n\n'
    b'data:{"token":{"id":8156,"text":" Daniel","logprob":-0.23803711,"special":false},'
    b'"generated_text":null,"details":null}\n\n'
    b'data:{"token":{"id":12,"text":"!","logprob":-0.56933594,"special":false},'
    b'"generated_text":null,"details":null}\n\n'
    b'data:{"token":{"id":11,"text":"<|endoftext|>","logprob":-0.14367676,"special":true},'
    b'"generated_text":" Hello, Daniel!","details":null}\n\n'
)


class Client(requests.Session):
    """A session whose every request has a timeout, so a broken emulator fails, not hangs."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", 10)
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def emulator() -> Iterator[H2oEmulator]:
    with H2oEmulator() as server:
        yield server


@pytest.fixture
def client() -> Iterator[Client]:
    with Client() as session:
        yield session


def form(model: str = FALCON) -> dict[str, str]:
    return {
        "ethicsModalAccepted": "true",
        "shareConversationsWithModelAuthors": "true",
        "ethicsModalAcceptedAt": "",
        "activeModel": model,
        "searchEnabled": "true",
    }


def accept_modal(client: Client, emulator: H2oEmulator) -> None:
    reply = client.post(
        f"{emulator.url}/settings", data=form(), headers={"Referer": f"{emulator.url}/"}
    )
    assert reply.status_code == 200


def open_conversation(client: Client, emulator: H2oEmulator, model: str = FALCON) -> str:
    accept_modal(client, emulator)
    reply = client.post(f"{emulator.url}/conversation", json={"model": model})
    assert reply.status_code == 200
    conversation: str = reply.json()["conversationId"]
    return conversation


def body(inputs: str = DANIEL, stream: bool = True, **parameters: Any) -> dict[str, Any]:
    """gpt4free's request body, with its default parameters overridden by ``parameters``."""
    defaults: dict[str, Any] = {
        "temperature": 0.4,
        "truncate": 2048,
        "max_new_tokens": 1024,
        "do_sample": True,
        "repetition_penalty": 1.2,
        "return_full_text": False,
    }
    return {
        "inputs": inputs,
        "parameters": {**defaults, **parameters},
        "stream": stream,
        "options": dict(OPTIONS),
    }


def generate(
    client: Client, emulator: H2oEmulator, conversation: str, payload: Any = None, **kw: Any
) -> requests.Response:
    reply: requests.Response = client.post(
        f"{emulator.url}/conversation/{conversation}", json=payload or body(), **kw
    )
    return reply


def events(raw: bytes) -> list[dict[str, Any]]:
    """The JSON of every ``data:`` line, whatever the line endings."""
    text = raw.decode().replace("\r\n", "\n").replace("\r", "\n")
    return [json.loads(line[5:]) for line in text.split("\n") if line.startswith("data:")]


def chat(client: Client, emulator: H2oEmulator, **parameters: Any) -> list[dict[str, Any]]:
    conversation = open_conversation(client, emulator)
    return events(generate(client, emulator, conversation, body(**parameters)).content)


def raw_exchange(emulator: H2oEmulator, request: bytes) -> bytes:
    """Send one request on a fresh socket and return the response bytes as sent on the wire."""
    with socket.create_connection(("127.0.0.1", int(emulator.url.rsplit(":", 1)[1])), 5) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def dechunk(wire: bytes) -> list[bytes]:
    """Split a chunked body (after the headers) into its chunk payloads."""
    rest = wire.split(b"\r\n\r\n", 1)[1]
    chunks: list[bytes] = []
    while True:
        size_line, rest = rest.split(b"\r\n", 1)
        size = int(size_line, 16)
        if size == 0:
            return chunks
        chunks.append(rest[:size])
        assert rest[size : size + 2] == b"\r\n"
        rest = rest[size + 2 :]


def raw_generate(emulator: H2oEmulator, client: Client, conversation: str) -> bytes:
    payload = json.dumps(body()).encode()
    cookie = client.cookies.get("hf-chat")
    head = (
        f"POST /conversation/{conversation} HTTP/1.1\r\nHost: localhost\r\n"
        f"Cookie: hf-chat={cookie}\r\nContent-Type: application/json\r\nAccept: */*\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    )
    return raw_exchange(emulator, head.encode() + payload)


# --- session, hook and settings -------------------------------------------------------------


def test_first_request_gets_a_session_cookie_usable_over_plain_http(
    emulator: H2oEmulator, client: Client
) -> None:
    reply = client.get(f"{emulator.url}/")
    cookie = reply.headers["set-cookie"]
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert cookie.startswith("hf-chat=")
    assert "Path=/" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie
    assert str(time.gmtime().tm_year + 1) in cookie  # expires a year ahead
    assert client.cookies.get("hf-chat")


def test_a_session_cookie_sent_by_the_client_is_kept(emulator: H2oEmulator, client: Client) -> None:
    client.cookies.set("hf-chat", "my-session")
    reply = client.get(f"{emulator.url}/r/jGfKSwU")
    assert reply.status_code == 200
    assert reply.headers["set-cookie"].startswith("hf-chat=my-session;")


def test_settings_answers_a_json_redirect_to_the_default_accept(
    emulator: H2oEmulator, client: Client
) -> None:
    referer = f"{emulator.url}/r/jGfKSwU"
    reply = client.post(f"{emulator.url}/settings", data=form(), headers={"Referer": referer})
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.content == f'{{"type":"redirect","status":303,"location":"{referer}"}}'.encode()


def test_settings_answers_a_json_redirect_when_there_is_no_accept_header(
    emulator: H2oEmulator, client: Client
) -> None:
    headers = {"Referer": f"{emulator.url}/", "Accept": None}
    reply = client.post(f"{emulator.url}/settings", data=form(), headers=headers)
    assert reply.status_code == 200
    assert reply.json()["type"] == "redirect"


def test_settings_answers_303_to_a_browser_accept(emulator: H2oEmulator, client: Client) -> None:
    referer = f"{emulator.url}/r/jGfKSwU"
    headers = {"Referer": referer, "Accept": BROWSER_ACCEPT}
    reply = client.post(
        f"{emulator.url}/settings", data=form(), headers=headers, allow_redirects=False
    )
    assert reply.status_code == 303
    assert reply.headers["location"] == referer
    assert reply.content == b""


def test_settings_303_can_be_followed_to_the_shared_conversation_page(
    emulator: H2oEmulator, client: Client
) -> None:
    headers = {"Referer": f"{emulator.url}/r/jGfKSwU", "Accept": BROWSER_ACCEPT}
    reply = client.post(f"{emulator.url}/settings", data=form(), headers=headers)
    assert [r.status_code for r in reply.history] == [303]
    assert reply.status_code == 200
    assert reply.url == f"{emulator.url}/r/jGfKSwU"


def test_settings_with_an_unknown_model_is_a_500_action_error(
    emulator: H2oEmulator, client: Client
) -> None:
    data = form(model="tiiuae/falcon-180b")
    reply = client.post(f"{emulator.url}/settings", data=data, headers={"Referer": emulator.url})
    assert reply.status_code == 500
    assert reply.json() == {"type": "error", "error": {"message": "Internal Error"}}


def test_form_post_without_referer_is_refused_with_plain_text(
    emulator: H2oEmulator, client: Client
) -> None:
    reply = client.post(f"{emulator.url}/settings", data=form())
    assert reply.status_code == 403
    assert reply.headers["content-type"] == "text/plain"
    assert reply.text == "Non-JSON form requests need to have a referer"
    assert "set-cookie" not in reply.headers


def test_form_post_without_referer_is_refused_with_json_when_json_is_accepted(
    emulator: H2oEmulator, client: Client
) -> None:
    headers = {"Accept": "application/json"}
    reply = client.post(f"{emulator.url}/settings", data=form(), headers=headers)
    assert reply.status_code == 403
    assert reply.json() == {"error": "Non-JSON form requests need to have a referer"}


def test_form_post_with_a_foreign_referer_is_refused(emulator: H2oEmulator, client: Client) -> None:
    headers = {"Referer": "https://gpt-gm.h2o.ai/"}
    reply = client.post(f"{emulator.url}/settings", data=form(), headers=headers)
    assert reply.status_code == 403
    assert reply.text == "Invalid referer for POST request"


def test_json_call_before_the_welcome_modal_is_refused_with_json(
    emulator: H2oEmulator, client: Client
) -> None:
    reply = client.post(f"{emulator.url}/conversation", json={"model": FALCON})
    assert reply.status_code == 405
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {"error": "You need to accept the welcome modal first"}


def test_non_json_call_before_the_welcome_modal_is_refused_with_plain_text(
    emulator: H2oEmulator, client: Client
) -> None:
    headers = {"Content-Type": "application/octet-stream"}
    reply = client.post(f"{emulator.url}/conversation", data=b"{}", headers=headers)
    assert reply.status_code == 405
    assert reply.headers["content-type"] == "text/plain"
    assert reply.text == "You need to accept the welcome modal first"


def test_the_welcome_modal_check_can_be_switched_off(emulator: H2oEmulator, client: Client) -> None:
    emulator.faults.require_modal = False
    reply = client.post(f"{emulator.url}/conversation", json={"model": FALCON})
    assert reply.status_code == 200


def test_accepting_the_modal_in_one_session_does_not_accept_it_for_another(
    emulator: H2oEmulator, client: Client
) -> None:
    accept_modal(client, emulator)
    with Client() as stranger:
        reply = stranger.post(f"{emulator.url}/conversation", json={"model": FALCON})
    assert reply.status_code == 405


# --- conversations --------------------------------------------------------------------------


def test_new_conversation_id_is_24_lowercase_hex(emulator: H2oEmulator, client: Client) -> None:
    accept_modal(client, emulator)
    reply = client.post(f"{emulator.url}/conversation", json={"model": FALCON})
    assert reply.headers["content-type"] == "application/json"
    conversation = reply.json()["conversationId"]
    assert len(conversation) == 24
    assert int(conversation, 16) >= 0
    assert conversation == conversation.lower()
    assert emulator.conversation_ids() == [conversation]


@pytest.mark.parametrize("payload", [b'{"model": "nope/model"}', b"{not json", b'["x"]'])
def test_new_conversation_with_unknown_model_or_bad_json_is_500(
    emulator: H2oEmulator, client: Client, payload: bytes
) -> None:
    accept_modal(client, emulator)
    headers = {"Content-Type": "application/json"}
    reply = client.post(f"{emulator.url}/conversation", data=payload, headers=headers)
    assert reply.status_code == 500
    assert reply.json() == {"message": "Internal Error"}


def test_happy_path_streams_the_documented_bytes(emulator: H2oEmulator, client: Client) -> None:
    emulator.faults.script = list(DANIEL_SCRIPT)
    conversation = open_conversation(client, emulator)
    reply = generate(client, emulator, conversation, stream=True)
    with reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"] == "text/event-stream"
        assert reply.headers["cache-control"] == "no-cache"
        assert reply.headers["x-compute-type"] == "gpu+optimized"
        assert reply.headers["x-compute-characters"] == "65"
        assert reply.headers["x-accel-buffering"] == "no"
        assert reply.headers["transfer-encoding"] == "chunked"
        assert reply.headers["set-cookie"].startswith("hf-chat=")
        assert reply.raw.read() == DANIEL_STREAM
    deleted = client.delete(f"{emulator.url}/conversation/{conversation}")
    assert deleted.status_code == 200
    assert deleted.content == b""
    assert emulator.conversation_ids() == []


def test_every_event_is_one_http_chunk_by_default(emulator: H2oEmulator, client: Client) -> None:
    emulator.faults.script = list(DANIEL_SCRIPT)
    conversation = open_conversation(client, emulator)
    chunks = dechunk(raw_generate(emulator, client, conversation))
    assert b"".join(chunks) == DANIEL_STREAM
    assert len(chunks) == 5


def test_default_reply_echoes_the_last_user_line() -> None:
    tokens = H2oEmulator().reply_for(
        "System: x\nUser: first\n  user:  second one \nassistant:", "a/b"
    )
    assert "".join(tokens) == " Hello! This is the H2o emulator (b). You said: second one"
    assert tokens[:2] == [" Hello!", " This"]


def test_default_reply_echoes_everything_without_a_user_line() -> None:
    tokens = H2oEmulator().reply_for("  just this  ", FALCON)
    assert "".join(tokens).endswith("(h2ogpt-gm-oasst1-en-2048-falcon-40b-v1). You said: just this")


def test_default_stream_spells_the_reply_and_ends_with_falcon_eos(
    emulator: H2oEmulator, client: Client
) -> None:
    received = chat(client, emulator, inputs="user: what is up\nassistant: ")
    expected = emulator.reply_for("user: what is up\nassistant: ", FALCON)
    assert [e["token"]["text"] for e in received[:-1]] == expected
    assert received[-1]["token"] == {
        "id": 11,
        "text": "<|endoftext|>",
        "logprob": -0.14367676,
        "special": True,
    }
    assert received[-1]["generated_text"] == "".join(expected)
    assert all(e["generated_text"] is None for e in received[:-1])


def test_llama_model_ends_with_its_own_eos_token(emulator: H2oEmulator, client: Client) -> None:
    conversation = open_conversation(client, emulator, model=LLAMA)
    received = events(generate(client, emulator, conversation).content)
    assert received[-1]["token"]["id"] == 2
    assert received[-1]["token"]["text"] == "</s>"
    assert received[-1]["token"]["special"] is True


def test_token_ids_and_logprobs_are_deterministic(emulator: H2oEmulator, client: Client) -> None:
    first = chat(client, emulator)
    second = events(generate(client, emulator, open_conversation(client, emulator)).content)
    assert first == second
    assert all(e["token"]["logprob"] < 0 for e in first)


def test_max_new_tokens_cut_puts_generated_text_on_the_last_ordinary_token(
    emulator: H2oEmulator, client: Client
) -> None:
    emulator.faults.script = list(DANIEL_SCRIPT)
    received = chat(client, emulator, max_new_tokens=3, details=True)
    assert len(received) == 3
    assert received[-1]["token"]["special"] is False
    assert received[-1]["generated_text"] == " Hello, Daniel"
    assert received[-1]["details"] == {
        "finish_reason": "length",
        "generated_tokens": 3,
        "seed": None,
    }


def test_max_new_tokens_defaults_to_twenty_like_tgi(emulator: H2oEmulator, client: Client) -> None:
    emulator.faults.script = [f" w{i}" for i in range(30)]
    conversation = open_conversation(client, emulator)
    payload = body()
    del payload["parameters"]["max_new_tokens"]
    assert len(events(generate(client, emulator, conversation, payload).content)) == 20


def test_details_report_eos_finish_and_the_configured_seed(
    emulator: H2oEmulator, client: Client
) -> None:
    emulator.faults.script = list(DANIEL_SCRIPT)
    emulator.faults.details_seed = 3217764926
    received = chat(client, emulator, details=True)
    assert received[-1]["details"] == {
        "finish_reason": "eos_token",
        "generated_tokens": 5,
        "seed": 3217764926,
    }
    assert all(e["details"] is None for e in received[:-1])


def test_return_full_text_prefixes_the_server_built_prompt(
    emulator: H2oEmulator, client: Client
) -> None:
    emulator.faults.script = list(DANIEL_SCRIPT)
    received = chat(client, emulator, return_full_text=True)
    prompt = f"<|prompt|>{DANIEL}<|endoftext|><|answer|>"
    assert received[-1]["generated_text"] == prompt + " Hello, Daniel!"


def test_absent_return_full_text_follows_the_text_generation_pipeline_default(
    emulator: H2oEmulator, client: Client
) -> None:
    emulator.faults.script = list(DANIEL_SCRIPT)
    conversation = open_conversation(client, emulator)
    payload = body()
    del payload["parameters"]["return_full_text"]
    received = events(generate(client, emulator, conversation, payload).content)
    assert received[-1]["generated_text"].startswith("<|prompt|>")


def stored_messages(emulator: H2oEmulator, conversation: str, count: int) -> bool:
    """Whether the conversation holds ``count`` messages within 5 s (it is saved last)."""
    ends = time.monotonic() + 5.0
    while len(emulator.conversations[conversation].messages) < count:
        if time.monotonic() >= ends:
            return False
        time.sleep(0.01)
    return True


def test_later_messages_see_the_conversation_history_in_the_prompt(
    emulator: H2oEmulator, client: Client
) -> None:
    emulator.faults.script = [" Hi"]
    conversation = open_conversation(client, emulator)
    generate(client, emulator, conversation, body(inputs="one"))
    # chat-ui stores the exchange while (or after) it streams the reply, so a client can
    # read the whole reply first: wait, with a bound, for the server to have stored it.
    assert stored_messages(emulator, conversation, 2)
    reply = generate(client, emulator, conversation, body(inputs="two", return_full_text=True))
    prompt = (
        "<|prompt|>one<|endoftext|><|answer|> Hi<|endoftext|><|prompt|>two<|endoftext|><|answer|>"
    )
    assert events(reply.content)[-1]["generated_text"] == prompt + " Hi"
    assert reply.headers["x-compute-characters"] == str(len(prompt))
    assert stored_messages(emulator, conversation, 4)
    stored = emulator.conversations[conversation].messages
    assert [(m.role, m.content) for m in stored] == [
        ("user", "one"),
        ("assistant", " Hi"),
        ("user", "two"),
        ("assistant", " Hi"),
    ]


def test_a_token_containing_data_colon_is_sent_verbatim(
    emulator: H2oEmulator, client: Client
) -> None:
    emulator.faults.script = [" see", " data: here"]
    received = chat(client, emulator)
    assert received[1]["token"]["text"] == " data: here"
    assert received[-1]["generated_text"] == " see data: here"


def test_stream_false_gets_tgi_json_answer(emulator: H2oEmulator, client: Client) -> None:
    emulator.faults.script = list(DANIEL_SCRIPT)
    conversation = open_conversation(client, emulator)
    reply = generate(client, emulator, conversation, body(stream=False))
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == [{"generated_text": " Hello, Daniel!"}]


# --- TGI validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"temperature": 0}, "`temperature` must be strictly positive"),
        ({"repetition_penalty": 0.0}, "`repetition_penalty` must be strictly positive"),
        ({"top_p": 1.0}, "`top_p` must be > 0.0 and < 1.0"),
        ({"typical_p": 0}, "`typical_p` must be > 0.0 and < 1.0"),
        ({"top_k": 0}, "`top_k` must be strictly positive"),
        ({"max_new_tokens": 0}, "`max_new_tokens` must be strictly positive"),
        (
            {"truncate": 4096},
            "`truncate` must be strictly positive and less than 2048. Given: 4096",
        ),
        ({"truncate": 0}, "`truncate` must be strictly positive and less than 2048. Given: 0"),
        ({"best_of": 2}, "`best_of` != 1 is not supported when streaming tokens"),
        (
            {"decoder_input_details": True},
            "`decoder_input_details` == true is not supported when streaming tokens",
        ),
        ({"stop": ["a", "b", "c", "d", "e"]}, "`stop` supports up to 4 stop sequences. Given: 5"),
    ],
)
def test_invalid_parameters_get_one_validation_event_in_a_200_stream(
    emulator: H2oEmulator, client: Client, parameters: dict[str, Any], message: str
) -> None:
    conversation = open_conversation(client, emulator)
    reply = generate(client, emulator, conversation, body(**parameters))
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/event-stream"
    error = {"error": f"Input validation error: {message}", "error_type": "validation"}
    expected = "data:" + json.dumps(error, separators=(",", ":")) + "\n\n"
    assert reply.content == expected.encode()


def test_truncate_is_checked_against_the_configured_max_input_length(client: Client) -> None:
    with H2oEmulator(max_input_length=1024) as emulator:
        received = chat(client, emulator)
    assert received == [
        {
            "error": "Input validation error: `truncate` must be strictly positive and less "
            "than 1024. Given: 2048",
            "error_type": "validation",
        }
    ]


def test_a_parameter_of_the_wrong_type_is_rejected_like_axum_with_422(
    emulator: H2oEmulator, client: Client
) -> None:
    conversation = open_conversation(client, emulator)
    reply = generate(client, emulator, conversation, body(temperature="hot"))
    assert reply.status_code == 422
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"
    assert reply.text == (
        "Failed to deserialize the JSON body into the target type: "
        'parameters.temperature: invalid type: string "hot", expected f32'
    )


def test_stop_sequence_ends_generation_with_its_finish_reason(
    emulator: H2oEmulator, client: Client
) -> None:
    emulator.faults.script = list(DANIEL_SCRIPT)
    received = chat(client, emulator, stop=["Daniel"], details=True)
    assert received[-1]["generated_text"] == " Hello, Daniel"
    assert received[-1]["details"]["finish_reason"] == "stop_sequence"


# --- chat-ui errors -------------------------------------------------------------------------


def test_conversation_of_another_session_is_not_found(
    emulator: H2oEmulator, client: Client
) -> None:
    conversation = open_conversation(client, emulator)
    with Client() as stranger:
        accept_modal(stranger, emulator)
        reply = generate(stranger, emulator, conversation)
        deleted = stranger.delete(f"{emulator.url}/conversation/{conversation}")
    assert reply.status_code == 404
    assert reply.json() == {"message": "Conversation not found"}
    assert deleted.status_code == 404
    assert emulator.conversation_ids() == [conversation]


def test_not_found_is_an_html_page_when_the_client_sends_no_accept(
    emulator: H2oEmulator, client: Client
) -> None:
    accept_modal(client, emulator)
    reply = generate(client, emulator, "a" * 24, headers={"Accept": None})
    assert reply.status_code == 404
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>Conversation not found</title>" in reply.text
    assert "data:" not in reply.text


def test_a_malformed_conversation_id_is_a_500(emulator: H2oEmulator, client: Client) -> None:
    accept_modal(client, emulator)
    reply = generate(client, emulator, "not-an-object-id")
    assert reply.status_code == 500
    assert reply.json() == {"message": "Internal Error"}


def test_browser_accept_on_the_generation_route_reaches_the_page_and_gets_405(
    emulator: H2oEmulator, client: Client
) -> None:
    conversation = open_conversation(client, emulator)
    reply = generate(client, emulator, conversation, headers={"Accept": BROWSER_ACCEPT})
    assert reply.status_code == 405
    assert "No actions exist for this page" in reply.text


def test_removed_model_is_gone_with_410_json(emulator: H2oEmulator, client: Client) -> None:
    conversation = open_conversation(client, emulator)
    emulator.faults.removed_models.add(FALCON)
    reply = generate(client, emulator, conversation)
    assert reply.status_code == 410
    assert reply.json() == {"message": "Model not available anymore"}


def test_removed_model_is_gone_with_410_html_without_accept(
    emulator: H2oEmulator, client: Client
) -> None:
    conversation = open_conversation(client, emulator)
    emulator.faults.removed_models.add(FALCON)
    reply = generate(client, emulator, conversation, headers={"Accept": None})
    assert reply.status_code == 410
    assert "<title>Model not available anymore</title>" in reply.text


def test_rate_limit_answers_429_after_the_allowed_generations(
    emulator: H2oEmulator, client: Client
) -> None:
    emulator.faults.rate_limit = 2
    conversation = open_conversation(client, emulator)
    statuses = [generate(client, emulator, conversation).status_code for _ in range(3)]
    reply = generate(client, emulator, conversation)
    assert statuses == [200, 200, 429]
    assert reply.json() == {"message": "You are sending too many messages. Try again later."}


def test_rate_limit_is_per_session(emulator: H2oEmulator, client: Client) -> None:
    emulator.faults.rate_limit = 1
    generate(client, emulator, open_conversation(client, emulator))
    with Client() as other:
        reply = generate(other, emulator, open_conversation(other, emulator))
    assert reply.status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        {"inputs": "   ", "options": {}},
        {"inputs": "hi"},
        {"inputs": "hi", "options": {"id": "not-a-uuid"}},
        {"inputs": "hi", "options": {"response_id": None}},
        {"inputs": "hi", "options": {"is_retry": "no"}},
        {"inputs": "hi", "options": {"web_search_id": 5}},
        {"inputs": 5, "options": {}},
    ],
)
def test_a_body_chat_ui_cannot_parse_is_an_internal_error(
    emulator: H2oEmulator, client: Client, payload: dict[str, Any]
) -> None:
    conversation = open_conversation(client, emulator)
    reply = generate(client, emulator, conversation, payload)
    assert reply.status_code == 500
    assert reply.json() == {"message": "Internal Error"}


def test_unknown_keys_in_the_body_are_ignored(emulator: H2oEmulator, client: Client) -> None:
    conversation = open_conversation(client, emulator)
    payload = body(stream=True)  # parameters.stream is what the async g4f versions send
    payload["parameters"]["stream"] = True
    payload["extra"] = {"anything": 1}
    assert generate(client, emulator, conversation, payload).status_code == 200


def test_unknown_path_is_a_sveltekit_404(emulator: H2oEmulator, client: Client) -> None:
    reply = client.get(f"{emulator.url}/nowhere")
    assert reply.status_code == 404
    assert reply.json() == {"message": "Not found: /nowhere"}


def test_conversation_page_is_shown_only_to_its_owner(
    emulator: H2oEmulator, client: Client
) -> None:
    conversation = open_conversation(client, emulator)
    mine = client.get(f"{emulator.url}/conversation/{conversation}")
    with Client() as stranger:
        theirs = stranger.get(f"{emulator.url}/conversation/{conversation}")
    assert mine.status_code == 200
    assert theirs.status_code == 404


def test_settings_also_accepts_a_multipart_form(emulator: H2oEmulator, client: Client) -> None:
    fields = {name: (None, value) for name, value in form().items()}
    headers = {"Referer": f"{emulator.url}/"}
    reply = client.post(f"{emulator.url}/settings", files=fields, headers=headers)
    assert reply.status_code == 200
    assert client.post(f"{emulator.url}/conversation", json={"model": FALCON}).status_code == 200


def test_deleting_twice_finds_nothing_the_second_time(
    emulator: H2oEmulator, client: Client
) -> None:
    conversation = open_conversation(client, emulator)
    first = client.delete(f"{emulator.url}/conversation/{conversation}")
    second = client.delete(f"{emulator.url}/conversation/{conversation}")
    assert (first.status_code, second.status_code) == (200, 404)
    assert second.json() == {"message": "Conversation not found"}


# --- faults ---------------------------------------------------------------------------------


def test_overloaded_fault_sends_one_overloaded_event(emulator: H2oEmulator, client: Client) -> None:
    emulator.faults.overloaded = True
    conversation = open_conversation(client, emulator)
    reply = generate(client, emulator, conversation)
    assert reply.status_code == 200
    assert reply.content == b'data:{"error":"Model is overloaded","error_type":"overloaded"}\n\n'


def test_generation_error_fault_sends_one_generation_event(
    emulator: H2oEmulator, client: Client
) -> None:
    emulator.faults.generation_error = "CUDA out of memory"
    assert chat(client, emulator) == [
        {
            "error": "Request failed during generation: CUDA out of memory",
            "error_type": "generation",
        }
    ]


def test_incomplete_fault_sends_tokens_then_incomplete_generation(
    emulator: H2oEmulator, client: Client
) -> None:
    emulator.faults.script = list(DANIEL_SCRIPT)
    emulator.faults.incomplete_after = 2
    received = chat(client, emulator)
    assert [e.get("token", {}).get("text") for e in received] == [" Hello", ",", None]
    assert received[-1] == {"error": "Incomplete generation", "error_type": "incomplete_generation"}
    assert all(e.get("generated_text") is None for e in received)


def test_post_refactor_fault_answers_ndjson_without_data_lines(
    emulator: H2oEmulator, client: Client
) -> None:
    emulator.faults.script = list(DANIEL_SCRIPT)
    emulator.faults.post_refactor = True
    conversation = open_conversation(client, emulator)
    reply = generate(client, emulator, conversation)
    assert reply.status_code == 200
    assert "content-type" not in reply.headers
    assert reply.content == (
        b'{"type":"status","status":"started"}\n'
        b'{"type":"stream","token":" Hello"}\n'
        b'{"type":"stream","token":","}\n'
        b'{"type":"stream","token":" Daniel"}\n'
        b'{"type":"stream","token":"!"}\n'
        b'{"type":"finalAnswer","text":" Hello, Daniel!"}\n'
    )


def test_keepalive_fault_writes_a_comment_before_every_event(
    emulator: H2oEmulator, client: Client
) -> None:
    emulator.faults.script = list(DANIEL_SCRIPT)
    emulator.faults.keepalive = True
    conversation = open_conversation(client, emulator)
    content = generate(client, emulator, conversation).content
    assert content == DANIEL_STREAM.replace(b"data:", b":\n\ndata:")


def test_crlf_line_ending_fault_applies_to_every_line(
    emulator: H2oEmulator, client: Client
) -> None:
    emulator.faults.script = list(DANIEL_SCRIPT)
    emulator.faults.line_ending = "\r\n"
    conversation = open_conversation(client, emulator)
    content = generate(client, emulator, conversation).content
    assert content == DANIEL_STREAM.replace(b"\n", b"\r\n")


def test_chunk_size_fault_splits_events_and_utf8_across_chunks(
    emulator: H2oEmulator, client: Client
) -> None:
    emulator.faults.script = [" caf\u00e9", " \u2713", " \U0001f389"]
    conversation = open_conversation(client, emulator)
    whole = generate(client, emulator, conversation).content
    emulator.faults.chunk_size = 1
    chunks = dechunk(raw_generate(emulator, client, conversation))
    assert {len(chunk) for chunk in chunks} == {1}
    assert b"".join(chunks) == whole
    assert events(b"".join(chunks))[-1]["generated_text"] == " caf\u00e9 \u2713 \U0001f389"


def test_token_delay_fault_slows_every_token(emulator: H2oEmulator, client: Client) -> None:
    emulator.faults.script = list(DANIEL_SCRIPT)
    emulator.faults.token_delay = 0.1
    conversation = open_conversation(client, emulator)
    started = time.monotonic()
    generate(client, emulator, conversation)
    assert time.monotonic() - started >= 0.45  # five token events, 0.1 s before each


def test_stall_fault_pauses_after_the_given_number_of_events(
    emulator: H2oEmulator, client: Client
) -> None:
    emulator.faults.script = list(DANIEL_SCRIPT)
    emulator.faults.stall_after = 2
    emulator.faults.stall_seconds = 0.5
    conversation = open_conversation(client, emulator)
    arrivals: list[float] = []
    buffer = b""
    with generate(client, emulator, conversation, stream=True) as reply:
        for chunk in reply.iter_content(chunk_size=None):
            buffer += chunk
            while buffer.count(b"\n\n") > len(arrivals):
                arrivals.append(time.monotonic())
    assert len(arrivals) == 5
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert gaps[1] >= 0.45
    assert max(gaps[:1] + gaps[2:]) < 0.45


def test_drop_fault_closes_the_connection_mid_stream(emulator: H2oEmulator, client: Client) -> None:
    emulator.faults.script = list(DANIEL_SCRIPT)
    emulator.faults.drop_after = 2
    conversation = open_conversation(client, emulator)
    received = b""
    with (
        generate(client, emulator, conversation, stream=True) as reply,
        pytest.raises(requests.exceptions.ChunkedEncodingError),
    ):
        for chunk in reply.iter_content(chunk_size=None):
            received += chunk
    assert len(events(received)) == 2
    assert emulator.wait_for_close(emulator.requests[-1].connection, 5)


def test_fail_generation_queue_answers_before_normal_handling(
    emulator: H2oEmulator, client: Client
) -> None:
    emulator.faults.fail_generation.append((503, "text/plain", b"upstream busy"))
    conversation = open_conversation(client, emulator)
    first = generate(client, emulator, conversation)
    second = generate(client, emulator, conversation)
    assert (first.status_code, first.text) == (503, "upstream busy")
    assert second.status_code == 200
    assert events(second.content)[-1]["generated_text"]
    assert emulator.faults.fail_generation == []


def test_fail_generation_still_checks_ownership_first(
    emulator: H2oEmulator, client: Client
) -> None:
    emulator.faults.fail_generation.append((503, "text/plain", b"busy"))
    accept_modal(client, emulator)
    assert generate(client, emulator, "b" * 24).status_code == 404
    assert len(emulator.faults.fail_generation) == 1


# --- bookkeeping and lifecycle --------------------------------------------------------------


def test_requests_log_records_every_request_on_one_keepalive_connection(
    emulator: H2oEmulator, client: Client
) -> None:
    conversation = open_conversation(client, emulator)
    generate(client, emulator, conversation)
    log = emulator.requests
    assert [(r.method, r.path) for r in log] == [
        ("POST", "/settings"),
        ("POST", "/conversation"),
        ("POST", f"/conversation/{conversation}"),
    ]
    assert log[0].session is None
    assert log[1].session == log[2].session == client.cookies.get("hf-chat")
    assert {r.connection for r in log} == {1}
    assert log[1].headers["content-type"] == "application/json"
    assert json.loads(log[1].body) == {"model": FALCON}
    assert emulator.connections_opened == 1


def test_server_sees_the_connection_close_when_the_client_session_closes(
    emulator: H2oEmulator,
) -> None:
    def use(session: Client) -> None:  # responses die here, so the pool can be collected
        assert session.get(f"{emulator.url}/").status_code == 200

    session = Client()
    use(session)
    assert not emulator.wait_for_close(1, 0.05)
    session.close()
    assert emulator.wait_for_close(1, 5)
    assert emulator.connections_closed == 1


def test_server_notices_a_client_leaving_during_a_stall(
    emulator: H2oEmulator, client: Client
) -> None:
    emulator.faults.stall_after = 1
    emulator.faults.stall_seconds = 30
    conversation = open_conversation(client, emulator)
    with generate(client, emulator, conversation, stream=True) as reply:
        next(reply.iter_content(chunk_size=None))
    assert emulator.wait_for_close(emulator.requests[-1].connection, 5)


def test_concurrent_streams_do_not_mix(emulator: H2oEmulator) -> None:
    emulator.faults.token_delay = 0.01
    results: dict[int, str] = {}

    def run(index: int) -> None:
        with Client() as session:
            conversation = open_conversation(session, emulator)
            payload = body(inputs=f"user: number {index}")
            final = events(generate(session, emulator, conversation, payload).content)[-1]
            results[index] = final["generated_text"]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert {i: text.endswith(f"You said: number {i}") for i, text in results.items()} == {
        i: True for i in range(12)
    }


def test_stop_is_prompt_while_a_client_holds_an_idle_keepalive_connection() -> None:
    emulator = H2oEmulator()
    emulator.start()
    port = int(emulator.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), 5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        response = b""
        while not response.endswith(b"</html>\n"):
            response += sock.recv(65536)
        assert response.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        emulator.stop()
        elapsed = time.monotonic() - started
        sock.settimeout(5)
        assert sock.recv(65536) == b""
    assert elapsed < 2
    emulator.stop()  # idempotent


def test_reset_forgets_requests_sessions_conversations_and_faults(
    emulator: H2oEmulator, client: Client
) -> None:
    faults = emulator.faults
    faults.overloaded = True
    open_conversation(client, emulator)
    emulator.reset()
    assert emulator.requests == []
    assert emulator.conversation_ids() == []
    assert emulator.faults is faults
    assert faults == Faults()
    reply = client.post(f"{emulator.url}/conversation", json={"model": FALCON})
    assert reply.status_code == 405


def test_url_uses_the_host_name_so_cookies_work(emulator: H2oEmulator) -> None:
    assert emulator.url.startswith("http://localhost:")
