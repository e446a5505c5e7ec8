"""Checking chat messages before anything is sent.

Errors name the index and the field, never the content: messages are private.
"""

from __future__ import annotations

from typing import Any

from g4f_core.errors import InvalidRequestError

__all__ = ["ROLES", "Message", "normalize_messages"]

ROLES = ("system", "user", "assistant")
Message = dict[str, Any]


def normalize_messages(messages: object) -> list[Message]:
    """Return a checked copy of ``messages``; a bare string is one user message."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    if not isinstance(messages, list | tuple):
        raise InvalidRequestError(
            f"messages must be a list of {{'role': ..., 'content': ...}} dicts or a str, "
            f"not {type(messages).__name__}"
        )
    if not messages:
        raise InvalidRequestError("messages must contain at least one message")
    checked: list[Message] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise InvalidRequestError(f"{where} must be a dict, not {type(message).__name__}")
        if "role" not in message:
            raise InvalidRequestError(f"{where} has no 'role'")
        if "content" not in message:
            raise InvalidRequestError(f"{where} has no 'content'")
        role, content = message["role"], message["content"]
        if not isinstance(role, str) or role not in ROLES:
            shown = repr(role) if isinstance(role, str) and len(role) <= 20 else type(role).__name__
            raise InvalidRequestError(
                f"{where}.role {shown} is not one of {', '.join(map(repr, ROLES))}"
            )
        if not isinstance(content, str):
            raise InvalidRequestError(
                f"{where}.content must be a str, not {type(content).__name__}"
            )
        _check_text(content, f"{where}.content")
        checked.append(dict(message))
    return checked


def _check_text(content: str, where: str) -> None:
    """Refuse a lone surrogate: it cannot be sent as UTF-8, and would fail as a "connection" error.

    Such text comes from bytes decoded with ``surrogateescape`` (a non-UTF-8 argv or file)
    or a JSON ``\\ud800`` escape; the message names the position, never the text.
    """
    try:
        content.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequestError(
            f"{where} holds a lone surrogate (U+{ord(content[exc.start]):04X}) at character "
            f"{exc.start}: text must be valid Unicode (decode bytes as UTF-8 first)"
        ) from None
