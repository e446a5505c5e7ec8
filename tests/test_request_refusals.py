"""Requests that requests refuses to build (bad URL, header or JSON body) are bad requests.

requests raises its own ``ValueError`` subclasses (``InvalidURL``, ``MissingSchema``,
``InvalidSchema``, ``InvalidHeader``, ``InvalidJSONError``) before anything is sent. They
must come out as ``InvalidRequestError`` naming what is wrong, never retried, never quoting
the URL or the header value (either may hold a credential), and never as a connection
failure or "could not read the reply". Both ways a provider may send are covered: through
``g4f_core.Client`` and with ``requests`` directly.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from plugin_kit import provider_source
from scripted_server import ScriptedServer

import g4f_core
from g4f_core import InvalidRequestError, Registry
from g4f_core.context import CallContext
from g4f_core.transport.client import Client

CANARY = "CANARY-7f3a"
Install = Callable[..., Registry]
Serve = Callable[..., ScriptedServer]

#: (what a provider gets wrong, the request arguments, what the message must say)
REFUSED = {
    "invalid-url": ("GET", "http://[::1/x", {}, "URL is not valid"),
    "no-host": ("GET", f"http:///{CANARY}", {}, "URL is not valid"),
    "bad-scheme": ("GET", f"ftp://example.test/{CANARY}", {}, "scheme is not http"),
    "header-value": ("GET", "/chat", {"headers": {"Authorization": f"{CANARY}\n"}}, "header"),
    "header-name": ("GET", "/chat", {"headers": {" X-Key": CANARY}}, "header"),
    "json-body": ("POST", "/chat", {"json": {"t": float("nan")}}, "cannot be written as JSON"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_request_requests_refuses_is_an_invalid_request_error_and_sends_nothing(
    serve: Serve, case: str
) -> None:
    server = serve()
    method, path, kwargs, says = REFUSED[case]
    client = Client(CallContext.build("Test", server.url, {}))
    with pytest.raises(InvalidRequestError, match=says) as info:
        client.request(method, path, **kwargs)
    assert "nothing was sent" in str(info.value)
    assert CANARY not in str(info.value) and CANARY not in repr(info.value)
    assert server.requests == []


def direct(body: str) -> str:
    """A provider sending with plain ``requests`` (as gpt4free's did); ``calls`` counts tries."""
    return provider_source(
        header="import requests\nfrom g4f_core.context import current\ncalls = []",
        body=f"""
            calls.append(model)
            {body}
            yield "never"
        """,
    )


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (f"requests.get('{CANARY}.example.test/x', timeout=1)", "has no scheme"),
        ("requests.get('http://[::1/x', timeout=1)", "URL is not valid"),
        (
            f"requests.get(current().base_url, headers={{'X-Key': '{CANARY}\\n'}}, timeout=1)",
            "header",
        ),
    ],
    ids=["missing-schema", "invalid-url", "invalid-header"],
)
def test_a_provider_using_requests_with_a_bad_url_or_header_gets_an_invalid_request_error(
    install: Install, serve: Serve, body: str, says: str
) -> None:
    server = serve()
    install(Direct=direct(body))
    with pytest.raises(InvalidRequestError, match=says) as info:
        g4f_core.complete("Hi", provider="Direct", base_url=server.url)
    assert "could not read the reply" not in str(info.value)
    assert CANARY not in str(info.value)
    assert len(g4f_core.get_provider("Direct").module.calls) == 1  # not retried
    assert server.requests == []


def test_a_reply_that_is_not_json_is_still_a_reply_the_provider_could_not_read(
    install: Install, serve: Serve
) -> None:
    server = serve()  # answers plain text
    install(Direct=direct("requests.get(current().base_url + '/x', timeout=2).json()"))
    with pytest.raises(g4f_core.ProviderResponseError, match="could not read the reply"):
        g4f_core.complete("Hi", provider="Direct", base_url=server.url, max_retries=0)
