"""Declared options: one declaration feeds params, validation and the CLI."""

from __future__ import annotations

import math
from typing import Any

import pytest

from g4f_core import InvalidRequestError, Option
from g4f_core.context import CallContext, max_retries
from g4f_core.options import FRAMEWORK_OPTIONS, check_options, closest, options_from

TEMPERATURE = Option("temperature", float, 0.5)
TRUNCATE = Option("truncate", int, 1000)
SAMPLE = Option("do_sample", bool, True)
STOP = Option("stop", str, "")


def test_option_describes_itself_as_name_type_default() -> None:
    assert TEMPERATURE.describe() == "temperature: float = 0.5"
    assert STOP.describe() == "stop: str = ''"


@pytest.mark.parametrize("kind", [dict, bytes, type(None), (), (str, dict)])
def test_option_type_must_be_a_scalar_a_list_or_a_tuple_of_them(kind: type) -> None:
    with pytest.raises(ValueError, match="type must be bool, int, float, str or list"):
        Option("x", kind, None)


@pytest.mark.parametrize("name", ["", "1x", "has space", "a-b"])
def test_option_name_must_be_an_identifier(name: str) -> None:
    with pytest.raises(ValueError, match="must match regex"):
        Option(name, int, 1)


def test_option_is_frozen() -> None:
    with pytest.raises(AttributeError):
        TEMPERATURE.default = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("option", "value"),
    [(TEMPERATURE, 0.7), (TRUNCATE, 5), (SAMPLE, False), (STOP, "\n")],
)
def test_check_accepts_a_value_of_the_declared_type(option: Option, value: Any) -> None:
    assert option.check(value, where="") == value


def test_check_accepts_an_int_for_a_float_and_makes_it_a_float() -> None:
    value = TEMPERATURE.check(1, where="")
    assert value == 1.0
    assert isinstance(value, float)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        (TRUNCATE, True),  # a bool is an int to Python, not to us
        (TRUNCATE, 1.5),
        (TEMPERATURE, "0.5"),
        (TEMPERATURE, True),
        (TEMPERATURE, math.nan),
        (TEMPERATURE, math.inf),
        (SAMPLE, 1),
        (STOP, 3),
        (TRUNCATE, None),
    ],
)
def test_check_refuses_a_value_of_another_type(option: Option, value: Any) -> None:
    with pytest.raises(InvalidRequestError, match=f"option '{option.name}' must be"):
        option.check(value, where="")


def test_check_accepts_none_for_an_option_whose_default_is_none() -> None:
    assert Option("seed", int, None).check(None, where="") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("yes", True), ("TRUE", True), ("1", True), ("off", False), ("0", False), (" no ", False)],
)
def test_parse_reads_bool_words(text: str, expected: bool) -> None:
    assert SAMPLE.parse(text) is expected


def test_parse_types_text_by_the_declared_type() -> None:
    assert TEMPERATURE.parse("0.25") == 0.25
    assert TRUNCATE.parse("42") == 42
    assert STOP.parse("42") == "42"


@pytest.mark.parametrize(
    ("option", "text"),
    [(TEMPERATURE, "hot"), (TEMPERATURE, "nan"), (TRUNCATE, "1.5"), (SAMPLE, "maybe")],
)
def test_parse_refuses_text_that_is_not_of_the_declared_type(option: Option, text: str) -> None:
    expected = "must be a finite number" if text == "nan" else "takes a"
    with pytest.raises(InvalidRequestError, match=f"option '{option.name}' {expected}"):
        option.parse(text)


def test_options_from_none_is_empty() -> None:
    assert options_from(None) == ()


def test_options_from_dict_types_each_option_by_its_default() -> None:
    assert options_from({"temperature": 0.5, "truncate": 1000}) == (TEMPERATURE, TRUNCATE)


def test_options_from_records_keeps_them_in_order() -> None:
    assert options_from([SAMPLE, STOP]) == (SAMPLE, STOP)


@pytest.mark.parametrize(
    "declared",
    [{"stop": None}, {"stop": ["\n"]}, {1: 2}, "temperature", [TEMPERATURE, "x"], 42],
)
def test_options_from_refuses_what_it_cannot_type(declared: object) -> None:
    with pytest.raises(ValueError, match="option"):
        options_from(declared)


def test_options_from_refuses_an_option_declared_twice() -> None:
    with pytest.raises(ValueError, match="declared twice: temperature"):
        options_from([TEMPERATURE, Option("temperature", float, 1.0)])


def test_closest_matches_case_insensitively_and_keeps_the_declared_spelling() -> None:
    assert closest("TEMPRATURE", ["temperature", "truncate"]) == "temperature"
    assert closest("zzz", ["temperature"]) is None


def test_check_options_passes_declared_options_through_checked() -> None:
    checked = check_options(
        {"temperature": 1, "truncate": 9}, [TEMPERATURE, TRUNCATE], owner="P", open_ended=False
    )
    assert checked == {"temperature": 1.0, "truncate": 9}


def test_check_options_names_the_closest_declared_option_for_an_unknown_one() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        check_options({"temprature": 1.0}, [TEMPERATURE, TRUNCATE], owner="P", open_ended=False)
    message = str(caught.value)
    assert "'temprature'" in message
    assert "did you mean 'temperature'" in message
    assert "truncate" in message  # the accepted options are listed


def test_check_options_passes_unknown_options_unchanged_when_open_ended() -> None:
    value = object()
    assert check_options({"anything": value}, [], owner="P", open_ended=True) == {"anything": value}


def test_framework_options_of_the_contract_are_declared() -> None:
    names = {opt.name for opt in FRAMEWORK_OPTIONS}
    assert {"timeout", "deadline", "base_url", "proxy", "auth", "max_retries"} <= names


def test_the_framework_defaults_are_the_declared_ones_and_apply_when_none_is_given() -> None:
    declared = {opt.name: opt.default for opt in FRAMEWORK_OPTIONS}
    assert (declared["timeout"], declared["max_retries"], declared["deadline"]) == (30.0, 2, None)
    ctx = CallContext.build("X", None, {"timeout": None}, {})
    assert (ctx.timeout, ctx.max_line_bytes, ctx.max_reply_bytes, ctx.deadline_at) == (
        declared["timeout"],
        declared["max_line_bytes"],
        declared["max_reply_bytes"],
        None,
    )
    assert max_retries({}, {}) == declared["max_retries"]


# -- declared ranges, choices, list types and OpenAI names -----------------------------------

RANGED = Option("top_p", float, 1.0, "nucleus", ge=0, le=1, openai=["top_p"])


@pytest.mark.parametrize("value", [0, 0.5, 1])
def test_a_value_inside_the_declared_range_passes(value: float) -> None:
    assert RANGED.check(value, where="") == float(value)


@pytest.mark.parametrize(("value", "sign"), [(-0.1, ">= 0"), (1.5, "<= 1")])
def test_a_value_outside_the_declared_range_names_the_bound(value: float, sign: str) -> None:
    with pytest.raises(InvalidRequestError, match=f"'top_p' must be {sign}"):
        RANGED.check(value, where="")


def test_exclusive_bounds_refuse_the_bound_itself() -> None:
    positive = Option("temperature", float, 0.4, gt=0, lt=2)
    with pytest.raises(InvalidRequestError, match="must be > 0"):
        positive.check(0, where="")
    with pytest.raises(InvalidRequestError, match="must be < 2"):
        positive.check(2, where="")


def test_choices_refuse_a_value_not_listed() -> None:
    effort = Option("effort", str, "low", choices=["low", "high"])
    assert effort.check("high", where="") == "high"
    with pytest.raises(InvalidRequestError, match="one of 'low', 'high'"):
        effort.check("medium", where="")


def test_a_bound_must_be_a_finite_number() -> None:
    with pytest.raises(ValueError, match="ge must be a finite number"):
        Option("x", float, 1.0, ge=float("nan"))


def test_a_str_or_list_option_takes_either_and_refuses_other_lists() -> None:
    stop = Option("stop", (str, list), None)
    assert stop.type_name == "str | list[str]"
    assert stop.check("\n", where="") == "\n"
    assert stop.check(("a", "b"), where="") == ["a", "b"]
    with pytest.raises(InvalidRequestError, match="'stop' must be"):
        stop.check(["a", 1], where="")


def test_a_list_option_reads_a_json_list_or_one_word_from_the_command_line() -> None:
    stop = Option("stop", (str, list), None)
    assert stop.parse('["a", "b"]') == ["a", "b"]
    assert stop.parse("END") == "END"
    with pytest.raises(InvalidRequestError, match="not a JSON list of strings"):
        stop.parse("[1, 2")


def test_to_dict_carries_the_limits_and_the_openai_names() -> None:
    assert RANGED.to_dict() == {
        "name": "top_p",
        "type": "float",
        "default": 1.0,
        "help": "nucleus",
        "ge": 0,
        "le": 1,
        "openai": ["top_p"],
    }
    assert RANGED.limits == ">= 0, <= 1"
