"""What every contender sends and expects, so all of them read byte-identical streams.

The constants repeat H2o's declarations (model id, default parameters) on purpose: the raw
baselines must not import g4f-core, and :func:`check_against_provider` proves they agree.
"""

from __future__ import annotations

import uuid
from typing import Any

PROMPT = "Benchmark: please answer with a long list of words."
MODEL = "falcon-40b"
UPSTREAM = "h2oai/h2ogpt-gm-oasst1-en-2048-falcon-40b-v1"
#: H2o's default TGI parameters; max_new_tokens is set per call.
PARAMETERS: dict[str, Any] = {
    "temperature": 0.4,
    "truncate": 2048,
    "max_new_tokens": 1024,
    "do_sample": True,
    "repetition_penalty": 1.2,
    "return_full_text": False,
}
SETTINGS_FORM = {
    "ethicsModalAccepted": "true",
    "shareConversationsWithModelAuthors": "true",
    "ethicsModalAcceptedAt": "",
    "activeModel": UPSTREAM,
    "searchEnabled": "true",
}
_WORDS = (
    " the", " model", " streams", " one", " token", " at", " a", " time", ",", " and",
    " every", " word", " is", " its", " own", " event", ".", " Here", " comes", " more",
)  # fmt: skip


def tokens(count: int) -> list[str]:
    """The scripted reply: ``count`` short word tokens (about 5 characters each)."""
    return [_WORDS[i % len(_WORDS)] for i in range(count)]


def reply_chars(count: int) -> int:
    """Characters of the reply of ``count`` tokens: what every client must deliver."""
    return sum(len(t) for t in tokens(count))


def max_new_tokens(count: int) -> int:
    """TGI stops at the limit or at EOS, whichever comes first: one more lets EOS end it."""
    return count + 1


def generate_body(count: int) -> dict[str, Any]:
    """The body of ``POST /conversation/{id}``, exactly as H2o builds it."""
    return {
        "inputs": f"user: {PROMPT}\nassistant: ",
        "parameters": {**PARAMETERS, "max_new_tokens": max_new_tokens(count)},
        "stream": True,
        "options": {
            "id": str(uuid.uuid4()),
            "response_id": str(uuid.uuid4()),
            "is_retry": False,
            "use_cache": False,
            "web_search_id": "",
        },
    }


def check_against_provider() -> None:
    """Fail loudly if H2o's declarations drifted from the constants the baselines use."""
    import g4f_core_providers.h2o as h2o

    if h2o.models[MODEL] != UPSTREAM:
        raise RuntimeError(f"H2o maps {MODEL} to {h2o.models[MODEL]}, the harness to {UPSTREAM}")
    declared = {opt.name: opt.default for opt in h2o.options}
    if declared != PARAMETERS:
        raise RuntimeError(f"H2o's defaults {declared} differ from the harness's {PARAMETERS}")
    if h2o.format_prompt([{"role": "user", "content": PROMPT}]) != generate_body(1)["inputs"]:
        raise RuntimeError("H2o's prompt format differs from the harness's")
