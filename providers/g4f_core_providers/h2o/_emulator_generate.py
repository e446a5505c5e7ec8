"""``POST /conversation/{id}``: chat-ui's checks, then the answer TGI (or later chat-ui) gave.

Kept apart from routing because it is where the fault switches shape a generation.
"""

from __future__ import annotations

import copy
from typing import Any

from . import _emulator_tgi as tgi
from . import _emulator_web as web
from ._emulator_state import Conversation, Faults, StoredMessage
from ._emulator_wire import Responder


class GenerationRoute(Responder):
    """The generation endpoint; :class:`EmulatorHandler` routes to :meth:`_generate`."""

    def _generate(self, raw_id: str, body: bytes, session: str) -> None:
        """``POST /conversation/{id}``: chat-ui's checks in order, then the TGI pass-through."""
        if web.routes_to_page(self.request_headers.get("accept")):
            message = "POST method not allowed. No actions exist for this page"
            self._send(405, web.error_page(405, message), web.HTML_TYPE, [("Allow", "GET")])
            return
        conversation_id = raw_id.lower()
        conversation = self.state.owned(conversation_id, session)
        refusal = _refusal(raw_id, conversation)
        if refusal is not None:
            self._kit_error(*refusal)
            return
        assert conversation is not None
        canned = self.state.pop_canned()
        faults = copy.copy(self.state.faults)
        limit = faults.rate_limit
        try:
            data = web.parse_json(body)
        except ValueError:
            data = None
        request = _chat_request(data, faults.post_refactor)
        if canned is not None:
            status, content_type, payload = canned
            self._send(status, payload, content_type or None)
            return
        if limit is not None and not self.state.admit_generation(session, limit):
            self._kit_error(429, "You are sending too many messages. Try again later.")
            return
        if not self.state.model_available(conversation.model):
            self._kit_error(410, "Model not available anymore")
            return
        if request is None:
            self._kit_error(500, "Internal Error")
            return
        if web.lone_surrogate(data):  # chat-ui forwards it; TGI's serde_json refuses it
            message = "Failed to deserialize the JSON body into the target type: "
            message += "lone leading surrogate in hex escape"
            self._send(422, message.encode(), "text/plain; charset=utf-8")
            return
        inputs, message_id, response_id, retry = request
        history = conversation.messages
        if retry and message_id is not None:
            ids = [m.id for m in history]
            history = history[: ids.index(message_id)] if message_id in ids else history
        prompt = web.build_prompt([(m.role, m.content) for m in history], inputs)
        if faults.script is not None:
            tokens = list(faults.script)
        else:
            tokens = tgi.reply_tokens(inputs, conversation.model)
        text: str | None = None
        if faults.post_refactor:
            text = self._ndjson(tokens, faults)
        else:
            assert isinstance(data, dict)
            text = self._tgi(data, tokens, conversation.model, prompt, faults)
        if text is not None:
            exchange = [
                StoredMessage("user", inputs, message_id),
                StoredMessage("assistant", text, response_id),
            ]
            self.state.save_exchange(conversation_id, history, exchange)

    # --- the TGI pass-through --------------------------------------------------------------

    def _tgi(
        self, data: dict[str, Any], tokens: list[str], model: str, prompt: str, faults: Faults
    ) -> str | None:
        """Answer as TGI's compat route would; the generated text, or None if none was."""
        params = tgi.decode_request(data)
        if isinstance(params, str):
            self._send(422, params.encode(), "text/plain; charset=utf-8")
            return None
        seed = faults.details_seed
        raw_seed = params.get("seed")
        if seed is None and params.sampling and isinstance(raw_seed, int):
            seed = raw_seed
        full = params.get("return_full_text")  # compat default: the text-generation pipeline's
        prefix = prompt if full is not False else ""
        error: tuple[str, str] | None = None
        if message := tgi.precheck(params):
            error = (f"Input validation error: {message}", "validation")
        elif faults.overloaded:
            error = ("Model is overloaded", "overloaded")
        elif message := tgi.validate(params, self.state.max_input_length):
            error = (f"Input validation error: {message}", "validation")
        elif faults.generation_error is not None:
            error = (f"Request failed during generation: {faults.generation_error}", "generation")
        compute = [("x-compute-type", "gpu+optimized"), ("x-compute-characters", str(len(prompt)))]
        headers = [
            ("Content-Type", "text/event-stream"),
            ("Cache-Control", "no-cache"),
            *compute,
            ("x-accel-buffering", "no"),
        ]
        plan = None
        if error is None:
            plan = tgi.plan_generation(tokens, model, params, prefix=prefix, seed=seed)
        if plan is not None and faults.incomplete_after is not None:
            error = ("Incomplete generation", "incomplete_generation")
        if not params.stream:
            return self._tgi_json(plan, error, compute)
        events = [] if plan is None else plan.events
        if error is not None:
            kept = min(faults.incomplete_after or 0, len(events) - 1) if events else 0
            events = [*events[:kept], tgi.error_event(*error)]
        eol = faults.line_ending
        keepalive = f":{eol}{eol}".encode() if faults.keepalive else b""
        chunks = [(keepalive + tgi.sse_event(event, eol), "token" in event) for event in events]
        self._stream(headers, chunks, faults)
        return plan.text if plan is not None and error is None else None

    def _tgi_json(
        self,
        plan: tgi.Plan | None,
        error: tuple[str, str] | None,
        compute: list[tuple[str, str]],
    ) -> str | None:
        """``stream: false`` (or absent): TGI's non-streaming compat answer, a JSON array."""
        if error is not None or plan is None:
            message, kind = error or ("Incomplete generation", "incomplete_generation")
            status = {"validation": 422, "overloaded": 429, "generation": 424}.get(kind, 500)
            payload = tgi.dumps(tgi.error_event(message, kind)).encode()
            self._send(status, payload, web.JSON_TYPE)
            return None
        final = plan.events[-1]
        answer: dict[str, object] = {"generated_text": final["generated_text"]}
        details = final["details"]
        if isinstance(details, dict):
            tokens = [event["token"] for event in plan.events]
            answer["details"] = {**details, "prefill": [], "tokens": tokens}
        self._send(200, tgi.dumps([answer]).encode(), web.JSON_TYPE, compute)
        return plan.text

    def _ndjson(self, tokens: list[str], faults: Faults) -> str:
        """chat-ui after its 2023-09-20 refactor: its own newline-delimited JSON updates."""
        text = "".join(tokens)
        updates: list[dict[str, str]] = [{"type": "status", "status": "started"}]
        updates += [{"type": "stream", "token": token} for token in tokens]
        updates.append({"type": "finalAnswer", "text": text})
        chunks = [((tgi.dumps(u) + "\n").encode(), u["type"] == "stream") for u in updates]
        self._stream([], chunks, faults)  # new Response(stream): no content type at all
        return text


def _refusal(raw_id: str, conversation: Conversation | None) -> tuple[int, str] | None:
    """The first two checks: ``new ObjectId(id)`` throws (500), then ownership (404)."""
    if not web.OBJECT_ID.fullmatch(raw_id):
        return 500, "Internal Error"
    if conversation is None:
        return 404, "Conversation not found"
    return None


def _chat_request(data: object, flat: bool) -> tuple[str, str | None, str | None, bool] | None:
    """chat-ui's zod schema for the body: (inputs, id, response_id, is_retry), None if invalid.

    Before the refactor ids live under ``options``; after it (``flat``) at the top level.
    """
    if not isinstance(data, dict):
        return None
    inputs = data.get("inputs")
    options = data if flat else data.get("options")
    if not isinstance(inputs, str) or not inputs.strip() or not isinstance(options, dict):
        return None
    ids: list[str | None] = []
    for key in ("id", "response_id"):
        value = options.get(key, "")
        if key in options and not (isinstance(value, str) and web.UUID.fullmatch(value)):
            return None
        ids.append(value if key in options else None)
    retry = options.get("is_retry", False)
    extra, extra_type = ("web_search", bool) if flat else ("web_search_id", str)
    if not isinstance(retry, bool) or not isinstance(options.get(extra, extra_type()), extra_type):
        return None
    return inputs, ids[0], ids[1], retry
