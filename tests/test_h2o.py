"""H2o against its emulator over real loopback HTTP: the flow, the framing, the errors."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from importlib import metadata
from urllib.parse import parse_qs

import pytest

import g4f_core
from g4f_core.plugins.registry import Registry, _set_default
from g4f_core_providers.h2o import _sessions, format_prompt, models
from g4f_core_providers.h2o.server import H2oEmulator, RecordedRequest

UPSTREAM_40B = "h2oai/h2ogpt-gm-oasst1-en-2048-falcon-40b-v1"


@pytest.fixture(autouse=True)
def h2o_only() -> Iterator[Registry]:
    """A registry of this project's own distribution: never the developer's other plugins."""
    registry = Registry([metadata.distribution("g4f-core")], environ={})
    old = _set_default(registry)
    yield registry
    _set_default(old)


@pytest.fixture
def emu() -> Iterator[H2oEmulator]:
    """A fresh emulator, and no session kept from an earlier one that had the same port."""
    _sessions.clear()
    with H2oEmulator() as server:
        yield server


def ask(emu: H2oEmulator, prompt: str = "Hi, I'm Daniel", **options: object) -> str:
    return g4f_core.complete(prompt, provider="H2o", base_url=emu.url, **options)


def expected(emu: H2oEmulator, messages: list[dict[str, str]], model: str = "falcon-40b") -> str:
    return "".join(emu.reply_for(format_prompt(messages), models[model]))


def calls(emu: H2oEmulator) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in emu.requests]


def json_body(request: RecordedRequest) -> dict[str, object]:
    data = json.loads(request.body)
    assert isinstance(data, dict)
    return data


# -- the flow ---------------------------------------------------------------------------


def test_a_call_accepts_the_modal_opens_generates_and_deletes_in_order(emu: H2oEmulator) -> None:
    text = ask(emu)
    assert text == expected(emu, [{"role": "user", "content": "Hi, I'm Daniel"}])
    assert calls(emu)[:2] == [("POST", "/settings"), ("POST", "/conversation")]
    generate, delete = emu.requests[2], emu.requests[3]
    assert generate.method == "POST" and generate.path.startswith("/conversation/")
    assert (delete.method, delete.path) == ("DELETE", generate.path)
    assert len(emu.requests) == 4
    assert emu.requests[0].session is None  # the cookie arrives with the first answer


def test_every_request_of_a_conversation_carries_the_session_cookie(emu: H2oEmulator) -> None:
    ask(emu)
    sessions = {r.session for r in emu.requests[1:]}
    assert len(sessions) == 1
    assert None not in sessions


def test_a_warm_call_reuses_the_accepted_session_and_skips_settings(emu: H2oEmulator) -> None:
    ask(emu)
    first_session = emu.requests[1].session
    emu.requests.clear()
    assert ask(emu) == expected(emu, [{"role": "user", "content": "Hi, I'm Daniel"}])
    assert [m for m, _ in calls(emu)] == ["POST", "POST", "DELETE"]
    assert {r.session for r in emu.requests} == {first_session}


def test_a_server_that_forgot_the_session_gets_the_modal_accepted_again(
    emu: H2oEmulator,
) -> None:
    ask(emu)
    emu.reset()  # as after a restart: sessions and conversations are gone
    emu.requests.clear()
    assert ask(emu) == expected(emu, [{"role": "user", "content": "Hi, I'm Daniel"}])
    assert calls(emu)[:3] == [
        ("POST", "/conversation"),
        ("POST", "/settings"),
        ("POST", "/conversation"),
    ]


def test_settings_is_a_form_with_same_origin_referer_and_the_upstream_model(
    emu: H2oEmulator,
) -> None:
    ask(emu)
    settings = emu.requests[0]
    assert settings.headers["content-type"] == "application/x-www-form-urlencoded"
    assert settings.headers["referer"] == f"{emu.url}/"
    form = {k: v[0] if v else "" for k, v in parse_qs(settings.body.decode(), True).items()}
    assert form == {
        "ethicsModalAccepted": "true",
        "shareConversationsWithModelAuthors": "true",
        "ethicsModalAcceptedAt": "",
        "activeModel": UPSTREAM_40B,
        "searchEnabled": "true",
    }


def test_json_calls_send_accept_any(emu: H2oEmulator) -> None:
    ask(emu)
    for request in emu.requests[1:]:
        assert request.headers["accept"] == "*/*"


def test_generation_body_carries_inputs_parameters_stream_and_fresh_uuid_options(
    emu: H2oEmulator,
) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "How are you?"},
    ]
    g4f_core.complete(messages, provider="H2o", base_url=emu.url)
    g4f_core.complete(messages, provider="H2o", base_url=emu.url)
    generations = [r for r in emu.requests if r.path.startswith("/conversation/")]
    generations = [r for r in generations if r.method == "POST"]
    first, second = json_body(generations[0]), json_body(generations[1])
    assert set(first) == {"inputs", "parameters", "stream", "options"}
    assert first["inputs"] == (
        "system: Be brief.\nuser: Hi\nassistant: Hello.\nuser: How are you?\nassistant: "
    )
    assert first["stream"] is True
    assert first["parameters"] == {
        "temperature": 0.4,
        "truncate": 2048,
        "max_new_tokens": 1024,
        "do_sample": True,
        "repetition_penalty": 1.2,
        "return_full_text": False,
    }
    opts = first["options"]
    assert isinstance(opts, dict)
    assert opts["is_retry"] is False and opts["use_cache"] is False
    assert opts["web_search_id"] == ""
    for key in ("id", "response_id"):
        assert uuid.UUID(opts[key]).version == 4
    assert opts["id"] != opts["response_id"]
    assert second["options"] != first["options"]  # fresh ids every call


@pytest.mark.parametrize("model", sorted(models))
def test_each_model_maps_to_its_upstream_id(emu: H2oEmulator, model: str) -> None:
    text = g4f_core.complete("Hi", provider="H2o", model=model, base_url=emu.url)
    assert json_body(emu.requests[1]) == {"model": models[model]}
    assert f"activeModel={models[model].replace('/', '%2F')}" in emu.requests[0].body.decode()
    assert text == expected(emu, [{"role": "user", "content": "Hi"}], model)


def test_options_reach_the_server_as_parameters(emu: H2oEmulator) -> None:
    ask(emu, temperature=0.9, max_new_tokens=5, do_sample=False, truncate=1000)
    params = json_body(emu.requests[2])["parameters"]
    assert isinstance(params, dict)
    assert params["temperature"] == 0.9
    assert params["max_new_tokens"] == 5
    assert params["do_sample"] is False
    assert params["truncate"] == 1000


def test_max_new_tokens_cuts_the_reply_where_the_server_cut_it(emu: H2oEmulator) -> None:
    text = ask(emu, max_new_tokens=3)
    full = emu.reply_for(
        format_prompt([{"role": "user", "content": "Hi, I'm Daniel"}]), UPSTREAM_40B
    )
    assert text == "".join(full[:3])


def test_a_misspelt_option_is_refused_before_any_request(emu: H2oEmulator) -> None:
    with pytest.raises(g4f_core.InvalidRequestError, match="temperature"):
        ask(emu, temprature=0.3)
    with pytest.raises(g4f_core.InvalidRequestError, match="max_new_tokens"):
        ask(emu, max_new_tokens="ten")
    assert emu.requests == []


# -- streaming --------------------------------------------------------------------------


def test_streaming_yields_each_token_as_its_event_arrives(emu: H2oEmulator) -> None:
    emu.faults.script = [" one", " two", " three", " four"]
    emu.faults.token_delay = 0.25
    arrivals = []
    started = time.monotonic()
    for chunk in g4f_core.stream("Hi", provider="H2o", base_url=emu.url):
        arrivals.append((time.monotonic() - started, chunk))
    assert [c for _, c in arrivals] == [" one", " two", " three", " four"]
    first, last = arrivals[0][0], arrivals[-1][0]
    assert last - first > 0.5  # the first token was not held back until the end


SCRIPT = [" Héllo", ",", " wörld", " ✓", " 🦅", " data: x", "data:", "\n", " end"]


@pytest.mark.parametrize(
    "framing",
    [
        {},
        {"chunk_size": 1},
        {"chunk_size": 3},
        {"chunk_size": 7},
        {"line_ending": "\r\n"},
        {"line_ending": "\r\n", "chunk_size": 1},
        {"line_ending": "\r"},
        {"keepalive": True},
        {"keepalive": True, "chunk_size": 2, "line_ending": "\r\n"},
    ],
    ids=repr,
)
def test_every_framing_gives_identical_text(emu: H2oEmulator, framing: dict[str, object]) -> None:
    emu.faults.script = list(SCRIPT)
    for key, value in framing.items():
        setattr(emu.faults, key, value)
    streamed = list(g4f_core.stream("Hi", provider="H2o", base_url=emu.url))
    assert streamed == SCRIPT
    assert ask(emu) == "".join(SCRIPT)


def test_special_tokens_are_never_yielded(emu: H2oEmulator) -> None:
    text = ask(emu)
    assert "<|endoftext|>" not in text
    text = g4f_core.complete("Hi", provider="H2o", model="llama-13b", base_url=emu.url)
    assert "</s>" not in text


# -- cleanup ----------------------------------------------------------------------------


def test_delete_is_sent_after_a_stopped_stream(emu: H2oEmulator) -> None:
    emu.faults.token_delay = 0.05
    with g4f_core.stream("Hi there, tell me a long story", provider="H2o", base_url=emu.url) as s:
        next(s)
    assert calls(emu)[-1][0] == "DELETE"
    assert emu.conversation_ids() == []


def test_delete_is_sent_after_a_failed_call(emu: H2oEmulator) -> None:
    emu.faults.incomplete_after = 2
    with pytest.raises(g4f_core.ProviderResponseError):
        ask(emu, max_retries=0)
    assert calls(emu)[-1][0] == "DELETE"
    assert emu.conversation_ids() == []


def test_a_stopped_stream_releases_its_connection(emu: H2oEmulator) -> None:
    emu.faults.token_delay = 0.05
    stream = g4f_core.stream("Hi there, tell me a long story", provider="H2o", base_url=emu.url)
    next(stream)
    generating = next(r for r in emu.requests if r.path.startswith("/conversation/"))
    stream.close()
    assert emu.wait_for_close(generating.connection, timeout=2.0)


# -- errors -----------------------------------------------------------------------------


def canned(emu: H2oEmulator, status: int, ctype: str, body: bytes) -> None:
    emu.faults.fail_generation.append((status, ctype, body))


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (404, b'{"message":"Conversation not found"}', g4f_core.ProviderHTTPError),
        (410, b'{"message":"Model not available anymore"}', g4f_core.ProviderHTTPError),
        (500, b'{"message":"Internal Error"}', g4f_core.ProviderHTTPError),
        (
            405,
            b'{"error":"You need to accept the welcome modal first"}',
            g4f_core.ProviderHTTPError,
        ),
        (
            429,
            b'{"message":"You are sending too many messages. Try again later."}',
            g4f_core.RateLimitError,
        ),
    ],
)
def test_chat_ui_error_bodies_become_http_errors(
    emu: H2oEmulator, status: int, body: bytes, kind: type[Exception]
) -> None:
    canned(emu, status, "application/json", body)
    with pytest.raises(kind) as info:
        ask(emu, max_retries=0)
    error = info.value
    assert isinstance(error, g4f_core.ProviderHTTPError)
    assert error.status == status
    assert json.loads(body).popitem()[1] in str(error)
    assert error.provider == "H2o"


def test_an_html_page_is_named_by_status_and_content_type(emu: H2oEmulator) -> None:
    page = b"<!DOCTYPE html><html><head><title>Conversation not found</title></head>" + b"x" * 50000
    canned(emu, 404, "text/html", page)
    with pytest.raises(g4f_core.ProviderHTTPError) as info:
        ask(emu, max_retries=0)
    message = str(info.value)
    assert "404" in message and "HTML" in message and "Conversation not found" in message
    assert len(message) < 500


def test_an_html_page_with_status_200_is_not_a_success(emu: H2oEmulator) -> None:
    canned(emu, 200, "text/html", b"<html><title>Welcome</title></html>")
    with pytest.raises(g4f_core.ProviderResponseError, match="text/html"):
        ask(emu, max_retries=0)


def test_an_error_event_is_a_response_error_with_its_type(emu: H2oEmulator) -> None:
    emu.faults.overloaded = True
    with pytest.raises(g4f_core.ProviderResponseError) as info:
        ask(emu, max_retries=0)
    assert info.value.error_type == "overloaded"
    assert "overloaded" in str(info.value)


def test_an_error_event_after_tokens_keeps_the_text_received(emu: H2oEmulator) -> None:
    emu.faults.script = [" a", " b", " c", " d"]
    emu.faults.incomplete_after = 2
    received = []
    with pytest.raises(g4f_core.ProviderResponseError) as info:
        for chunk in g4f_core.stream("Hi", provider="H2o", base_url=emu.url):
            received.append(chunk)
    assert received == [" a", " b"]
    assert info.value.partial_text == " a b"
    assert info.value.error_type == "incomplete_generation"
    assert sum(1 for r in emu.requests if r.path == "/conversation") == 1  # never retried


def test_a_validation_event_names_the_problem(emu: H2oEmulator) -> None:
    with pytest.raises(g4f_core.ProviderResponseError, match="truncate") as info:
        ask(emu, truncate=10**6)
    assert info.value.error_type == "validation"


@pytest.mark.parametrize(
    ("option", "value"), [("temperature", 0.0), ("repetition_penalty", -1.0), ("truncate", 0)]
)
def test_a_value_outside_the_declared_range_is_refused_before_io(
    emu: H2oEmulator, option: str, value: float
) -> None:
    with pytest.raises(g4f_core.InvalidRequestError, match=f"'{option}' must be > 0"):
        ask(emu, **{option: value})
    assert emu.requests == []


def test_a_malformed_event_is_a_response_error(emu: H2oEmulator) -> None:
    canned(emu, 200, "text/event-stream", b'data:{"token": \n\n')
    with pytest.raises(g4f_core.ProviderResponseError, match="malformed"):
        ask(emu, max_retries=0)


def test_a_stream_without_final_event_is_not_an_empty_success(emu: H2oEmulator) -> None:
    canned(emu, 200, "text/event-stream", b"")
    with pytest.raises(g4f_core.ProviderError):
        ask(emu, max_retries=0)


def test_the_post_refactor_ndjson_answer_is_named(emu: H2oEmulator) -> None:
    emu.faults.post_refactor = True
    with pytest.raises(g4f_core.ProviderResponseError, match="newline-delimited JSON"):
        ask(emu, max_retries=0)


def test_overload_before_the_first_token_is_retried(emu: H2oEmulator) -> None:
    canned(
        emu,
        200,
        "text/event-stream",
        b'data:{"error":"Model is overloaded","error_type":"overloaded"}\n\n',
    )
    assert ask(emu, max_retries=1) == expected(emu, [{"role": "user", "content": "Hi, I'm Daniel"}])
    assert sum(1 for r in emu.requests if r.path == "/conversation") == 2


# -- the endpoint -----------------------------------------------------------------------


def test_the_environment_overrides_the_endpoint(emu: H2oEmulator, h2o_only: Registry) -> None:
    registry = Registry([metadata.distribution("g4f-core")], environ={"G4F_CORE_H2O_URL": emu.url})
    _set_default(registry)
    assert g4f_core.complete("Hi", provider="h2o") == expected(
        emu, [{"role": "user", "content": "Hi"}]
    )


def test_the_cli_streams_a_reply_from_any_base_url(
    emu: H2oEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    from g4f_core.cli.app import main

    assert main(["chat", "-p", "H2o", "--base-url", emu.url, "Hello"]) == 0
    out = capsys.readouterr().out
    assert out == expected(emu, [{"role": "user", "content": "Hello"}]) + "\n"


def test_show_names_the_upstream_id_of_each_model(capsys: pytest.CaptureFixture[str]) -> None:
    from g4f_core.cli.app import main

    assert main(["show", "H2o"]) == 0
    out = capsys.readouterr().out
    for short, upstream in models.items():
        assert f"{short} ({upstream})" in out


def test_emulate_on_a_busy_port_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    from g4f_core.cli.app import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["emulate", "H2o", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot serve the H2o emulator")
    assert "Traceback" not in err
