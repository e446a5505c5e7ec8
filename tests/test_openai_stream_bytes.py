"""The provider's stream reading does not depend on where the bytes were split.

A raw loopback server writes each fixture stream in HTTP chunks cut at every offset (with
a pause between them, so the client reads them apart), and one byte per chunk;
the text through ``g4f_core.stream`` (the path production runs) must be the same each time.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai_kit import configured, table
from rawserver import LAST_CHUNK, RawServer, Request, Step, chunk, head

import g4f_core


def event(data: object, end: str = "\n") -> str:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}{end}{end}"


def delta(text: str | None = None, finish: str | None = None, **extra: object) -> dict[str, object]:
    content: dict[str, object] = {} if text is None else {"content": text}
    return {"choices": [{"index": 0, "delta": {**extra, **content}, "finish_reason": finish}]}


TEXTS = ["Grüße", " aus", " 日本", " 🙂", "!"]
FIXTURES = {
    "lf": "".join(
        [event(delta(role="assistant"))]
        + [event(delta(t)) for t in TEXTS]
        + [event(delta(finish="stop")), event("[DONE]")]
    ).encode(),
    "crlf-keepalive-usage": "".join(
        [": keep-alive\r\n\r\n", event(delta(role="assistant"), "\r\n")]
        + [": ping\r\n\r\n" + event(delta(t), "\r\n") for t in TEXTS]
        + [event(delta(finish="stop"), "\r\n")]
        + [event({"choices": [], "usage": {"total_tokens": 9}}, "\r\n"), event("[DONE]", "\r\n")]
    ).encode(),
    "compact-no-done": "".join(
        [f"data:{json.dumps(delta(t), ensure_ascii=False)}\n\n" for t in TEXTS]
        + [f"data:{json.dumps(delta(finish='length'))}\n\n"]
    ).encode(),
}


def split_server(stream: bytes) -> RawServer:
    """Request i gets the stream cut at offset i (then, past the end, one byte per chunk)."""
    served = [0]

    def script(request: Request) -> list[Step]:
        served[0] += 1
        cut = served[0]
        start = head(ctype="text/event-stream", framing="chunked")
        if cut < len(stream):
            return [start, chunk(stream[:cut]), 0.002, chunk(stream[cut:]), LAST_CHUNK]
        return [start, *(chunk(stream[i : i + 1]) for i in range(len(stream))), LAST_CHUNK]

    return RawServer(script, lifetime=120.0)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_a_stream_cut_anywhere_gives_the_same_text(name: str, tmp_path: Path) -> None:
    stream = FIXTURES[name]
    seen = set()
    with split_server(stream) as server:
        registry = configured(tmp_path, table("Cut", server.url + "/v1"))
        for _ in range(len(stream)):  # every cut offset, then the one-byte chunks
            with g4f_core.stream("Hi", provider="Cut", max_retries=0, registry=registry) as chunks:
                seen.add("".join(chunks))
        assert len(server.requests) == len(stream)
    assert seen == {"".join(TEXTS)}
