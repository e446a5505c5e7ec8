"""The H2o emulator's records and shared state, kept apart from HTTP so handlers stay thin.

One :class:`EmulatorState` is shared by every connection thread; every mutation happens under
its lock, so tests can change :class:`Faults` or read the request log while requests run.
"""

from __future__ import annotations

import collections
import dataclasses
import secrets
import threading
import time
from dataclasses import dataclass, field

DEFAULT_MODELS: tuple[str, ...] = (
    "h2oai/h2ogpt-gm-oasst1-en-2048-falcon-40b-v1",
    "h2oai/h2ogpt-gm-oasst1-en-2048-falcon-7b-v3",
    "h2oai/h2ogpt-gm-oasst1-en-2048-open-llama-13b",
)

RATE_WINDOW = 60.0  # chat-ui's messageEvents TTL: RATE_LIMIT counts messages per minute


@dataclass
class Faults:
    """Switches that make the emulator misbehave; read afresh by every request."""

    require_modal: bool = True  # 405 on JSON calls until POST /settings accepted the modal
    token_delay: float = 0.0  # seconds slept before writing each token event
    line_ending: str = "\n"  # "\n", "\r\n" or "\r", for every line of the SSE body
    chunk_size: int | None = None  # at most N bytes per HTTP chunk, each sent on its own
    keepalive: bool = False  # a ":" comment line and a blank line before every event
    script: list[str] | None = None  # tokens to emit instead of the default echo reply
    overloaded: bool = False  # one event: "Model is overloaded", type overloaded
    generation_error: str | None = None  # one event: "Request failed during generation: <x>"
    incomplete_after: int | None = None  # N token events, then "Incomplete generation"
    post_refactor: bool = False  # answer with chat-ui's later NDJSON updates, no data: lines
    rate_limit: int | None = None  # N generations per 60 s per session, then 429
    removed_models: set[str] = field(default_factory=set)  # their conversations get 410
    drop_after: int | None = None  # N token events, then close without the last chunk
    stall_after: int | None = None  # N token events, then sleep stall_seconds
    stall_seconds: float = 0.0
    # Canned (status, content type, body) answers, one popped per POST /conversation/{id}
    # after the ownership check, for retry tests (503 then success).
    fail_generation: list[tuple[int, str, bytes]] = field(default_factory=list)
    details_seed: int | None = None  # the seed reported in details (null by default)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it, so tests can assert what a client sent."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    session: str | None
    connection: int


@dataclass(frozen=True)
class StoredMessage:
    """A conversation message as chat-ui stores it (``from`` is ``role`` here)."""

    role: str
    content: str
    id: str | None = None


@dataclass
class Conversation:
    """A conversation owned by one session; its messages feed the server-built prompt."""

    session: str
    model: str
    messages: list[StoredMessage] = field(default_factory=list)


@dataclass
class _Settings:
    accepted: bool = False
    active_model: str = ""


class EmulatorState:
    """Sessions, conversations, rate-limit events, the request log and connection bookkeeping."""

    def __init__(self, models: tuple[str, ...], max_input_length: int, faults: Faults) -> None:
        if not models:
            raise ValueError("the emulator needs at least one model")
        self.models = models
        self.max_input_length = max_input_length
        self.faults = faults
        self.requests: list[RecordedRequest] = []
        self.origin = ""
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._settings: dict[str, _Settings] = {}
        self._conversations: dict[str, Conversation] = {}
        self._events: dict[str, collections.deque[float]] = {}
        self._opened = 0
        self._closed = 0
        self._close_events: dict[int, threading.Event] = {}

    # --- requests and sessions -------------------------------------------------------------

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def model_available(self, model: object) -> bool:
        """Configured and not removed: chat-ui's zod enum only knows the live model list."""
        return (
            isinstance(model, str)
            and model in self.models
            and model not in self.faults.removed_models
        )

    def accepted(self, session: str) -> bool:
        with self._lock:
            settings = self._settings.get(session)
            return settings is not None and settings.accepted

    def apply_settings(self, session: str, model: str, accepted: bool) -> None:
        with self._lock:
            settings = self._settings.setdefault(session, _Settings())
            settings.active_model = model
            # chat-ui only ever sets ethicsModalAcceptedAt; it never clears it.
            settings.accepted = settings.accepted or accepted

    def admit_generation(self, session: str, limit: int) -> bool:
        """Count one generation against the per-minute limit; False means answer 429."""
        now = time.monotonic()
        with self._lock:
            events = self._events.setdefault(session, collections.deque())
            while events and now - events[0] >= RATE_WINDOW:
                events.popleft()
            if len(events) >= limit:
                return False
            events.append(now)
            return True

    def pop_canned(self) -> tuple[int, str, bytes] | None:
        with self._lock:
            queue = self.faults.fail_generation
            return queue.pop(0) if queue else None

    # --- conversations ---------------------------------------------------------------------

    def create_conversation(self, session: str, model: str) -> str:
        with self._lock:
            conversation_id = secrets.token_hex(12)
            while conversation_id in self._conversations:
                conversation_id = secrets.token_hex(12)
            self._conversations[conversation_id] = Conversation(session, model)
            return conversation_id

    def owned(self, conversation_id: str, session: str) -> Conversation | None:
        """A copy of the conversation if this session owns it (chat-ui's authCondition)."""
        with self._lock:
            found = self._conversations.get(conversation_id)
            if found is None or found.session != session:
                return None
            return Conversation(found.session, found.model, list(found.messages))

    def save_exchange(
        self, conversation_id: str, history: list[StoredMessage], reply: list[StoredMessage]
    ) -> None:
        with self._lock:
            found = self._conversations.get(conversation_id)
            if found is not None:
                found.messages = [*history, *reply]

    def delete(self, conversation_id: str, session: str) -> bool:
        with self._lock:
            found = self._conversations.get(conversation_id)
            if found is None or found.session != session:
                return False
            del self._conversations[conversation_id]
            return True

    def conversations(self) -> dict[str, Conversation]:
        with self._lock:
            return {
                key: Conversation(c.session, c.model, list(c.messages))
                for key, c in self._conversations.items()
            }

    def reset(self) -> None:
        defaults = Faults()
        with self._lock:
            self.requests.clear()
            for spec in dataclasses.fields(Faults):
                setattr(self.faults, spec.name, getattr(defaults, spec.name))
            self._settings.clear()
            self._conversations.clear()
            self._events.clear()

    # --- connections -----------------------------------------------------------------------

    def connection_opened(self) -> int:
        with self._lock:
            self._opened += 1
            self._close_events.setdefault(self._opened, threading.Event())
            return self._opened

    def connection_closed(self, connection: int) -> None:
        with self._lock:
            self._closed += 1
            event = self._close_events.setdefault(connection, threading.Event())
        event.set()

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return self._opened, self._closed

    def wait_for_close(self, connection: int, timeout: float) -> bool:
        with self._lock:
            event = self._close_events.setdefault(connection, threading.Event())
        return event.wait(timeout)
