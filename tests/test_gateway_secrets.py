"""The gateway relays upstream failures through the library's redaction (F43, F44).

An upstream that echoes the caller's prompt, or the credential the server's environment
holds, in an error reply or a mid-stream error event gets neither into the gateway's
OpenAI error body: the gateway sends the library's errors, which the core has scrubbed.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from gateway_kit import post_chat, served, sse_data
from plugin_kit import make_dist
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
    tgi_event,
)

from g4f_core.plugins.registry import Registry

PROMPT = (
    "Please summarise the merger memo for Project Nightjar: the board votes on Friday and "
    "nobody outside the deal team may know the price of 41 dollars a share."
)
AUTH = "sk-CANARY-0f9e8d7c6b5a4f3e2d1c"


def leaked(secret: str, body: bytes) -> bool:
    """Whether any 10-character piece of ``secret`` is in ``body``, in any case."""
    text = body.decode("utf-8", "replace").lower()
    return any(secret[i : i + 10].lower() in text for i in range(len(secret) - 9))


def h2o_at(url: str) -> Registry:
    env = {"G4F_CORE_H2O_URL": url, "G4F_CORE_MAX_RETRIES": "0"}
    return Registry([metadata.distribution("g4f-core")], environ=env)


def ask(stream: bool) -> dict[str, object]:
    return {
        "model": "H2o/falcon-7b",
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": stream,
    }


def test_a_prompt_echoed_in_an_upstream_error_is_not_in_the_gateways_reply() -> None:
    echo = chat_ui_site(lambda r: reply(422, {"error": f"cannot answer: {PROMPT}"}))
    with RawServer(echo, lifetime=10) as site, served(h2o_at(site.url)) as server:
        answer = post_chat(server, ask(stream=False))
    assert answer.status == 502, answer.body
    assert "[prompt]" in answer.error["message"]
    assert not leaked(PROMPT, answer.body)


def test_a_prompt_echoed_in_a_mid_stream_error_event_is_not_in_the_stream() -> None:
    event = sse({"error": f"Input validation error: `inputs` {PROMPT}", "error_type": "x"})
    first = sse(tgi_event("Hello"))
    script = [[head(), chunk(first), chunk(event), LAST_CHUNK]]
    with RawServer(chat_ui_site(script), lifetime=10) as site, served(h2o_at(site.url)) as server:
        answer = post_chat(server, ask(stream=True))
    assert answer.status == 200  # the first token came before the failure
    events = [json.loads(data) for data in sse_data(answer.body) if data != "[DONE]"]
    assert events[0]["choices"][0]["delta"]["content"] == "Hello"
    assert "Input validation error" in events[-1]["error"]["message"]
    assert not leaked(PROMPT, answer.body)


def test_the_servers_credential_echoed_upstream_is_masked_in_the_reply(site: Path) -> None:
    def echo(request: Request) -> list[Step]:
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        return reply(401, {"error": f"key {key.upper()} is not valid here"})

    make_dist(site, "raw-dist", "1.0", {"Raw": raw_provider(needs_auth=True)})
    with RawServer(echo, lifetime=10) as upstream:
        env = {"G4F_CORE_RAW_AUTH": AUTH, "G4F_CORE_RAW_URL": upstream.url}
        registry = Registry.from_path([str(site)], environ=env)
        with served(registry) as server:
            body = {"model": "Raw/raw-1", "messages": [{"role": "user", "content": "Hi"}]}
            answer = post_chat(server, body)
    assert answer.status == 502, answer.body
    assert "***" in answer.error["message"]
    assert not leaked(AUTH, answer.body)
