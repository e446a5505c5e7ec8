"""HTTP status and body faults F8-F13 of the fault catalogue, end to end through H2o.

A scripted chat-ui site answers the settings and conversation requests normally and the
generation request with the fault; the emulator supplies the protocol's own error bodies.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any

import pytest
from promises import (  # noqa: F401
    Outcome,
    Promises,
    all_released,
    consume,
    fault,
    promise_fixture,
)
from rawserver import (
    CLOSE,
    LAST_CHUNK,
    RawServer,
    Request,
    Script,
    Step,
    chat_ui_site,
    chunk,
    head,
    is_generation,
    reply,
    tgi_stream,
)

import g4f_core
from g4f_core.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderResponseError,
    RateLimitError,
)
from g4f_core.plugins.registry import Registry
from g4f_core_providers.h2o.server import H2oEmulator

PROMPT = "Hello, statuses"
SLACK = 0.5  # overrun allowed on a loaded 2-core machine; P1 reports the real one
OK_STREAM: list[Step] = [head(), chunk(tgi_stream(" fine")), LAST_CHUNK]


@pytest.fixture
def h2o(use_registry: Callable[[Registry], Registry]) -> Registry:
    """This project's own distribution only (H2o), never the developer's other plugins."""
    return use_registry(Registry([metadata.distribution("g4f-core")], environ={}))


@pytest.fixture
def emu() -> Iterator[H2oEmulator]:
    with H2oEmulator() as server:
        yield server


def h2o_stream(url: str, **options: Any) -> Callable[[], g4f_core.ChatStream]:
    return lambda: g4f_core.stream(PROMPT, provider="H2o", base_url=url, **options)


def generations(server: RawServer) -> list[float]:
    """When each generation request arrived (monotonic)."""
    return [r.at for r in server.requests if is_generation(r)]


def run_site(
    script: Script, promise: Promises, scenario: str, **options: object
) -> tuple[RawServer, Outcome, bool]:
    """Call H2o at a scripted site; also whether every connection was released (P4)."""
    with RawServer(script, lifetime=8) as site:
        out = consume(h2o_stream(site.url, **options))
        freed = all_released(promise, scenario, site.wait_all_closed)
    return site, out, freed


# -- F8 4xx with a JSON error body -----------------------------------------------------


def test_a_4xx_json_error_is_an_http_error_with_status_type_and_server_message(
    h2o: Registry, promise: Promises
) -> None:
    body = {
        "error": "Input validation error: `temperature` must be > 0",
        "error_type": "validation",
    }
    _, out, freed = run_site(chat_ui_site([reply(400, body)]), promise, "F8 400 JSON error")
    fault(promise, "F8 400 with a JSON error body", out.error, ProviderHTTPError)
    assert isinstance(out.error, ProviderHTTPError)
    assert out.error.status == 400
    assert out.error.error_type == "validation"
    assert out.error.provider == "H2o"
    assert "`temperature` must be > 0" in str(out.error)
    assert out.error.partial_text == ""
    assert freed


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_a_client_error_status_is_tried_exactly_once(
    h2o: Registry, status: int, promise: Promises
) -> None:
    script = chat_ui_site([reply(status, {"message": "no"})])
    site, out, freed = run_site(script, promise, f"F8 {status}", max_retries=2)
    sent = len(generations(site))
    promise("P9").record(f"F8 {status} not retried", kind="single", attempts=sent, passed=sent == 1)
    assert isinstance(out.error, ProviderHTTPError)
    assert out.error.status == status
    assert sent == 1
    assert len(out.error.attempts) == 1
    assert freed


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "nested message"}},
        {"message": "nested message"},
        {"detail": "nested message"},
    ],
    ids=["error.message", "message", "detail"],
)
def test_the_server_message_is_found_in_each_common_error_shape(
    h2o: Registry, body: dict[str, object]
) -> None:
    with RawServer(chat_ui_site([reply(400, body)]), lifetime=5) as site:
        out = consume(h2o_stream(site.url))
    assert isinstance(out.error, ProviderHTTPError)
    assert "nested message" in str(out.error)


def test_a_long_server_message_is_cut_short(h2o: Registry) -> None:
    body = {"error": "too long " * 1000 + "TAIL"}
    with RawServer(chat_ui_site([reply(400, body)]), lifetime=5) as site:
        out = consume(h2o_stream(site.url))
    assert isinstance(out.error, ProviderHTTPError)
    assert "too long" in str(out.error)
    assert "TAIL" not in str(out.error)
    assert len(str(out.error)) < 500


def test_the_emulators_validation_error_is_an_http_error_naming_the_problem(
    h2o: Registry, emu: H2oEmulator
) -> None:
    # TGI answers 422 with {"error", "error_type"} when the request itself is invalid.
    payload = json.dumps({"error": "Input validation error: bad", "error_type": "validation"})
    emu.faults.fail_generation = [(422, "application/json", payload.encode())]
    out = consume(h2o_stream(emu.url))
    assert isinstance(out.error, ProviderHTTPError)
    assert out.error.status == 422
    assert out.error.error_type == "validation"
    assert "Input validation error: bad" in str(out.error)


# -- F9 429 with Retry-After -------------------------------------------------------------


def test_a_429_with_retry_after_seconds_is_retried_after_that_wait(
    h2o: Registry, promise: Promises
) -> None:
    limited = reply(429, {"message": "slow down"}, headers={"Retry-After": "1"})
    site, out, freed = run_site(chat_ui_site([limited, OK_STREAM]), promise, "F9 Retry-After: 1")
    sent = generations(site)
    gap = sent[1] - sent[0] if len(sent) == 2 else float("nan")
    honoured = 0.9 <= gap <= 1.1 + SLACK
    promise("P9").record(
        "F9 Retry-After: 1", kind="retry-after", asked_s=1, wait_s=round(gap, 3), passed=honoured
    )
    assert out.error is None
    assert out.text == " fine"
    assert len(sent) == 2
    assert honoured
    assert freed


def test_a_429_asking_for_an_hour_fails_at_once_with_retry_after(
    h2o: Registry, promise: Promises
) -> None:
    limited = reply(429, {"message": "slow down"}, headers={"Retry-After": "3600"})
    script = chat_ui_site([limited, OK_STREAM])
    site, out, freed = run_site(script, promise, "F9 429 Retry-After: 3600")
    fault(promise, "F9 429 Retry-After: 3600", out.error, RateLimitError)
    sent = len(generations(site))
    promise("P9").record(
        "F9 Retry-After: 3600 not waited for", kind="single", attempts=sent, passed=sent == 1
    )
    assert isinstance(out.error, RateLimitError)
    assert out.error.status == 429
    assert out.error.retry_after == 3600
    assert out.error.provider == "H2o"
    assert sent == 1
    assert out.elapsed < 60  # no hour-long wait
    assert freed


def test_a_retry_after_beyond_the_deadline_fails_at_once(h2o: Registry, promise: Promises) -> None:
    limited = reply(429, {"message": "slow down"}, headers={"Retry-After": "5"})
    with RawServer(chat_ui_site([limited, OK_STREAM]), lifetime=5) as site:
        out = consume(h2o_stream(site.url, deadline=3.0))
    sent = len(generations(site))
    promise("P9").record(
        "F9 Retry-After past the deadline not waited for",
        kind="single",
        attempts=sent,
        passed=sent == 1,
    )
    assert isinstance(out.error, RateLimitError)
    assert out.error.retry_after == 5
    assert sent == 1
    assert out.elapsed < 3.0  # the 5 s wish was not waited for


def test_a_retry_after_http_date_is_honoured(h2o: Registry, promise: Promises) -> None:
    when = email.utils.formatdate(time.time() + 2, usegmt=True)  # 1-2 s ahead, whole seconds
    limited = reply(429, {"message": "slow down"}, headers={"Retry-After": when})
    script = chat_ui_site([limited, OK_STREAM])
    site, out, freed = run_site(script, promise, "F9 Retry-After: HTTP-date")
    sent = generations(site)
    gap = sent[1] - sent[0] if len(sent) == 2 else float("nan")
    honoured = 0.9 <= gap <= 2.1 + SLACK
    promise("P9").record(
        "F9 Retry-After: HTTP-date 1-2 s ahead",
        kind="retry-after",
        wait_s=round(gap, 3),
        passed=honoured,
    )
    assert out.text == " fine"
    assert honoured
    assert freed


def test_a_junk_retry_after_falls_back_to_jittered_backoff(
    h2o: Registry, promise: Promises
) -> None:
    limited = reply(429, {"message": "slow down"}, headers={"Retry-After": "soon"})
    script = chat_ui_site([limited, OK_STREAM])
    site, out, freed = run_site(script, promise, "F9 junk Retry-After")
    sent = generations(site)
    gap = sent[1] - sent[0] if len(sent) == 2 else float("nan")
    backoff = 0.375 <= gap <= 0.5 + SLACK  # 0.5 s x U(0.75, 1) for the first retry
    promise("P9").record(
        "F9 junk Retry-After uses backoff", kind="backoff", wait_s=round(gap, 3), passed=backoff
    )
    assert out.text == " fine"
    assert backoff
    assert freed


def test_the_emulators_rate_limit_is_a_rate_limit_error(h2o: Registry, emu: H2oEmulator) -> None:
    emu.faults.rate_limit = 0
    out = consume(h2o_stream(emu.url, max_retries=0))
    assert isinstance(out.error, RateLimitError)
    assert out.error.status == 429
    assert "too many messages" in str(out.error)


# -- F10 5xx ----------------------------------------------------------------------------


def test_two_503s_then_success_takes_three_attempts_within_the_backoff_budget(
    h2o: Registry, promise: Promises
) -> None:
    busy = reply(503, b"busy", ctype="text/plain")
    site, out, freed = run_site(chat_ui_site([busy, busy, OK_STREAM]), promise, "F10 503, 503, 200")
    sent = len(generations(site))
    promise("P9").record(
        "F10 503, 503, 200", kind="retryable", attempts=sent, expected=3, passed=sent == 3
    )
    assert out.error is None
    assert out.text == " fine"
    assert sent == 3
    # backoff 0.5 x U(0.75, 1) then 1.0 x U(0.75, 1)
    assert 0.375 + 0.75 <= out.elapsed <= 1.5 + SLACK
    assert freed


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_server_error_that_persists_takes_one_plus_max_retries_attempts(
    h2o: Registry, status: int, promise: Promises
) -> None:
    script = chat_ui_site([reply(status, b"boom", ctype="text/plain")])
    site, out, freed = run_site(script, promise, f"F10 persistent {status}", max_retries=1)
    error = out.error
    sent = len(generations(site))
    promise("P9").record(
        f"F10 persistent {status}, max_retries=1",
        kind="retryable",
        attempts=sent,
        expected=2,
        passed=sent == 2,
    )
    fault(promise, f"F10 persistent {status}", error, ProviderHTTPError)
    assert isinstance(error, ProviderHTTPError)
    assert error.status == status
    assert sent == 2
    assert [getattr(a.error, "status", None) for a in error.attempts] == [status, status]
    assert all(a.provider.endswith("H2o") for a in error.attempts)
    assert out.elapsed <= 0.5 + SLACK
    assert freed


def test_the_emulators_503_then_success_is_retried(h2o: Registry, emu: H2oEmulator) -> None:
    emu.faults.fail_generation = [(503, "text/plain", b"Service Unavailable")]
    out = consume(h2o_stream(emu.url, max_retries=1))
    assert out.error is None
    assert out.text == "".join(emu.reply_for(f"user: {PROMPT}\nassistant: ", emu.models[0]))


# -- F11 an HTML page instead of JSON or SSE ------------------------------------------------

PAGE = (
    b"<!DOCTYPE html><html><head><title>Bad gateway</title></head><body>"
    + b"<p>upstream unavailable</p>" * 4000
    + b"PAGE-CANARY</body></html>"
)


def test_an_html_error_page_is_a_short_message_naming_html_and_its_title(
    h2o: Registry, promise: Promises
) -> None:
    script = chat_ui_site([reply(502, PAGE, ctype="text/html")])
    _, out, freed = run_site(script, promise, "F11 502 HTML page", max_retries=0)
    fault(promise, "F11 502 text/html page", out.error, ProviderHTTPError)
    assert isinstance(out.error, ProviderHTTPError)
    assert out.error.status == 502
    assert "html" in str(out.error).lower()
    assert "Bad gateway" in str(out.error)
    assert "PAGE-CANARY" not in str(out.error) and "upstream unavailable" not in str(out.error)
    assert len(str(out.error)) < 500
    assert freed


def test_an_html_page_with_status_200_is_not_a_success(h2o: Registry, promise: Promises) -> None:
    script = chat_ui_site([reply(200, PAGE, ctype="text/html")])
    site, out, freed = run_site(script, promise, "F11 200 HTML page")
    fault(promise, "F11 200 text/html page", out.error, ProviderResponseError)
    assert isinstance(out.error, ProviderResponseError)
    assert "text/html" in str(out.error)
    assert "PAGE-CANARY" not in str(out.error)
    assert len(str(out.error)) < 500
    assert len(generations(site)) == 1  # a wrong kind of answer is not retried
    assert freed


# -- F12 the conversation answer lacks its id ---------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        b"{}",
        b'{"conversationId": null}',
        b'{"conversationId": 5}',
        b'{"conversationId": ""}',
        b'{"conversationId": "../../etc"}',
        b"not json",
        b"",
    ],
    ids=["empty-object", "null", "number", "empty-string", "path", "not-json", "empty-body"],
)
def test_a_conversation_answer_without_a_usable_id_stops_the_call(
    h2o: Registry, answer: bytes, promise: Promises
) -> None:
    normal = chat_ui_site([OK_STREAM])

    def script(request: Request) -> list[Step]:
        if request.method == "POST" and request.path.endswith("/conversation"):
            return reply(200, answer)
        return list(normal(request))

    site, out, freed = run_site(script, promise, "F12 unusable conversation answer")
    fault(promise, f"F12 conversation answer {answer[:20]!r}", out.error, ProviderResponseError)
    assert isinstance(out.error, ProviderResponseError)
    assert "conversationId" in str(out.error)
    assert out.error.provider == "H2o"
    assert len(out.error.attempts) == 1  # not retried
    assert [r.path for r in site.requests][-1] == "/conversation"  # nothing sent after it
    assert freed


# -- F13 an empty 200 body -------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        [head(), LAST_CHUNK],
        [head(framing="length", length=0)],
        [head(framing="close"), CLOSE],
    ],
    ids=["chunked-empty", "content-length-0", "close-at-once"],
)
def test_an_empty_stream_is_an_error_never_an_empty_answer(
    h2o: Registry, answer: list[Step], promise: Promises
) -> None:
    _, out, freed = run_site(chat_ui_site([answer]), promise, "F13 empty stream", max_retries=0)
    fault(promise, "F13 empty 200 stream", out.error, ProviderConnectionError)
    assert out.chunks == []
    assert isinstance(out.error, ProviderConnectionError)
    assert "final event" in str(out.error)
    assert out.error.partial_text == ""
    assert freed


def test_complete_never_returns_an_empty_string_for_an_empty_stream(h2o: Registry) -> None:
    empty = chat_ui_site([[head(), LAST_CHUNK]])
    with RawServer(empty, lifetime=5) as site, pytest.raises(ProviderError):
        g4f_core.complete(PROMPT, provider="H2o", base_url=site.url, max_retries=0)


def test_chat_uis_later_json_lines_answer_is_named_not_parsed(
    h2o: Registry, emu: H2oEmulator, promise: Promises
) -> None:
    emu.faults.post_refactor = True
    out = consume(h2o_stream(emu.url))
    fault(promise, "F13 chat-ui JSON-lines answer", out.error, ProviderResponseError)
    assert isinstance(out.error, ProviderResponseError)
    assert "newline-delimited JSON" in str(out.error)
    assert out.chunks == []
