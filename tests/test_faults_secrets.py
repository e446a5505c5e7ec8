"""Secrets and prompts (F6, F43, F44): what the server echoes back is not what errors quote.

A password in the base URL's ``user:password@`` must never be sent in a header a
provider builds from the base URL (H2o's ``Referer``), nor appear in a message. An
upstream error echoing the call's credential (in another case, or where the quote is
cut) or the call's own prompt is quoted only once both are removed: ``str(exc)``,
``repr``, ``.attempts`` and the CLI's one line stay clean.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path

import pytest
from plugin_kit import make_dist
from promises import Promises, consume, promise_fixture  # noqa: F401
from rawserver import (
    LAST_CHUNK,
    RawServer,
    Request,
    Step,
    chat_ui_site,
    chunk,
    head,
    raw_provider,
    reply,
    sse,
    tgi_stream,
)

import g4f_core
from g4f_core.cli import app as cli
from g4f_core.errors import ProviderHTTPError, ProviderResponseError
from g4f_core.plugins.registry import Registry

PASSWORD = "Pa55-CANARY-77e1"  # noqa: S105 - a canary
PROMPT = (
    "Please summarise the merger memo for Project Nightjar: the board votes on Friday and "
    "nobody outside the deal team may know the price of 41 dollars a share."
)
AUTH = "sk-CANARY-0f9e8d7c6b5a4f3e2d1c"


@pytest.fixture
def h2o(use_registry: Callable[[Registry], Registry]) -> Registry:
    return use_registry(Registry([metadata.distribution("g4f-core")], environ={}))


@pytest.fixture
def raw(site: Path, use_registry: Callable[[Registry], Registry]) -> Registry:
    make_dist(site, "raw-dist", "1.0", {"Raw": raw_provider(needs_auth=True)})
    return use_registry(Registry.from_path([str(site)], environ={}))


def texts_of(error: BaseException | None) -> list[str]:
    if error is None:
        return []
    out = [str(error), repr(error), *map(str, error.args)]
    for attempt in getattr(error, "attempts", []):
        out += [str(attempt.error), repr(attempt.error)]
    return out


def leaked(secrets: Iterable[str], texts: list[str]) -> list[str]:
    """Secrets found in any text, whole, in another case, or as a 10-character piece."""
    found = []
    for secret in secrets:
        pieces = {secret[i : i + 10].lower() for i in range(0, max(1, len(secret) - 9))}
        for text in texts:
            low = text.lower()
            if any(piece in low for piece in pieces):
                found.append(f"{secret[:10]}... in {text[:80]!r}")
    return found


def test_a_password_in_the_base_url_is_never_sent_in_a_header_nor_shown(
    h2o: Registry, promise: Promises
) -> None:
    with RawServer(chat_ui_site([[head(), chunk(tgi_stream(" fine")), LAST_CHUNK]])) as site:
        url = site.url.replace("http://", f"http://alice:{PASSWORD}@")
        out = consume(lambda: g4f_core.stream("Hello", provider="H2o", base_url=url))
        requests = list(site.requests)
    sent = [
        f"{name}: {value}"
        for r in requests
        for name, value in r.headers.items()
        if name != "authorization"
    ]
    basic = {r.headers.get("authorization") for r in requests}
    found = leaked([PASSWORD], sent + texts_of(out.error))
    promise("P7").record(
        "F6/F43 base URL userinfo in headers", canary_occurrences=len(found), passed=not found
    )
    assert out.error is None and out.text == " fine"
    assert found == []
    referers = {r.headers.get("referer") for r in requests} - {None}
    assert referers == {f"{site.url}/"}
    expected = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert basic == {expected}  # the credential goes where userinfo means it to: Basic auth


def test_a_password_in_the_base_url_never_appears_in_an_error(
    h2o: Registry, promise: Promises
) -> None:
    def echo(request: Request) -> list[Step]:
        return reply(500, {"error": f"cannot accept referer {request.headers.get('referer')}"})

    with RawServer(echo, lifetime=5) as site:
        url = site.url.replace("http://", f"http://alice:{PASSWORD}@")
        out = consume(lambda: g4f_core.stream("Hello", provider="H2o", base_url=url, max_retries=0))
    found = leaked([PASSWORD], texts_of(out.error))
    promise("P7").record("F43 base URL password in errors", canary_occurrences=len(found))
    assert isinstance(out.error, ProviderHTTPError)
    assert found == []


ECHOES: dict[str, Callable[[str], object]] = {
    "exact": lambda key: {"error": f"invalid key {key}"},
    "upper-cased": lambda key: {"error": f"INVALID KEY {key.upper()}"},
    "at the quoting cut": lambda key: {"error": "x" * 285 + f" {key} " + "y" * 40},
    "in part": lambda key: {"error": f"key {key[:14]}**** is not valid"},
    "spread over lines": lambda key: {"message": f"invalid\n\n   key\n{key}\n"},
}


@pytest.mark.parametrize("how", ECHOES)
def test_a_credential_echoed_by_the_server_is_masked_whole(
    raw: Registry, how: str, promise: Promises
) -> None:
    def echo(request: Request) -> list[Step]:
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        return reply(401, ECHOES[how](key))

    with RawServer(echo, lifetime=5) as server:
        out = consume(
            lambda: g4f_core.stream(PROMPT, provider="Raw", base_url=server.url, auth=AUTH)
        )
    found = leaked([AUTH], texts_of(out.error))
    promise("P7").record(f"F43 credential echoed {how}", canary_occurrences=len(found))
    assert isinstance(out.error, ProviderHTTPError)
    assert "***" in str(out.error)
    assert found == []


PROMPT_ECHOES: dict[str, Callable[[str], list[Step]]] = {
    "whole, in an HTTP error": lambda p: reply(422, {"error": f"cannot answer: {p}"}),
    "cut by the server": lambda p: reply(400, {"detail": f"Input '{p[:60]}...' rejected"}),
    "in another case": lambda p: reply(500, {"message": p.upper()}),
    "as plain text": lambda p: reply(503, f"busy with user: {p}".encode(), ctype="text/plain"),
}


@pytest.mark.parametrize("how", PROMPT_ECHOES)
def test_a_prompt_echoed_in_an_error_is_not_quoted(
    h2o: Registry, how: str, promise: Promises
) -> None:
    with RawServer(chat_ui_site(lambda r: PROMPT_ECHOES[how](PROMPT)), lifetime=5) as site:
        out = consume(
            lambda: g4f_core.stream(PROMPT, provider="H2o", base_url=site.url, max_retries=1)
        )
    found = leaked([PROMPT], texts_of(out.error))
    promise("P7").record(f"F44 prompt echoed {how}", canary_occurrences=len(found))
    assert isinstance(out.error, ProviderHTTPError), out.error
    assert "[prompt]" in str(out.error)
    assert found == []


def test_a_prompt_echoed_in_an_error_event_is_not_quoted(h2o: Registry, promise: Promises) -> None:
    event = sse({"error": f"Input validation error: `inputs` {PROMPT}", "error_type": "validation"})
    with RawServer(chat_ui_site([[head(), chunk(event), LAST_CHUNK]]), lifetime=5) as site:
        out = consume(lambda: g4f_core.stream(PROMPT, provider="H2o", base_url=site.url))
    found = leaked([PROMPT], texts_of(out.error))
    promise("P7").record("F44 prompt echoed in an error event", canary_occurrences=len(found))
    assert isinstance(out.error, ProviderResponseError)
    assert "Input validation error" in str(out.error)
    assert found == []


def test_the_cli_error_line_quotes_neither_prompt_nor_credential(
    raw: Registry, promise: Promises
) -> None:
    def echo(request: Request) -> list[Step]:
        body = json.loads(request.body)
        prompt = body["messages"][-1]["content"]
        key = request.headers.get("authorization", "")
        return reply(400, {"error": f"{key} may not ask {prompt}"})

    with RawServer(echo, lifetime=5) as server:
        err = io.StringIO()
        argv = ["chat", "-p", "Raw", "--base-url", server.url, PROMPT]
        raw_env = Registry(list(raw._dists or []), environ={"G4F_CORE_RAW_AUTH": AUTH})
        code = cli.main(argv, registry=raw_env, stdout=io.StringIO(), stderr=err)
    found = leaked([PROMPT, AUTH], [err.getvalue()])
    promise("P7").record("F43/F44 CLI error line", canary_occurrences=len(found))
    assert code == 1
    assert err.getvalue().startswith("error: Raw: ")
    assert found == []
