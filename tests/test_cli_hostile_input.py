"""The command line against hostile text: terminal escapes, lone surrogates, bad bytes, bad flags.

Upstream text reaches a terminal, so control characters are shown escaped (newlines and
tabs stay); text no terminal encoding can write (a lone surrogate) becomes U+FFFD rather
than a traceback; input that is not UTF-8, or would send a lone surrogate upstream, is
refused before the provider runs. Every refusal is one ``error:`` line and exit status 2.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from plugin_kit import make_dist, provider_source

from g4f_core import __version__
from g4f_core.cli import app as cli
from g4f_core.plugins.registry import Registry

#: Records every prompt it is called with, then answers with what the test put in REPLY.
ECHO = provider_source(
    models=["echo-model"],
    options="[Option('temperature', float, 0.5)]",
    header="CALLS = []\nREPLY = ['ok']",
    body="""
        CALLS.append(messages[-1]["content"])
        yield from REPLY
    """,
)
OPEN = provider_source(models=["open-model"], body="yield repr(sorted(kwargs))")
ESCAPING_ERROR = provider_source(
    models=["err-model"],
    header="import g4f_core",
    body="""
        yield "partial"
        message = "server said \\x1b]0;owned\\x07 \\x1b[2J"
        raise g4f_core.ProviderResponseError(message, provider="Err")
    """,
)
IMPORT_ESCAPE = "raise RuntimeError('bad \\x1b[2J\\x1b[31m plugin')\n"


@pytest.fixture
def registry(site: Path, registry_for: Callable[..., Registry]) -> Registry:
    make_dist(site, "echo-dist", "1.0", {"Echo": ECHO})
    make_dist(site, "open-dist", "1.0", {"Open": OPEN})
    make_dist(site, "err-dist", "1.0", {"Err": ESCAPING_ERROR})
    make_dist(site, "escape-dist", "1.0", {"Escape": IMPORT_ESCAPE})
    return registry_for()


def echo(registry: Registry) -> object:
    return registry.get("Echo").module


class Terminal:
    """stdout/stderr as a UTF-8 terminal has them: writing a lone surrogate raises."""

    def __init__(self) -> None:
        self.out_bytes, self.err_bytes = io.BytesIO(), io.BytesIO()
        self.out = io.TextIOWrapper(self.out_bytes, encoding="utf-8", write_through=True)
        self.err = io.TextIOWrapper(self.err_bytes, encoding="utf-8", write_through=True)

    def run(self, registry: Registry, *argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv), registry=registry, stdout=self.out, stderr=self.err)
        self.out.flush()
        self.err.flush()
        return code, self.out_bytes.getvalue().decode(), self.err_bytes.getvalue().decode()


def run(registry: Registry, *argv: str) -> tuple[int, str, str]:
    return Terminal().run(registry, *argv)


def test_control_characters_in_a_reply_are_shown_escaped_and_newlines_and_tabs_kept(
    registry: Registry,
) -> None:
    echo(registry).REPLY[:] = ["a\x1b]0;owned\x07b", "\n\tc\x9b31m\u202eevil"]  # type: ignore[attr-defined]
    code, out, err = run(registry, "chat", "-p", "Echo", "Hi")
    assert (code, err) == (0, "")
    assert out == "a\\x1b]0;owned\\x07b\n\tc\\x9b31m\\u202eevil\n"
    assert "\x1b" not in out and "\x07" not in out


def test_control_characters_in_an_error_and_a_plugin_failure_are_shown_escaped(
    registry: Registry,
) -> None:
    code, out, err = run(registry, "chat", "-p", "Err", "Hi")
    assert code == 1
    assert out == "partial\n"
    assert err == "error: Err: server said \\x1b]0;owned\\x07 \\x1b[2J\n"
    code, out, _ = run(registry, "providers")
    assert code == 0
    assert "bad \\x1b[2J\\x1b[31m plugin" in out
    assert "\x1b" not in out


def test_a_token_holding_a_lone_surrogate_is_printed_as_a_replacement_character(
    registry: Registry,
) -> None:
    echo(registry).REPLY[:] = ["ok \ud800 fine"]  # type: ignore[attr-defined]
    code, out, err = run(registry, "chat", "-p", "Echo", "Hi")
    assert (code, out, err) == (0, "ok \ufffd fine\n", "")


def test_stdin_that_is_not_utf8_is_refused_before_the_provider_runs(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b"caf\xe9 \xff\n"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    code, out, err = run(registry, "chat", "-p", "Echo", "-")
    assert (code, out) == (2, "")
    assert err.startswith("error: stdin is not UTF-8 text (byte 0xe9 at offset 3)")
    assert err.count("\n") == 1
    assert echo(registry).CALLS == []  # type: ignore[attr-defined]


def test_utf8_stdin_with_a_byte_order_mark_is_read_without_it(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO("\ufeffcafé\n".encode()), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert run(registry, "chat", "-p", "Echo", "-")[0] == 0
    assert echo(registry).CALLS == ["café\n"]  # type: ignore[attr-defined]


def test_a_prompt_argument_of_undecodable_bytes_is_refused_and_nothing_is_sent(
    registry: Registry,
) -> None:
    prompt = b"caf\xe9".decode("utf-8", "surrogateescape")  # as Python decodes such argv
    code, out, err = run(registry, "chat", "-p", "Echo", prompt)
    assert (code, out) == (2, "")
    assert err == "error: the prompt holds bytes that are not UTF-8 text; pass it as UTF-8\n"
    assert echo(registry).CALLS == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("provider", ["Echo", "Open"])
def test_deeply_nested_json_in_an_option_is_one_error_line_or_plain_text(
    registry: Registry, provider: str
) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    code, out, err = run(registry, "chat", "-p", provider, "-o", f"x={deep}", "Hi")
    assert "Traceback" not in err
    if provider == "Echo":  # declares no options of that name
        assert (code, out) == (2, "")
        assert err.startswith("error: provider 'Echo' does not accept option 'x'")
        assert err.count("\n") == 1
    else:  # takes any keyword: the text passes as text
        assert (code, out) == (0, "['x']\n")


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--port", "99999", "--port must be <= 65535"),
        ("--port", "-1", "--port must be >= 0"),
        ("--port", "http", "--port takes an int"),
        ("--token-delay", "-1", "--token-delay must be >= 0"),
        ("--token-delay", "nan", "--token-delay must be a finite number"),
        ("--token-delay", "1e9", "--token-delay must be <= 60"),
    ],
)
def test_emulate_refuses_a_bad_port_or_token_delay_with_one_line_and_exit_2(
    registry: Registry, flag: str, value: str, says: str
) -> None:
    code, out, err = run(registry, "emulate", "Echo", f"{flag}={value}")
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {says}"), err
    assert err.count("\n") == 1


def test_an_unquoted_prompt_is_pointed_at_the_quotes_it_needs(registry: Registry) -> None:
    code, out, err = run(registry, "chat", "-p", "Echo", "Hello", "big", "world")
    assert (code, out) == (2, "")
    assert err == (
        "error: chat takes the prompt as one argument; quote it: "
        "g4f-core chat ... 'Hello big world'\n"
    )
    assert echo(registry).CALLS == []  # type: ignore[attr-defined]


def test_an_unknown_flag_after_the_prompt_still_gets_argparses_usage(registry: Registry) -> None:
    code, _, err = run(registry, "chat", "-p", "Echo", "Hi", "--colour")
    assert code == 2
    assert "usage: g4f-core" in err and "--colour" in err


def test_version_prints_the_package_version(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(registry, "--version")
    assert code == 0
    assert (out + capsys.readouterr().out) == f"g4f-core {__version__}\n"
