"""When a call last delivered text: the clock its "no progress" limit is measured on.

The transport resets its idle limit whenever events reach the provider, but an event may
carry no text (an empty or special token, a status update): a server sending such events
forever would reset that limit forever. ``calls.py`` sets a :class:`TextClock` for each
attempt and moves it on every non-empty chunk it delivers; the transport's events reader
(transport/client.py) then also fails a stream that has delivered no text for ``timeout``
seconds, whatever else arrives. Outside a call (no clock) only the idle limit applies.
"""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["TextClock", "text_clock"]


class TextClock:
    """``at``: when the attempt last handed text to its caller (``time.monotonic()``)."""

    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at


text_clock: ContextVar[TextClock | None] = ContextVar("g4f_core_text_clock", default=None)
