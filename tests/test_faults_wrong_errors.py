"""Lost tokens and wrong errors: each failure is the error that names it, and nothing is dropped.

A token whose ``special`` flag is not a bool is neither dropped nor guessed at: the call
fails with a typed error. Two session cookies from a chat-ui site are not a "could not
connect", and the conversation is still deleted. A provider raising GeneratorExit,
``asyncio.CancelledError`` or a custom BaseException gets a typed error, while
KeyboardInterrupt and SystemExit pass through. A provider whose declared site is gone
says so, with its ``connect_hint``, and the CLI names its flags as flags.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest
from plugin_kit import make_dist, provider_source
from promises import Promises, consume, fault, promise_fixture  # noqa: F401
from rawserver import (
    HOLD,
    LAST_CHUNK,
    RawServer,
    Request,
    Step,
    chat_ui_site,
    chunk,
    head,
    sse,
    tgi_event,
)

import g4f_core
from g4f_core.cli import app as cli
from g4f_core.errors import (
    ProviderConnectionError,
    ProviderResponseError,
)
from g4f_core.plugins.registry import Registry

PROMPT = "Hello, flags"


@pytest.fixture
def h2o(use_registry: Callable[[Registry], Registry]) -> Registry:
    return use_registry(Registry([metadata.distribution("g4f-core")], environ={}))


def with_special(special: object) -> bytes:
    token = tgi_event(" kept")
    token["token"]["special"] = special  # type: ignore[index]
    final = tgi_event("<|endoftext|>", final=" kept", special=True)
    return sse(tgi_event(" first"), token, final)


@pytest.mark.parametrize("special", ["false", 1, 0, None, "true", [False]])
def test_a_token_whose_special_flag_is_not_a_bool_fails_the_call_instead_of_vanishing(
    h2o: Registry, special: object, promise: Promises
) -> None:
    stream = [head(), chunk(with_special(special)), LAST_CHUNK]
    with RawServer(chat_ui_site([stream]), lifetime=5) as site:
        out = consume(lambda: g4f_core.stream(PROMPT, provider="H2o", base_url=site.url))
    fault(promise, f"F24 token.special={special!r}", out.error, ProviderResponseError)
    assert isinstance(out.error, ProviderResponseError)
    assert "token.special" in str(out.error)
    assert out.text == " first"
    assert out.error.partial_text == " first"


def test_a_token_without_a_special_flag_is_delivered(h2o: Registry) -> None:
    token = tgi_event(" kept")
    del token["token"]["special"]  # type: ignore[attr-defined]
    body = sse(tgi_event(" first"), token, tgi_event("", final=" first kept", special=True))
    with RawServer(chat_ui_site([[head(), chunk(body), LAST_CHUNK]]), lifetime=5) as site:
        out = consume(lambda: g4f_core.stream(PROMPT, provider="H2o", base_url=site.url))
    assert out.error is None
    assert out.text == " first kept"


def test_two_session_cookies_on_different_paths_still_answer_and_delete_the_conversation(
    h2o: Registry,
) -> None:
    cookies = {
        "Set-Cookie": "hf-chat=site-session; Path=/",
    }
    twin = "hf-chat=page-session; Path=/conversation"

    def site(request: Request) -> list[Step]:
        if request.method == "POST" and request.path.endswith("/settings"):
            body = b'{"type":"redirect","status":303,"location":"/"}'
            lines = [
                "HTTP/1.1 200 OK",
                "Content-Type: application/json",
                f"Content-Length: {len(body)}",
                f"Set-Cookie: {cookies['Set-Cookie']}",
                f"Set-Cookie: {twin}",
            ]
            return [("\r\n".join(lines) + "\r\n\r\n").encode() + body]
        return list(chat_ui_site([[head(), chunk(stream_body()), LAST_CHUNK]])(request))

    with RawServer(site, lifetime=5) as server:
        out = consume(lambda: g4f_core.stream(PROMPT, provider="H2o", base_url=server.url))
        methods = [(r.method, r.path.rsplit("/", 1)[-1]) for r in server.requests]
    assert out.error is None, out.error
    assert out.text == " fine"
    assert methods[-1][0] == "DELETE"
    from g4f_core_providers import h2o as provider

    assert provider._sessions.get(server.url) == "site-session"


def stream_body() -> bytes:
    return sse(tgi_event(" fine"), tgi_event("<|endoftext|>", final=" fine", special=True))


def test_a_conversation_is_deleted_even_when_keeping_the_session_fails(
    h2o: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from g4f_core_providers import h2o as provider

    def broken(http: object) -> None:
        raise RuntimeError("the session store broke")

    monkeypatch.setattr(provider, "_keep_session", broken)
    with RawServer(chat_ui_site([[head(), chunk(stream_body()), LAST_CHUNK]])) as server:
        out = consume(lambda: g4f_core.stream(PROMPT, provider="H2o", base_url=server.url))
        methods = [r.method for r in server.requests]
    assert isinstance(out.error, ProviderResponseError)
    assert "RuntimeError" in str(out.error)
    assert methods[-1] == "DELETE"


RAISERS = {
    "GeneratorExit": "raise GeneratorExit('provider bug')",
    "CancelledError": "import asyncio\nraise asyncio.CancelledError()",
    "custom BaseException": ("class Halt(BaseException):\n    pass\nraise Halt('custom')"),
    "requests CookieConflictError": (
        "import requests.cookies\nraise requests.cookies.CookieConflictError('two hf-chat')"
    ),
}


@pytest.fixture
def raisers(site: Path, use_registry: Callable[[Registry], Registry]) -> Registry:
    for index, body in enumerate(RAISERS.values()):
        for when, prefix in (("before", ""), ("after", "yield 'Hel'\n")):
            source = provider_source(models=[f"m{index}{when}"], body=prefix + body)
            make_dist(site, f"raiser{index}{when}-dist", "1.0", {f"Raiser{index}{when}": source})
    for name in ("KeyboardInterrupt", "SystemExit"):
        source = provider_source(models=[name.lower()], body=f"yield 'Hel'\nraise {name}")
        make_dist(site, f"{name.lower()}-dist", "1.0", {name: source})
    closer = provider_source(
        models=["closer"],
        body="""
            class Halt(BaseException):
                pass
            try:
                yield "Hel"
                yield "lo"
            except GeneratorExit:
                raise Halt("close failed") from None
        """,
    )
    make_dist(site, "closer-dist", "1.0", {"Closer": closer})
    return use_registry(Registry.from_path([str(site)], environ={}))


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("index", range(len(RAISERS)), ids=list(RAISERS))
def test_a_provider_raising_a_base_exception_gets_a_typed_error_with_no_retry(
    raisers: Registry, index: int, when: str, promise: Promises
) -> None:
    name = list(RAISERS)[index]
    out = consume(lambda: g4f_core.stream(PROMPT, provider=f"Raiser{index}{when}"))
    scenario = f"provider raises {name} {when} the first token"
    fault(promise, scenario, out.error, ProviderResponseError)
    assert isinstance(out.error, ProviderResponseError), repr(out.error)
    assert len(out.error.attempts) == 1  # a provider bug is not retried as "could not connect"
    assert out.text == ("Hel" if when == "after" else "")
    assert "could not connect" not in str(out.error)


@pytest.mark.parametrize("name", ["KeyboardInterrupt", "SystemExit"])
def test_keyboard_interrupt_and_system_exit_from_a_provider_pass_through(
    raisers: Registry, name: str
) -> None:
    expected = {"KeyboardInterrupt": KeyboardInterrupt, "SystemExit": SystemExit}[name]
    seen = []
    with pytest.raises(expected):
        for chunk_ in g4f_core.stream(PROMPT, provider=name):
            seen.append(chunk_)
    assert seen == ["Hel"]


def test_a_base_exception_from_a_providers_clean_up_never_replaces_the_outcome(
    raisers: Registry,
) -> None:
    with g4f_core.stream(PROMPT, provider="Closer") as chunks:
        assert next(chunks) == "Hel"
    # leaving the block closed the provider; its Halt did not escape
    assert g4f_core.complete(PROMPT, provider="Closer") == "Hello"


# -- a provider whose site is gone, and the CLI's words ------------------------------------------


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The declared H2o site does not resolve, as on any machine today."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host == "gpt-gm.h2o.ai":
            asked.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_chat_with_h2o_and_no_base_url_says_the_site_is_gone_and_what_to_do(
    h2o: Registry, offline: list[str]
) -> None:
    err = io.StringIO()
    code = cli.main(["chat", "-p", "H2o", "Hello"], registry=h2o, stdout=io.StringIO(), stderr=err)
    message = err.getvalue()
    assert code == 1
    assert message.count("\n") == 1
    assert "could not resolve the host name" in message
    assert "gpt-gm.h2o.ai is gone" in message
    assert "g4f-core emulate H2o" in message and "--base-url" in message
    assert offline  # it really tried the declared site


def test_the_connect_hint_is_not_given_when_the_call_chose_its_own_endpoint(
    h2o: Registry,
) -> None:
    from rawserver import closed_port

    url = f"http://127.0.0.1:{closed_port()}"
    out = consume(lambda: g4f_core.stream(PROMPT, provider="H2o", base_url=url, max_retries=0))
    assert isinstance(out.error, ProviderConnectionError)
    assert "gone" not in str(out.error)


def test_a_timeout_in_the_cli_is_explained_with_the_flag_not_the_python_option(
    h2o: Registry,
) -> None:
    stalled = [head(), chunk(sse(tgi_event(" a"))), HOLD]
    with RawServer(chat_ui_site([stalled]), lifetime=10) as site:
        err = io.StringIO()
        argv = ["chat", "-p", "H2o", "--base-url", site.url, "--timeout", "0.3", "Hello"]
        code = cli.main(argv, registry=h2o, stdout=io.StringIO(), stderr=err)
    assert code == 1
    assert "pass a larger --timeout" in err.getvalue()
    assert "timeout=" not in err.getvalue()
