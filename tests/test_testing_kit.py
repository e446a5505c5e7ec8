"""The conformance suite: a good provider passes; each broken one fails the right check, saying why.

The providers under test are the scaffold's (``g4f-core new-provider``) with one thing
changed, loaded as packages from a folder on ``sys.path`` and checked as modules, each
against its own emulator on loopback.
"""

from __future__ import annotations

import importlib
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from g4f_core.kit.scaffold import new_provider
from g4f_core.testing import CHECKS, Check, Report, run_conformance
from g4f_core.testing.loopback import Relay, closed_port_url, http_reply

Edit = Callable[[str], str]


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """The scaffold's provider module and emulator sources."""
    root = tmp_path_factory.mktemp("scaffold") / "kit"
    new_provider("KitProbe", root)
    package = root / "g4f_kit_probe"
    return (package / "__init__.py").read_text(), (package / "server.py").read_text()


@pytest.fixture
def variant(site: Path, scaffold: tuple[str, str]) -> Callable[[str, Edit], ModuleType]:
    """Install the scaffold's provider, changed by ``edit``, as package ``name``."""

    def make(name: str, edit: Edit) -> ModuleType:
        provider, server = scaffold
        changed = edit(provider)
        package = site / name
        package.mkdir()
        (package / "__init__.py").write_text(changed)
        (package / "server.py").write_text(server)
        importlib.invalidate_caches()
        return importlib.import_module(name)

    return make


def replace(old: str, new: str) -> Edit:
    def edit(source: str) -> str:
        assert old in source, f"the scaffold no longer contains {old!r}"
        return source.replace(old, new)

    return edit


def body(new: str) -> Edit:
    """Replace the whole of ``_create_completion`` (up to ``_events``)."""

    def edit(source: str) -> str:
        start, end = source.index("def _create_completion("), source.index("def _events(")
        return source[:start] + new.strip() + "\n\n\n" + source[end:]

    return edit


def check(module: ModuleType, *names: str, **kwargs: Any) -> Report:
    return run_conformance(module, name="KitProbe", only=names or None, **kwargs)


def failed(report: Report, name: str) -> str:
    result = report.get(name)
    assert result.status == "fail", report.format()
    return result.detail


# -- a good provider ----------------------------------------------------------------------


def test_the_scaffolded_provider_passes_every_check(variant: Callable[..., ModuleType]) -> None:
    report = check(variant("kit_good", lambda source: source))
    assert report.passed, report.format()
    assert [c.name for c in report.checks] == [name for name, _ in CHECKS]
    assert report.count("skip") == 0
    assert report.mode == "emulator" and report.target and report.target.startswith("http://")


def test_live_mode_uses_the_endpoint_from_the_environment_and_skips_emulator_checks(
    variant: Callable[..., ModuleType],
) -> None:
    module = variant("kit_live", lambda source: source)
    server = module.emulator()
    url = server.start()
    try:
        report = check(module, emulator=False, environ={"G4F_CORE_KITPROBE_URL": url})
    finally:
        server.stop()
    assert report.passed, report.format()
    assert report.target == url
    assert report.get("early-stop").status == "skip"
    assert "judged only against the emulator" in report.get("streaming").detail


@pytest.mark.parametrize("reachable", [True, False], ids=["answering", "closed port"])
def test_live_mode_never_shows_the_user_and_password_of_the_endpoint_url(
    variant: Callable[..., ModuleType], reachable: bool
) -> None:
    module = variant(f"kit_userinfo_{reachable}", lambda source: source)
    server = module.emulator()
    url = server.start() if reachable else closed_port_url()
    host_port = url.split("://", 1)[1]
    secret = f"http://g4f-user:hunter2-canary@{host_port}"
    try:
        report = check(
            module, "endpoint", emulator=False, environ={"G4F_CORE_KITPROBE_URL": secret}
        )
    finally:
        server.stop()
    endpoint = report.get("endpoint")
    assert endpoint.status == ("pass" if reachable else "fail"), report.format()
    assert f"http://{host_port}" in endpoint.detail  # the origin is still named
    shown = report.format() + repr(report.to_dict())
    assert "g4f-user" not in shown
    assert "hunter2-canary" not in shown


def test_live_mode_without_an_endpoint_says_which_variable_to_set() -> None:
    provider = SimpleNamespace(
        models=["m"], supports_stream=False, needs_auth=False, _create_completion=_yield_ok
    )
    report = run_conformance(provider, name="NoUrl", emulator=False, environ={}, only=["endpoint"])
    assert "G4F_CORE_NOURL_URL is not set" in failed(report, "endpoint")


def _yield_ok(model: str, messages: list[Any], stream: bool, **kwargs: Any) -> Iterator[str]:
    yield "ok"


# -- streaming ------------------------------------------------------------------------------


def test_returning_a_str_instead_of_yielding_fails_streaming(
    variant: Callable[..., ModuleType],
) -> None:
    module = variant(
        "kit_returns",
        body('def _create_completion(model, messages, stream, **kw):\n    return "text"'),
    )
    assert "returned one str instead of yielding chunks" in failed(
        check(module, "streaming"), "streaming"
    )


def test_a_return_inside_the_generator_fails_streaming(variant: Callable[..., ModuleType]) -> None:
    module = variant(
        "kit_lost",
        replace("    body: dict[str, Any] =", '    return "text"\n    body: dict[str, Any] ='),
    )
    assert "`return`s a str, which no caller ever sees" in failed(
        check(module, "streaming"), "streaming"
    )


def test_yielding_bytes_fails_streaming(variant: Callable[..., ModuleType]) -> None:
    module = variant(
        "kit_bytes",
        replace("            yield _text(data)", "            yield _text(data).encode()"),
    )
    detail = failed(check(module, "streaming"), "streaming")
    assert "yielded bytes instead of str" in detail and "decode" in detail


def test_buffering_the_reply_fails_streaming_with_the_timing(
    variant: Callable[..., ModuleType],
) -> None:
    module = variant(
        "kit_buffers",
        replace("yield from _events(http, response)", "yield from list(_events(http, response))"),
    )
    detail = failed(check(module, "streaming"), "streaming")
    assert detail.startswith("the reply was buffered")
    assert "yield each chunk as soon as it arrives" in detail


def test_a_reply_in_one_chunk_fails_streaming(variant: Callable[..., ModuleType]) -> None:
    module = variant(
        "kit_joined",
        replace("yield from _events(http, response)", 'yield "".join(_events(http, response))'),
    )
    assert "came as one chunk" in failed(check(module, "streaming"), "streaming")


def test_a_different_whole_reply_fails_complete(variant: Callable[..., ModuleType]) -> None:
    module = variant(
        "kit_differs", replace("yield _text(response.text)", 'yield _text(response.text) + "!"')
    )
    report = check(module, "streaming", "complete")
    assert "differs from the streamed one" in failed(report, "complete")


# -- the endpoint ---------------------------------------------------------------------------


def test_a_provider_that_ignores_base_url_fails_endpoint(
    variant: Callable[..., ModuleType],
) -> None:
    module = variant(
        "kit_offline",
        body(
            'def _create_completion(model, messages, stream, **kw):\n    yield "a"\n    yield "b"'
        ),
    )
    detail = failed(check(module, "endpoint"), "endpoint")
    assert "never contacted its emulator" in detail and "G4F_CORE_KITPROBE_URL" in detail


def test_without_an_emulator_the_emulator_run_fails_endpoint_and_skips_the_calls() -> None:
    provider = SimpleNamespace(
        models=["m"], supports_stream=True, needs_auth=False, _create_completion=_yield_ok
    )
    report = run_conformance(provider, name="NoEmulator")
    assert "ships no emulator" in failed(report, "endpoint")
    for name in ("streaming", "complete", "models", "early-stop"):
        assert report.get(name).status == "skip"


# -- faults ---------------------------------------------------------------------------------


def test_a_provider_without_timeouts_fails_timeout(variant: Callable[..., ModuleType]) -> None:
    module = variant(
        "kit_no_timeout",
        body(
            """
def _create_completion(model, messages, stream, **kw):
    import urllib.request
    from g4f_core.context import current

    with urllib.request.urlopen(current().base_url + "/v1/chat", data=b"{}") as reply:
        yield reply.read().decode()
"""
        ),
    )
    started = time.monotonic()
    detail = failed(check(module, "timeout"), "timeout")
    assert "held the call for more than" in detail and "wait_limit" in detail
    assert time.monotonic() - started < 10


def test_yielding_an_error_message_fails_upstream_errors(
    variant: Callable[..., ModuleType],
) -> None:
    module = variant(
        "kit_swallows",
        body(
            """
def _create_completion(model, messages, stream, **kw):
    from g4f_core import G4FError
    from g4f_core import Client, current

    try:
        with Client(current(), base_url=url) as http:
            yield _text(http.request("POST", "/v1/chat", json={}).text)
    except G4FError as exc:
        yield f"Error: {exc}"
"""
        ),
    )
    detail = failed(check(module, "upstream-errors"), "upstream-errors")
    assert detail.startswith("a closed port and HTTP 500: the call succeeded")


def test_quoting_the_prompt_in_an_error_fails_upstream_errors(
    variant: Callable[..., ModuleType],
) -> None:
    module = variant(
        "kit_quotes",
        body(
            """
def _create_completion(model, messages, stream, **kw):
    from g4f_core import ProviderError

    raise ProviderError(f"cannot answer {messages[-1]['content']}")
    yield ""
"""
        ),
    )
    assert "quotes the prompt" in failed(check(module, "upstream-errors"), "upstream-errors")


def test_a_stream_that_keeps_its_connection_fails_early_stop(
    variant: Callable[..., ModuleType],
) -> None:
    module = variant(
        "kit_keeps",
        body(
            """
KEPT = []


def _create_completion(model, messages, stream, **kw):
    from g4f_core import Client, current

    http = Client(current(), base_url=url)
    body = {"model": model, "messages": messages, "stream": True, "temperature": 0.7}
    response = http.request("POST", "/v1/chat", json=body, stream=True)
    KEPT.append(response)  # never closed, even when the caller stops
    for line in response.iter_lines(chunk_size=1):
        if line.startswith(b"data: {"):
            yield json.loads(line[6:])["text"]
"""
        ),
    )
    try:
        detail = failed(check(module, "early-stop"), "early-stop")
    finally:
        for response in module.KEPT:
            response.close()
    assert "stayed open" in detail and "finally" in detail


def test_bad_input_is_refused_before_any_connection(variant: Callable[..., ModuleType]) -> None:
    report = check(variant("kit_input", lambda source: source), "bad-input")
    assert report.passed, report.format()
    assert "no connection opened" in report.get("bad-input").detail


def test_an_open_ended_provider_is_told_that_unknown_options_pass_through() -> None:
    provider = SimpleNamespace(
        models=["m"], supports_stream=True, needs_auth=False, _create_completion=_yield_ok
    )
    report = run_conformance(provider, name="Open", only=["bad-input", "options"])
    assert "unknown options pass through" in report.get("bad-input").detail
    assert "any keyword passes through unchecked" in report.get("options").detail


# -- declarations and options --------------------------------------------------------------


def declared(**overrides: Any) -> SimpleNamespace:
    values: dict[str, Any] = {
        "models": ["m"],
        "supports_stream": True,
        "needs_auth": False,
        "_create_completion": _yield_ok,
    }
    return SimpleNamespace(**{**values, **overrides})


def test_models_that_differ_only_in_case_fail_declarations() -> None:
    report = run_conformance(declared(models=["acme", "ACME"]), name="Cased", only=["declarations"])
    assert "differ only in case" in failed(report, "declarations")


def test_an_unsupported_contract_version_is_reported_before_anything_runs() -> None:
    report = run_conformance(declared(contract_version=2), name="Future")
    detail = failed(report, "declarations")
    assert "targets provider contract version 2; this g4f-core supports 1" in detail
    assert all(c.status == "skip" for c in report.checks[1:])


def test_a_default_of_the_wrong_type_fails_options() -> None:
    from g4f_core import Option

    provider = declared(options=[Option("max_tokens", int, "512")])
    report = run_conformance(provider, name="Typed", only=["options"])
    assert "declared int but its default '512' is a str" in failed(report, "options")


def test_a_keyword_no_caller_can_pass_fails_options() -> None:
    def _create_completion(
        model: str, messages: list[Any], stream: bool, top_p: float = 1.0, **kwargs: Any
    ) -> Iterator[str]:
        yield "x"

    provider = declared(_create_completion=_create_completion, options={"temperature": 0.5})
    detail = failed(run_conformance(provider, name="Hidden", only=["options"]), "options")
    assert "takes 'top_p', which `options` does not declare" in detail


def test_a_default_that_contradicts_the_declaration_fails_options() -> None:
    def _create_completion(
        model: str, messages: list[Any], stream: bool, temperature: float = 0.9
    ) -> Iterator[str]:
        yield "x"

    provider = declared(_create_completion=_create_completion, options={"temperature": 0.5})
    detail = failed(run_conformance(provider, name="Twice", only=["options"]), "options")
    assert "defaults 'temperature' to 0.9 but `options` declares 0.5" in detail


def test_a_hand_written_params_that_forgets_an_option_fails_options() -> None:
    provider = declared(options={"temperature": 0.5}, params="X supports: (model: str)")
    assert "omits temperature" in failed(
        run_conformance(provider, name="P", only=["options"]), "options"
    )


def test_an_unknown_check_name_is_refused() -> None:
    with pytest.raises(ValueError, match="no such check: streamin"):
        run_conformance(declared(), name="X", only=["streamin"])


# -- reports --------------------------------------------------------------------------------


def test_a_report_prints_a_table_and_a_verdict_and_serialises() -> None:
    report = Report(
        provider="Acme",
        mode="emulator",
        checks=(Check("declarations", "pass", "fine", 0.01), Check("timeout", "fail", "slow")),
        target="http://localhost:1",
        distribution="acme",
        version="1.0",
    )
    text = report.format()
    assert text.splitlines()[0] == "Acme (acme 1.0) against its emulator (http://localhost:1)"
    assert "verdict: FAIL (1 passed, 1 failed, 0 skipped)" in text
    assert report.to_dict()["checks"][1] == {
        "name": "timeout",
        "title": "timeout= bounds every wait",
        "status": "fail",
        "detail": "slow",
        "seconds": 0.0,
    }
    with pytest.raises(KeyError, match="no check named 'nope'"):
        report.get("nope")


# -- the loopback stand-ins -----------------------------------------------------------------


def test_a_silent_server_counts_connections_and_never_answers() -> None:
    with Relay() as silent, socket.create_connection(("127.0.0.1", silent.port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(1)
        assert silent.connections == 1


def test_a_canned_reply_answers_each_request_and_closes() -> None:
    reply = http_reply(500, "Internal Server Error", b"{}", "application/json")
    with Relay(reply=reply) as server, socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}")
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
    assert received == reply


def test_a_relay_passes_bytes_through_holds_them_and_sees_the_client_leave() -> None:
    reply = http_reply(200, "OK", b"hi", "text/plain")
    with Relay(reply=reply) as upstream, Relay(("127.0.0.1", upstream.port)) as relay:
        with socket.create_connection(("127.0.0.1", relay.port)) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
            sock.settimeout(2)
            assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")
        [link] = relay.links
        assert link.ended.wait(2)
        assert relay.url("http://localhost:1/api") == f"http://localhost:{relay.port}/api"


def test_a_closed_port_refuses_connections() -> None:
    port = int(closed_port_url().rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
