"""text-generation-inference v0.9.3 as the emulator reproduces it, with no sockets involved.

chat-ui forwarded the client's body to TGI's compat route and streamed TGI's bytes back, so
this module decides *what* is sent: request decoding (axum/serde rejections), parameter
validation with TGI's exact messages, the token plan with its final event, and the SSE wire
encoding. The HTTP handler only decides *when* bytes are written.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

EOS_LOGPROB = -0.14367676
MAX_STOP_SEQUENCES = 4  # TGI's --max-stop-sequences default
MAX_BEST_OF = 2  # TGI's --max-best-of default

# Real tiiuae/falcon-7b ids and logprobs from TGI's integration snapshot, so a scripted
# " Hello", ",", " Daniel", "!" reproduces the protocol notes' example exchange byte for byte.
_FALCON_KNOWN: dict[str, tuple[int, float]] = {
    " Hello": (23090, -1.8251953),
    ",": (23, -0.3173828),
    " Daniel": (8156, -0.23803711),
    "!": (12, -0.56933594),
    "\n": (193, -0.61279297),
}

# serde type of each GenerateParameters field, and whether JSON null is accepted (Option<T>).
_FIELDS: dict[str, tuple[str, bool]] = {
    "best_of": ("usize", True),
    "temperature": ("f32", True),
    "repetition_penalty": ("f32", True),
    "top_k": ("i32", True),
    "top_p": ("f32", True),
    "typical_p": ("f32", True),
    "do_sample": ("bool", False),
    "max_new_tokens": ("u32", False),
    "return_full_text": ("bool", True),
    "stop": ("strings", False),
    "truncate": ("usize", True),
    "watermark": ("bool", False),
    "details": ("bool", False),
    "decoder_input_details": ("bool", False),
    "seed": ("u64", True),
}
_INT_RANGES = {"u32": (0, 2**32 - 1), "i32": (-(2**31), 2**31 - 1)}
_EXPECTED = {"bool": "a boolean", "strings": "a sequence", "str": "a string"}


def dumps(value: object) -> str:
    """Compact JSON without ASCII escaping, the way serde_json and JSON.stringify write it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def sse_event(value: object, eol: str = "\n") -> bytes:
    """One axum SSE event: ``data:`` + JSON, a line end, then the blank line."""
    return f"data:{dumps(value)}{eol}{eol}".encode()


def error_event(message: str, error_type: str) -> dict[str, object]:
    return {"error": message, "error_type": error_type}


def is_llama(model: str) -> bool:
    return "llama" in model.lower()


def reply_tokens(inputs: str, model: str) -> list[str]:
    """The default echo reply, split Falcon-style: each token keeps its leading whitespace."""
    said = inputs.strip()
    for line in inputs.splitlines():
        stripped = line.lstrip()
        if stripped[:5].lower() == "user:":
            said = stripped[5:].strip()
    short = model.rsplit("/", 1)[-1]
    text = f"Hello! This is the H2o emulator ({short}). You said: {said}"
    return re.findall(r"\s*\S+", " " + text)


def token_identity(text: str, model: str) -> tuple[int, float]:
    """A stable (id, logprob) for a token text; ids avoid the tokenizers' special range."""
    llama = is_llama(model)
    if not llama and text in _FALCON_KNOWN:
        return _FALCON_KNOWN[text]
    crc = zlib.crc32(text.encode())
    first, vocab = (3, 32000) if llama else (12, 65024)
    return first + crc % (vocab - first), -((crc >> 8) % 4000 + 1) / 1000


@dataclass(frozen=True)
class Parameters:
    """The decoded compat request: the fields the emulator acts on."""

    stream: bool
    values: Mapping[str, object]

    def get(self, name: str) -> object:
        return self.values.get(name)

    @property
    def max_new_tokens(self) -> int:
        value = self.values.get("max_new_tokens", 20)
        return value if isinstance(value, int) else 20

    @property
    def sampling(self) -> bool:
        """validation.rs: sampling is on when do_sample or any warper parameter is set."""
        warpers = ("temperature", "top_k", "top_p", "typical_p")
        return self.values.get("do_sample") is True or any(
            self.values.get(name) is not None for name in warpers
        )


def _unexpected(value: object) -> str:
    """serde's ``Unexpected`` wording for a JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value!r}`"
    if isinstance(value, str):
        return f"string {dumps(value)}"
    return "sequence" if isinstance(value, list) else "map"


def _type_error(kind: str, value: object) -> str | None:
    if kind == "f32":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else f"invalid type: {_unexpected(value)}, expected f32"
    if kind in ("bool", "str"):
        ok = isinstance(value, bool if kind == "bool" else str)
        return None if ok else f"invalid type: {_unexpected(value)}, expected {_EXPECTED[kind]}"
    if not isinstance(value, int) or isinstance(value, bool):
        return f"invalid type: {_unexpected(value)}, expected {kind}"
    low, high = _INT_RANGES.get(kind, (0, 2**64 - 1))
    return None if low <= value <= high else f"invalid value: integer `{value}`, expected {kind}"


def decode_request(body: Mapping[str, object]) -> Parameters | str:
    """Type-check the compat body like serde; a str result is axum's 422 rejection text."""
    problem: tuple[str, str] | None = None
    if "stream" in body and (error := _type_error("bool", body["stream"])):
        problem = ("stream", error)
    params = body.get("parameters", {})
    if problem is None and not isinstance(params, dict):
        shown = _unexpected(params)
        problem = ("parameters", f"invalid type: {shown}, expected struct GenerateParameters")
    if problem is None and isinstance(params, dict):
        problem = _first_field_problem(params)
    if problem is not None:
        path, error = problem
        return f"Failed to deserialize the JSON body into the target type: {path}: {error}"
    stream = body.get("stream") is True
    return Parameters(stream, params if isinstance(params, dict) else {})


def _first_field_problem(params: Mapping[str, object]) -> tuple[str, str] | None:
    for name, value in params.items():
        if name not in _FIELDS:
            continue  # serde ignores unknown fields (no deny_unknown_fields in the router)
        kind, nullable = _FIELDS[name]
        if value is None and nullable:
            continue
        if kind == "strings" and isinstance(value, list):
            for index, item in enumerate(value):
                if error := _type_error("str", item):
                    return f"parameters.{name}[{index}]", error
            continue
        if error := _type_error(kind, value):
            return f"parameters.{name}", error
    return None


def precheck(params: Parameters) -> str | None:
    """Checks server.rs makes before queueing (so before the overload check)."""
    best_of = params.get("best_of")
    best_of = 1 if best_of is None else best_of
    if params.stream:
        if best_of != 1:
            return "`best_of` != 1 is not supported when streaming tokens"
        if params.get("decoder_input_details") is True:
            return "`decoder_input_details` == true is not supported when streaming tokens"
    elif isinstance(best_of, int) and not 0 < best_of <= MAX_BEST_OF:
        return f"`best_of` must be > 0 and <= {MAX_BEST_OF}. Given: {best_of}"
    return None


def _outside(value: object, low: float, high: float | None) -> bool:
    """True when a given number is not in (low, high); absent values always pass."""
    if not isinstance(value, (int, float)):
        return False
    return value <= low or (high is not None and value >= high)


def validate(params: Parameters, max_input_length: int) -> str | None:
    """validation.rs ``validate``, in its order; the message without TGI's prefix."""
    best_of = params.get("best_of")
    if isinstance(best_of, int) and best_of > 1 and not params.sampling:
        return "you must use sampling when `best_of` is > 1"
    checks = (
        ("temperature", 0.0, None, "`temperature` must be strictly positive"),
        ("repetition_penalty", 0.0, None, "`repetition_penalty` must be strictly positive"),
        ("top_p", 0.0, 1.0, "`top_p` must be > 0.0 and < 1.0"),
        ("typical_p", 0.0, 1.0, "`typical_p` must be > 0.0 and < 1.0"),
        ("top_k", 0, None, "`top_k` must be strictly positive"),
    )
    for name, low, high, message in checks:
        if _outside(params.get(name), low, high):
            return message
    if params.max_new_tokens == 0:
        return "`max_new_tokens` must be strictly positive"
    stop = params.get("stop")
    if isinstance(stop, list) and len(stop) > MAX_STOP_SEQUENCES:
        return f"`stop` supports up to {MAX_STOP_SEQUENCES} stop sequences. Given: {len(stop)}"
    if isinstance(best_of, int) and best_of > 1 and params.get("seed") is not None:
        return "`seed` must not be set when `best_of` > 1"
    truncate = params.get("truncate")
    if isinstance(truncate, int) and (truncate == 0 or truncate > max_input_length):
        return (
            f"`truncate` must be strictly positive and less than {max_input_length}. "
            f"Given: {truncate}"
        )
    return None


@dataclass(frozen=True)
class Plan:
    """A successful generation: its events in order and the text they spell."""

    events: list[dict[str, object]]
    text: str
    finish_reason: str


def plan_generation(
    tokens: Sequence[str], model: str, params: Parameters, *, prefix: str, seed: int | None
) -> Plan:
    """Tokens then EOS, stopped by TGI's StoppingCriteria (length first, then EOS, then stop)."""
    eos_id, eos_text = (2, "</s>") if is_llama(model) else (11, "<|endoftext|>")
    stop_raw = params.get("stop")
    stops = [s for s in stop_raw if isinstance(s, str) and s] if isinstance(stop_raw, list) else []
    limit = params.max_new_tokens
    sequence = [*((text, False) for text in tokens), (eos_text, True)]
    events: list[dict[str, object]] = []
    text = ""
    for count, (piece, special) in enumerate(sequence, start=1):
        token_id, logprob = (eos_id, EOS_LOGPROB) if special else token_identity(piece, model)
        token = {"id": token_id, "text": piece, "logprob": logprob, "special": special}
        text += "" if special else piece
        reason = None
        if count >= limit:
            reason = "length"
        elif special:
            reason = "eos_token"
        elif any(text.endswith(stop) for stop in stops):
            reason = "stop_sequence"
        if reason is None:
            events.append({"token": token, "generated_text": None, "details": None})
            continue
        details = None
        if params.get("details") is True:
            details = {"finish_reason": reason, "generated_tokens": count, "seed": seed}
        events.append({"token": token, "generated_text": prefix + text, "details": details})
        return Plan(events, text, reason)
    raise AssertionError("unreachable: the EOS token always ends the plan")
