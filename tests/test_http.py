"""The transport over real loopback sockets: framing, limits, timeouts and error messages.

Each test starts a scripted server (tests/rawserver.py: threads on 127.0.0.1, port 0) that
reads the request, then writes exact bytes with optional pauses and an optional abrupt
close, and records the connections it accepted, the requests it read and when it saw
the client close. Every server stops by itself within a few seconds.
"""

from __future__ import annotations

import email.utils
import gzip
import itertools
import json
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone

import pytest
import requests
from rawserver import (
    CLOSE,
    HOLD,
    LAST_CHUNK,
    RESET,
    RawServer,
    Step,
    chunk,
    closed_port,
    head,
    reply,
)
from rawserver import sse as raw_sse
from requests.structures import CaseInsensitiveDict

from g4f_core.context import CallContext
from g4f_core.errors import (
    G4FError,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderResponseError,
    ProviderTimeoutError,
    RateLimitError,
)
from g4f_core.transport.client import Client, origin, parse_retry_after, translate

# -- the scripted server (tests/rawserver.py) -----------------------------------------

RawServerFactory = Callable[..., RawServer]


@pytest.fixture
def serve_raw() -> Iterator[RawServerFactory]:
    """``serve_raw(script, ...)`` starts a server answering request n with script n.

    A request with no script left gets no answer (:data:`HOLD`): the connection stays open
    until the client gives up or the server's lifetime ends.
    """
    servers: list[RawServer] = []

    def start(*scripts: Iterable[Step], lifetime: float = 4.0) -> RawServer:
        server = RawServer([*scripts, [HOLD]], lifetime=lifetime).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def client_left(server: RawServer, timeout: float = 2.0) -> bool:
    """True once the server saw the client close the first connection."""
    return server.wait_client_left(1, timeout)


# -- HTTP framing helpers -------------------------------------------------------------

PRIVATE_PATH = "/v1/SECRET?key=CANARY"


def sse(*payloads: str, ending: str = "\n") -> bytes:
    """``data: `` events (with the space)."""
    return raw_sse(*payloads, ending=ending, space=True)


def stream_of(body: bytes) -> list[Step]:
    """A complete chunked SSE response carrying ``body`` in one chunk."""
    return [head(), chunk(body), LAST_CHUNK]


def client_for(server: RawServer | str, **options: object) -> Client:
    """A client whose base URL carries a secret-looking path and query."""
    url = server if isinstance(server, str) else server.url
    return Client(CallContext.build("Test", None, options), base_url=url + PRIVATE_PATH)


def collect(client: Client, received: list[str] | None = None) -> list[str]:
    """Stream one POST and gather the event data (also into ``received`` as it arrives)."""
    received = [] if received is None else received
    response = client.request("POST", "chat", stream=True)
    for data in client.events(response):
        received.append(data)
    return received


def assert_no_secret(exc: BaseException) -> None:
    for text in (str(exc), repr(exc)):
        assert "CANARY" not in text
        assert "SECRET" not in text
        assert "/v1" not in text


# -- events(): framing ------------------------------------------------------------------

PAYLOADS = ["a", "b c", '{"t": "é😀\u2028x"}', "line one\nline two", ""]


def multi_line_sse(payloads: list[str], ending: str) -> bytes:
    out = []
    for payload in payloads:
        out += [f"data: {line}{ending}" for line in payload.split("\n")] + [ending]
    return "".join(out).encode()


def odd_pieces(body: bytes) -> list[bytes]:
    """``body`` cut at growing odd offsets (1, 4, 9, ...): through CRLFs and characters."""
    cuts = sorted({n * n for n in range(1, 200) if n * n < len(body)} | {3, 5, 7})
    points = [0, *cuts, len(body)]
    return [body[a:b] for a, b in itertools.pairwise(points) if b > a]


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_events_over_chunked_sse_split_at_odd_positions_give_every_payload(
    serve_raw: RawServerFactory, ending: str
) -> None:
    body = multi_line_sse(PAYLOADS, ending)
    script: list[Step] = [head()]
    for piece in odd_pieces(body):
        script += [chunk(piece), 0.005]
    server = serve_raw([*script, LAST_CHUNK])
    assert collect(client_for(server, timeout=2.0)) == PAYLOADS


def test_events_with_every_byte_in_its_own_tcp_write_give_every_payload(
    serve_raw: RawServerFactory,
) -> None:
    body = multi_line_sse(PAYLOADS, "\r\n")
    script: list[Step] = [head(framing="length", length=len(body))]
    for i in range(len(body)):
        script += [body[i : i + 1], 0.001]
    server = serve_raw(script)
    assert collect(client_for(server, timeout=2.0)) == PAYLOADS


@pytest.mark.parametrize("framing", ["chunked", "length", "close"])
def test_every_http_framing_gives_the_same_events(
    serve_raw: RawServerFactory, framing: str
) -> None:
    body = multi_line_sse(PAYLOADS, "\n")
    if framing == "chunked":
        script: list[Step] = [head(), chunk(body[:10]), 0.01, chunk(body[10:]), LAST_CHUNK]
    elif framing == "length":
        script = [head(framing="length", length=len(body)), body[:10], 0.01, body[10:]]
    else:
        script = [head(framing="close"), body[:10], 0.01, body[10:], CLOSE]
    server = serve_raw(script)
    assert collect(client_for(server, timeout=2.0)) == PAYLOADS


def test_a_gzip_stream_is_decoded_before_parsing(serve_raw: RawServerFactory) -> None:
    body = gzip.compress(sse("x", "y"))
    server = serve_raw([head(headers={"Content-Encoding": "gzip"}), chunk(body), LAST_CHUNK])
    assert collect(client_for(server, timeout=2.0)) == ["x", "y"]


# -- events(): timeouts -----------------------------------------------------------------


def stall_after_two_events(serve_raw: RawServerFactory) -> RawServer:
    return serve_raw([head(), chunk(sse("a")), chunk(sse("b")), 3.0])


def test_a_stall_after_two_events_is_an_idle_timeout(serve_raw: RawServerFactory) -> None:
    server = stall_after_two_events(serve_raw)
    received: list[str] = []
    with pytest.raises(ProviderTimeoutError) as info:
        collect(client_for(server, timeout=0.5), received)
    assert info.value.phase == "idle"
    assert received == ["a", "b"]


def test_an_idle_timeout_comes_within_generous_slack_of_the_timeout(
    serve_raw: RawServerFactory,
) -> None:
    server = stall_after_two_events(serve_raw)
    client = client_for(server, timeout=0.5)
    response = client.request("POST", "chat", stream=True)
    events = client.events(response)
    assert [next(events), next(events)] == ["a", "b"]
    start = time.monotonic()
    with pytest.raises(ProviderTimeoutError):
        next(events)
    assert time.monotonic() - start < 2.0


def test_a_stalled_stream_is_closed_so_the_server_sees_the_client_go(
    serve_raw: RawServerFactory,
) -> None:
    server = stall_after_two_events(serve_raw)
    start = time.monotonic()
    with pytest.raises(ProviderTimeoutError):
        collect(client_for(server, timeout=0.5))
    assert client_left(server)
    closed_at = server.connection(1).closed_at
    assert closed_at is not None
    assert closed_at - start < 2.0


def test_keep_alive_comments_alone_are_not_progress(serve_raw: RawServerFactory) -> None:
    keep_alives = itertools.cycle([chunk(b": ping\n\n"), 0.1])
    server = serve_raw(itertools.chain([head()], keep_alives))
    start = time.monotonic()
    with pytest.raises(ProviderTimeoutError) as info:
        collect(client_for(server, timeout=0.5))
    assert info.value.phase == "idle"
    assert time.monotonic() - start < 2.0
    assert client_left(server)


def test_a_byte_trickle_that_never_completes_an_event_is_an_idle_timeout(
    serve_raw: RawServerFactory,
) -> None:
    trickle = itertools.cycle([chunk(b"x"), 0.1])
    server = serve_raw(itertools.chain([head(), chunk(b"data: ")], trickle))
    start = time.monotonic()
    with pytest.raises(ProviderTimeoutError) as info:
        collect(client_for(server, timeout=0.5))
    assert info.value.phase == "idle"
    assert time.monotonic() - start < 2.0


def test_an_endless_trickle_of_events_stops_at_the_deadline(serve_raw: RawServerFactory) -> None:
    events = itertools.cycle([chunk(sse("t")), 0.2])
    server = serve_raw(itertools.chain([head()], events))
    client = client_for(server, deadline=1.0)
    received: list[str] = []
    with pytest.raises(ProviderTimeoutError) as info:
        collect(client, received)
    assert info.value.phase == "deadline"
    assert info.value.retryable is False
    assert client.context.deadline_at is not None
    assert time.monotonic() - client.context.deadline_at < 1.0  # deadline 1 s, slack 1 s
    assert received  # events did arrive before it
    assert client_left(server)


def test_a_deadline_passing_while_the_caller_holds_an_event_ends_the_stream_there(
    serve_raw: RawServerFactory,
) -> None:
    server = serve_raw([head(), chunk(sse("a")), 0.1, chunk(sse("b")), HOLD])
    client = client_for(server, deadline=0.6)
    events = client.events(client.request("POST", "chat", stream=True))
    assert next(events) == "a"
    time.sleep(0.8)  # "b" has arrived meanwhile, but the call is out of time
    with pytest.raises(ProviderTimeoutError) as info:
        next(events)
    assert info.value.phase == "deadline"


# -- events(): broken streams -----------------------------------------------------------


def test_a_server_closing_mid_chunked_body_is_a_connection_error(
    serve_raw: RawServerFactory,
) -> None:
    server = serve_raw([head(), chunk(sse("a")), b"20\r\ndata: partial", CLOSE])
    received: list[str] = []
    with pytest.raises(ProviderConnectionError):
        collect(client_for(server, timeout=2.0), received)
    assert received == ["a"]


def test_a_server_resetting_mid_body_is_a_connection_error(serve_raw: RawServerFactory) -> None:
    server = serve_raw([head(), chunk(sse("a")), 0.05, RESET])
    with pytest.raises(ProviderConnectionError):
        collect(client_for(server, timeout=2.0))


def test_a_body_shorter_than_its_content_length_is_a_connection_error(
    serve_raw: RawServerFactory,
) -> None:
    server = serve_raw([head(framing="length", length=100), b"data: a\n\n", CLOSE])
    received: list[str] = []
    with pytest.raises(ProviderConnectionError):
        collect(client_for(server, timeout=2.0), received)
    assert received == ["a"]


def test_a_close_delimited_stream_ending_mid_event_is_a_connection_error(
    serve_raw: RawServerFactory,
) -> None:
    server = serve_raw([head(framing="close"), b"data: a\n\ndata: b", CLOSE])
    received: list[str] = []
    with pytest.raises(ProviderConnectionError, match="middle of an event"):
        collect(client_for(server, timeout=2.0), received)
    assert received == ["a"]


def test_a_complete_chunked_body_ending_mid_event_is_a_connection_error(
    serve_raw: RawServerFactory,
) -> None:
    server = serve_raw(stream_of(b"data: a\n\ndata: b\n"))
    received: list[str] = []
    with pytest.raises(ProviderConnectionError, match="middle of an event"):
        collect(client_for(server, timeout=2.0), received)
    assert received == ["a"]


# -- events(): limits and malformed streams ---------------------------------------------


def test_a_line_over_max_line_bytes_is_a_response_error(serve_raw: RawServerFactory) -> None:
    server = serve_raw(stream_of(b"data: " + b"x" * 5000 + b"\n\n"))
    with pytest.raises(ProviderResponseError, match="max_line_bytes"):
        collect(client_for(server, timeout=2.0, max_line_bytes=1024))


def test_an_endless_line_is_refused_soon_after_max_line_bytes(serve_raw: RawServerFactory) -> None:
    piece = chunk(b"x" * (16 << 10))
    server = serve_raw(itertools.chain([head(), chunk(b"data: ")], itertools.repeat(piece, 1000)))
    with pytest.raises(ProviderResponseError, match="max_line_bytes"):
        collect(client_for(server, timeout=2.0, max_line_bytes=64 << 10))
    assert client_left(server)


def test_a_reply_over_max_reply_bytes_is_a_response_error(serve_raw: RawServerFactory) -> None:
    server = serve_raw(stream_of(sse(*["y" * 100] * 200)))
    received: list[str] = []
    with pytest.raises(ProviderResponseError, match="max_reply_bytes"):
        collect(client_for(server, timeout=2.0, max_reply_bytes=5000), received)
    assert len(received) < 200


def test_max_reply_bytes_counts_decompressed_bytes(serve_raw: RawServerFactory) -> None:
    body = gzip.compress(sse(*["z" * 1000] * 1000))  # 1 MB of events, a few KB on the wire
    server = serve_raw([head(headers={"Content-Encoding": "gzip"}), chunk(body), LAST_CHUNK])
    with pytest.raises(ProviderResponseError, match="max_reply_bytes"):
        collect(client_for(server, timeout=2.0, max_reply_bytes=100_000))


def test_invalid_utf8_in_the_stream_is_a_response_error(serve_raw: RawServerFactory) -> None:
    server = serve_raw([head(), chunk(b"data: ok\n\n"), 0.05, chunk(b"data: \xff\xfe\n\n")])
    received: list[str] = []
    with pytest.raises(ProviderResponseError, match="UTF-8"):
        collect(client_for(server, timeout=2.0), received)
    assert received == ["ok"]


# -- request(): error statuses ----------------------------------------------------------


def test_a_500_with_a_json_message_is_an_http_error_carrying_it(
    serve_raw: RawServerFactory,
) -> None:
    server = serve_raw(reply(500, json.dumps({"message": "model overloaded"}).encode()))
    with pytest.raises(ProviderHTTPError) as info:
        client_for(server, timeout=2.0).request("POST", "chat")
    assert info.value.status == 500
    assert "model overloaded" in str(info.value)
    assert info.value.retryable is True


def test_an_error_type_in_a_json_error_body_is_kept(serve_raw: RawServerFactory) -> None:
    body = json.dumps({"error": "CUDA out of memory", "error_type": "generation"}).encode()
    server = serve_raw(reply(424, body))
    with pytest.raises(ProviderHTTPError) as info:
        client_for(server, timeout=2.0).request("POST", "chat")
    assert info.value.status == 424
    assert info.value.error_type == "generation"
    assert "CUDA out of memory" in str(info.value)


def test_a_429_with_retry_after_seconds_is_a_rate_limit_error(serve_raw: RawServerFactory) -> None:
    server = serve_raw(reply(429, b"{}", headers={"Retry-After": "7"}))
    with pytest.raises(RateLimitError) as info:
        client_for(server, timeout=2.0).request("POST", "chat")
    assert info.value.status == 429
    assert info.value.retry_after == 7.0


def test_a_429_with_retry_after_http_date_is_a_rate_limit_error(
    serve_raw: RawServerFactory,
) -> None:
    when = email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), True)
    server = serve_raw(reply(429, b"slow down", ctype="text/plain", headers={"Retry-After": when}))
    with pytest.raises(RateLimitError) as info:
        client_for(server, timeout=2.0).request("POST", "chat")
    assert info.value.retry_after is not None
    assert 20.0 < info.value.retry_after <= 31.0


def big_html(title: str = "Bad gateway") -> bytes:
    filler = "<p>" + "lorem ipsum dolor sit amet " * 40 + "</p>\n"
    page = f"<!DOCTYPE html><html><head><title>{title}</title></head><body>"
    page += filler * ((100 << 10) // len(filler) + 1) + "</body></html>"
    return page.encode()


def test_a_502_html_page_becomes_a_short_message_naming_html_and_its_title(
    serve_raw: RawServerFactory,
) -> None:
    server = serve_raw(reply(502, big_html(), ctype="text/html; charset=utf-8"))
    with pytest.raises(ProviderHTTPError) as info:
        client_for(server, timeout=2.0).request("POST", "chat")
    message = str(info.value)
    assert info.value.status == 502
    assert len(message) < 500
    assert "html" in message.lower()
    assert "Bad gateway" in message
    assert "lorem" not in message


def test_a_redirect_to_another_port_is_not_followed(serve_raw: RawServerFactory) -> None:
    other = serve_raw(reply(200, b"{}"))
    server = serve_raw(
        reply(307, b"", ctype="text/plain", headers={"Location": other.url + "/steal"})
    )
    with pytest.raises(ProviderResponseError, match="redirect"):
        client_for(server, timeout=2.0).request("POST", "chat", json={"prompt": "secret"})
    time.sleep(0.1)
    assert other.accepted == 0
    assert other.requests == []


def test_a_redirect_error_names_the_target_origin_only(serve_raw: RawServerFactory) -> None:
    server = serve_raw(
        reply(
            307, b"", ctype="text/plain", headers={"Location": "http://elsewhere:8080/p?q=CANARY"}
        )
    )
    with pytest.raises(ProviderResponseError) as info:
        client_for(server, timeout=2.0).request("POST", "chat")
    assert "http://elsewhere:8080" in str(info.value)
    assert_no_secret(info.value)


def test_connection_refused_is_a_connection_error_naming_host_and_port() -> None:
    port = closed_port()
    with pytest.raises(ProviderConnectionError) as info:
        client_for(f"http://127.0.0.1:{port}", timeout=2.0).request("GET", "models")
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "refused" in str(info.value)
    assert info.value.retryable is True
    assert_no_secret(info.value)


def test_a_non_streamed_reply_over_max_reply_bytes_is_a_response_error(
    serve_raw: RawServerFactory,
) -> None:
    server = serve_raw(reply(200, b'{"x": "' + b"a" * 20000 + b'"}'))
    with pytest.raises(ProviderResponseError, match="max_reply_bytes"):
        client_for(server, timeout=2.0, max_reply_bytes=10000).request("GET", "models")


def test_a_non_streamed_reply_is_read_whole(serve_raw: RawServerFactory) -> None:
    server = serve_raw(reply(200, b'{"ok": true}'))
    response = client_for(server, timeout=2.0).request("GET", "models")
    assert response.json() == {"ok": True}


# -- connection reuse -------------------------------------------------------------------


def sse_then_done() -> list[Step]:
    return [head(), chunk(sse("a")), chunk(sse("[DONE]")), 0.05, LAST_CHUNK]


def read_until_done(client: Client) -> list[str]:
    response = client.request("POST", "chat", stream=True)
    received: list[str] = []
    events = client.events(response)
    for data in events:
        received.append(data)
        if data == "[DONE]":
            client.finish(response)
            break
    events.close()
    return received


def test_finish_after_the_final_event_lets_the_next_request_reuse_the_connection(
    serve_raw: RawServerFactory,
) -> None:
    server = serve_raw(sse_then_done(), reply(200, b'{"ok": true}'))
    client = client_for(server, timeout=2.0)
    assert read_until_done(client) == ["a", "[DONE]"]
    assert client.request("GET", "models").json() == {"ok": True}
    assert len(server.requests) == 2
    assert server.accepted == 1


def test_a_stream_read_to_its_end_lets_the_next_request_reuse_the_connection(
    serve_raw: RawServerFactory,
) -> None:
    server = serve_raw(stream_of(sse("a", "b")), reply(200, b"{}"))
    client = client_for(server, timeout=2.0)
    assert collect(client) == ["a", "b"]
    client.request("GET", "models")
    assert server.accepted == 1


def test_finish_closes_a_connection_that_keeps_sending(serve_raw: RawServerFactory) -> None:
    flood = itertools.repeat(chunk(b": " + b"." * 8190 + b"\n"), 100)
    server = serve_raw(
        itertools.chain([head(), chunk(sse("[DONE]"))], flood, [LAST_CHUNK]), reply(200, b"{}")
    )
    client = client_for(server, timeout=2.0)
    assert read_until_done(client) == ["[DONE]"]
    assert client_left(server)
    client.request("GET", "models")
    assert server.accepted == 2


# -- error messages never carry the path or query ---------------------------------------


SCENARIOS: dict[str, tuple[list[Step], dict[str, object], bool]] = {
    "500-json": (reply(500, b'{"message": "boom"}'), {}, False),
    "429": (reply(429, b"{}", headers={"Retry-After": "1"}), {}, False),
    "502-html": (reply(502, big_html(), ctype="text/html"), {}, False),
    "redirect": (
        reply(302, b"", ctype="text/plain", headers={"Location": "/v1/SECRET?key=CANARY"}),
        {},
        False,
    ),
    "idle-timeout": ([head(), chunk(sse("a")), 2.0], {"timeout": 0.3}, True),
    "mid-body-close": ([head(), b"20\r\ndata: x", CLOSE], {}, True),
    "mid-event-end": (stream_of(b"data: x\n"), {}, True),
    "line-too-long": (stream_of(b"data: " + b"x" * 3000 + b"\n\n"), {"max_line_bytes": 1000}, True),
    "reply-too-big": (stream_of(sse(*["x"] * 1000)), {"max_reply_bytes": 1000}, True),
    "bad-utf8": (stream_of(b"data: \xff\n\n"), {}, True),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_no_error_message_contains_the_url_path_or_query(
    serve_raw: RawServerFactory, scenario: str
) -> None:
    script, options, streamed = SCENARIOS[scenario]
    server = serve_raw(script)
    client = client_for(server, **{"timeout": 2.0, **options})
    with pytest.raises(ProviderError) as info:
        if streamed:
            collect(client)
        else:
            client.request("POST", "chat")
    assert_no_secret(info.value)


def test_the_origin_of_a_url_drops_path_query_and_credentials() -> None:
    assert origin("https://user:pw@example.com/v1/SECRET?key=CANARY") == "https://example.com:443"
    assert origin("http://127.0.0.1:8080/x#frag") == "http://127.0.0.1:8080"


def test_translate_names_only_the_origin_of_the_failed_request() -> None:
    request = requests.Request("GET", "http://example.com:81/v1/SECRET?key=CANARY").prepare()
    error = translate(requests.ConnectionError("boom", request=request), "Test")
    assert isinstance(error, ProviderConnectionError)
    assert "http://example.com:81" in str(error)
    assert_no_secret(error)


def test_translate_a_connect_timeout_is_a_connect_phase_timeout() -> None:
    error = translate(requests.ConnectTimeout("x"), "Test", "http://h:1")
    assert isinstance(error, ProviderTimeoutError)
    assert error.phase == "connect"


# -- parse_retry_after --------------------------------------------------------------------


def http_date(seconds_from_now: float) -> str:
    moment = datetime.now(timezone.utc) + timedelta(seconds=seconds_from_now)
    return email.utils.format_datetime(moment, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
        ({"retry-after-ms": "junk", "Retry-After": "9"}, 9.0),
        ({"retry-after-ms": "-5", "Retry-After": "9"}, 9.0),
        ({"retry-after-ms": "nan"}, None),
        ({"Retry-After": "120"}, 120.0),
        ({"Retry-After": " 3 "}, 3.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": "-1"}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "NaN"}, None),
        ({"Retry-After": ""}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(CaseInsensitiveDict(headers)) == expected


def test_parse_retry_after_reads_an_http_date_in_the_future() -> None:
    value = parse_retry_after(CaseInsensitiveDict({"Retry-After": http_date(60)}))
    assert value is not None
    assert 50.0 < value <= 61.0


def test_parse_retry_after_makes_an_http_date_in_the_past_zero() -> None:
    assert parse_retry_after(CaseInsensitiveDict({"Retry-After": http_date(-60)})) == 0.0


@pytest.mark.parametrize(
    "headers", [{"Retry-After": "inf"}, {"Retry-After": "1e999"}, {"retry-after-ms": "Infinity"}]
)
def test_parse_retry_after_refuses_infinity(headers: dict[str, str]) -> None:
    assert parse_retry_after(CaseInsensitiveDict(headers)) is None


# -- request(): waits bounded by timeout and deadline -------------------------------------


def test_a_server_that_never_answers_is_a_read_timeout(serve_raw: RawServerFactory) -> None:
    server = serve_raw()  # reads the request, answers nothing
    start = time.monotonic()
    with pytest.raises(ProviderTimeoutError) as info:
        client_for(server, timeout=0.5).request("GET", "models")
    assert info.value.phase == "headers"
    assert time.monotonic() - start < 2.0


def test_a_server_silent_past_the_deadline_is_a_deadline_error(serve_raw: RawServerFactory) -> None:
    server = serve_raw()
    with pytest.raises(ProviderTimeoutError) as info:
        client_for(server, deadline=0.5).request("GET", "models")
    assert info.value.phase == "deadline"
    assert info.value.retryable is False


def one_byte_every_tenth_of_a_second(data: bytes) -> Iterator[Step]:
    for i in range(len(data)):
        yield data[i : i + 1]
        yield 0.1


def test_a_response_head_trickling_past_the_deadline_stops_at_the_deadline(
    serve_raw: RawServerFactory,
) -> None:
    server = serve_raw(one_byte_every_tenth_of_a_second(head() * 5), lifetime=2.5)
    start = time.monotonic()
    with pytest.raises(ProviderTimeoutError) as info:
        client_for(server, deadline=1.0).request("GET", "models")
    assert info.value.phase == "deadline"
    assert time.monotonic() - start < 2.0


def test_a_body_trickling_past_the_deadline_stops_at_the_deadline(
    serve_raw: RawServerFactory,
) -> None:
    trickle = one_byte_every_tenth_of_a_second(b"x" * 100)
    server = serve_raw(
        itertools.chain([head(ctype="application/json", framing="length", length=100)], trickle),
        lifetime=2.5,
    )
    start = time.monotonic()
    with pytest.raises(ProviderTimeoutError) as info:
        client_for(server, deadline=1.0).request("GET", "models")
    assert info.value.phase == "deadline"
    assert time.monotonic() - start < 2.0


def chunk_size_trickle() -> Iterator[Step]:
    """An event, then a chunk-size line that never ends: "10000000..." one digit at a time."""
    return itertools.chain([head(), chunk(sse("a")), b"1"], itertools.cycle([b"0", 0.1]))


def test_a_chunk_size_line_trickling_forever_is_an_idle_timeout(
    serve_raw: RawServerFactory,
) -> None:
    server = serve_raw(chunk_size_trickle(), lifetime=2.5)
    start = time.monotonic()
    with pytest.raises(ProviderTimeoutError) as info:
        collect(client_for(server, timeout=0.5))
    assert info.value.phase == "idle"
    assert time.monotonic() - start < 2.0


def test_a_chunk_size_line_trickling_forever_stops_at_the_deadline(
    serve_raw: RawServerFactory,
) -> None:
    server = serve_raw(chunk_size_trickle(), lifetime=2.5)
    start = time.monotonic()
    with pytest.raises(ProviderTimeoutError) as info:
        collect(client_for(server, deadline=1.0))
    assert info.value.phase == "deadline"
    assert time.monotonic() - start < 2.0


# -- origins --------------------------------------------------------------------------


def test_the_origin_of_an_ipv6_url_keeps_its_brackets() -> None:
    assert origin("http://[::1]:8080/v1/x") == "http://[::1]:8080"


def test_a_base_url_with_an_invalid_port_fails_with_a_g4f_error() -> None:
    with pytest.raises(G4FError):
        client_for("http://127.0.0.1:99999", timeout=0.5).request("GET", "models")
