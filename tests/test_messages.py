"""Message checks: done before any I/O, naming index and field, never the content."""

from __future__ import annotations

from typing import Any

import pytest

from g4f_core import InvalidRequestError
from g4f_core.messages import normalize_messages

CANARY = "canary-7f3a-secret-prompt"


def test_a_bare_string_is_one_user_message() -> None:
    assert normalize_messages("Hello") == [{"role": "user", "content": "Hello"}]


def test_valid_messages_come_back_as_copies() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]
    checked = normalize_messages(messages)
    assert checked == messages
    checked[0]["content"] = "changed"
    assert messages[0]["content"] == "be brief"


def test_a_tuple_of_messages_is_accepted() -> None:
    assert normalize_messages(({"role": "user", "content": "hi"},)) == [
        {"role": "user", "content": "hi"}
    ]


@pytest.mark.parametrize("messages", [None, 42, {"role": "user", "content": CANARY}, b"hi"])
def test_messages_must_be_a_list_or_a_str(messages: object) -> None:
    with pytest.raises(InvalidRequestError, match="messages must be a list") as caught:
        normalize_messages(messages)
    assert CANARY not in str(caught.value)


def test_messages_must_not_be_empty() -> None:
    with pytest.raises(InvalidRequestError, match="at least one message"):
        normalize_messages([])


BAD: dict[str, tuple[list[Any], str]] = {
    "not a dict": ([{"role": "user", "content": "ok"}, CANARY], r"messages\[1\] must be a dict"),
    "missing role": ([{"content": CANARY}], r"messages\[0\] has no 'role'"),
    "missing content": ([{"role": "user", "text": CANARY}], r"messages\[0\] has no 'content'"),
    "unknown role": (
        [{"role": "user", "content": "a"}, {"role": "robot", "content": CANARY}],
        r"messages\[1\]\.role 'robot' is not one of 'system', 'user', 'assistant'",
    ),
    "role not a str": ([{"role": 1, "content": CANARY}], r"messages\[0\]\.role int"),
    "content not a str": (
        [{"role": "user", "content": [CANARY]}],
        r"messages\[0\]\.content must be a str, not list",
    ),
    "content is None": ([{"role": "user", "content": None}], r"messages\[0\]\.content"),
}


@pytest.mark.parametrize(("messages", "pattern"), BAD.values(), ids=BAD.keys())
def test_bad_message_error_names_index_and_field_never_content(
    messages: list[Any], pattern: str
) -> None:
    with pytest.raises(InvalidRequestError, match=pattern) as caught:
        normalize_messages(messages)
    assert CANARY not in str(caught.value)


def test_a_long_role_string_is_not_echoed() -> None:
    """A role could be a prompt pasted into the wrong field: long ones are not quoted."""
    with pytest.raises(InvalidRequestError) as caught:
        normalize_messages([{"role": CANARY + " and more words", "content": "x"}])
    assert CANARY not in str(caught.value)
    assert "messages[0].role" in str(caught.value)


def test_invalid_request_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        normalize_messages([])
