"""The g4f-core command: listing, showing, chatting, errors and exit codes."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

import pytest
from plugin_kit import CountedDists, make_dist, module_name_for, provider_source

from g4f_core import Registry, cli

OPTIONS = (
    "(Option('temperature', float, 0.5, 'sampling temperature'),"
    " Option('max_new_tokens', int, 1024), Option('do_sample', bool, True),"
    " Option('stop', str, ''))"
)

#: Streams "Hel", "lo", then the options it received with their types.
STREAMER = provider_source(
    models=["falcon-40b", "falcon-7b"],
    url="https://streamer.example",
    options=OPTIONS,
    body="""
        yield "Hel"
        yield "lo"
        if kwargs:
            yield " " + ",".join(f"{k}={v!r}:{type(v).__name__}" for k, v in sorted(kwargs.items()))
    """,
)
#: What STREAMER says when called without -o: every declared option, at its default.
HELLO = "Hello do_sample=True:bool,max_new_tokens=1024:int,stop='':str,temperature=0.5:float\n"
BATCH = provider_source(models=["falcon-7b", "llama"], supports_stream=False, body="yield 'batch'")
KEYED = provider_source(models=["gpt"], needs_auth=True, working=False)
CONTEXT = provider_source(
    models=["ctx"],
    header="from g4f_core.context import current",
    body="yield f'{current().base_url} {current().timeout}'",
)
FAILING = provider_source(
    models=["fail"],
    header="import g4f_core",
    body="""
        yield "Hel"
        raise g4f_core.ProviderConnectionError("the connection broke")
    """,
)
#: Logs each chunk it yields, so a test can interleave it with what the CLI writes.
TICKER = provider_source(
    header="log = []",
    body="""
        for token in ["Hel", "lo"]:
            log.append(f"yield {token}")
            yield token
    """,
)
BROKEN = provider_source(header="raise RuntimeError('cannot start')")


@pytest.fixture
def registry(site: Path, registry_for: Callable[..., Registry]) -> Registry:
    make_dist(site, "streamer-dist", "1.2", {"Streamer": STREAMER})
    make_dist(site, "batch-dist", "0.3", {"Batch": BATCH})
    make_dist(site, "keyed-dist", "2.0", {"Keyed": KEYED})
    make_dist(site, "broken-dist", "0.1", {"Broken": BROKEN})
    return registry_for()


def run(registry: Registry, *argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), registry=registry, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def table(text: str) -> list[list[str]]:
    """The rows of the first table in ``text``, cells split on runs of two or more spaces."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            break
        rows.append(re.split(r" {2,}", line.strip()))
    return rows


# -- providers -------------------------------------------------------------------------------


def test_providers_prints_a_table_of_capabilities_and_source(registry: Registry) -> None:
    code, out, err = run(registry, "providers")
    assert code == 0
    assert err == ""
    assert table(out) == [
        ["NAME", "MODELS", "STREAM", "AUTH", "WORKING", "SOURCE"],
        ["Batch", "falcon-7b, llama", "no", "no", "yes", "batch-dist 0.3"],
        ["Keyed", "gpt", "yes", "yes", "no", "keyed-dist 2.0"],
        ["Streamer", "falcon-40b, falcon-7b", "yes", "no", "yes", "streamer-dist 1.2"],
    ]


def test_providers_lists_failures_after_the_table(registry: Registry) -> None:
    _, out, _ = run(registry, "providers")
    lines = out.splitlines()
    problems = next(i for i, line in enumerate(lines) if "plugin problem" in line)
    assert problems > 4
    assert "1 plugin problem(s)" in lines[problems]
    assert (
        "Broken (broken-dist): failed to import: RuntimeError: cannot start" in lines[problems + 1]
    )


def test_providers_json_has_exactly_the_documented_shape(registry: Registry) -> None:
    code, out, _ = run(registry, "providers", "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"providers", "failures"}
    assert [p["name"] for p in data["providers"]] == ["Batch", "Keyed", "Streamer"]
    for entry in data["providers"]:
        assert set(entry) == {
            "name",
            "url",
            "models",
            "supports_stream",
            "needs_auth",
            "working",
            "params",
            "options",
            "distribution",
            "version",
            "entry_point",
            "auth_env",
            "origin",
            "last_check",
        }
    streamer = data["providers"][2]
    assert streamer["models"] == ["falcon-40b", "falcon-7b"]
    assert streamer["url"] == "https://streamer.example"
    assert (streamer["supports_stream"], streamer["needs_auth"], streamer["working"]) == (
        True,
        False,
        True,
    )
    assert (streamer["distribution"], streamer["version"]) == ("streamer-dist", "1.2")
    assert streamer["entry_point"] == f"Streamer = {module_name_for('streamer-dist', 'Streamer')}"
    assert streamer["options"][0] == {
        "name": "temperature",
        "type": "float",
        "default": 0.5,
        "help": "sampling temperature",
    }
    assert "temperature: float = 0.5" in streamer["params"]
    [failure] = data["failures"]
    assert set(failure) == {"name", "entry_point", "distribution", "version", "error", "origin"}
    assert (failure["name"], failure["distribution"], failure["version"]) == (
        "Broken",
        "broken-dist",
        "0.1",
    )


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--model", "falcon-7b"], ["Batch", "Streamer"]),
        (["-m", "LLAMA"], ["Batch"]),
        (["--stream"], ["Keyed", "Streamer"]),
        (["--no-auth"], ["Batch", "Streamer"]),
        (["--working"], ["Batch", "Streamer"]),
        (["--stream", "--working", "--no-auth"], ["Streamer"]),
    ],
)
def test_providers_filters(registry: Registry, flags: list[str], expected: list[str]) -> None:
    _, out, _ = run(registry, "providers", "--json", *flags)
    assert [p["name"] for p in json.loads(out)["providers"]] == expected


def test_providers_says_when_no_provider_matches(registry: Registry) -> None:
    code, out, _ = run(registry, "providers", "--model", "nothing-serves-this")
    assert code == 0
    assert out.startswith("no providers match")


def test_providers_of_an_empty_registry() -> None:
    code, out, _ = run(Registry([], environ={}), "providers")
    assert code == 0
    assert out == "no providers installed\n"


# -- show and models ---------------------------------------------------------------------------


def test_show_prints_capabilities_options_and_params(registry: Registry) -> None:
    code, out, _ = run(registry, "show", "streamer")
    assert code == 0
    rows = dict(row for row in table(out) if len(row) == 2)
    assert rows["name"] == "Streamer"
    assert rows["source"] == "streamer-dist 1.2"
    assert rows["models"] == "falcon-40b, falcon-7b"
    assert rows["streaming"] == "yes"
    assert rows["needs auth"] == "no"
    options = out.split("options (-o KEY=VALUE):\n", 1)[1]
    assert table(options) == [
        ["temperature", "float", "0.5", "sampling temperature"],
        ["max_new_tokens", "int", "1024"],
        ["do_sample", "bool", "True"],
        ["stop", "str", "''"],
    ]
    params = f"params: {module_name_for('streamer-dist', 'Streamer')} supports: (model: str"
    assert params in out


def test_show_json_is_the_provider_record(registry: Registry) -> None:
    code, out, _ = run(registry, "show", "Streamer", "--json")
    assert code == 0
    assert json.loads(out) == registry.get("Streamer").to_dict()


def test_show_of_an_unknown_name_suggests_one(registry: Registry) -> None:
    code, out, err = run(registry, "show", "Streemer")
    assert code == 1
    assert out == ""
    assert (
        err == "error: no provider named 'Streemer'; did you mean 'Streamer'? "
        "(available: Batch, Keyed, Streamer)\n"
    )


def test_show_of_a_failed_plugin_says_why(registry: Registry) -> None:
    code, _, err = run(registry, "show", "Broken")
    assert code == 1
    assert "failed to load: failed to import: RuntimeError: cannot start" in err


def test_models_lists_each_model_with_its_providers(registry: Registry) -> None:
    code, out, _ = run(registry, "models")
    assert code == 0
    assert table(out) == [
        ["MODEL", "PROVIDERS"],
        ["falcon-40b", "Streamer"],
        ["falcon-7b", "Batch, Streamer"],
        ["gpt", "Keyed"],
        ["llama", "Batch"],
    ]


def test_models_json(registry: Registry) -> None:
    code, out, _ = run(registry, "models", "--json")
    assert code == 0
    assert json.loads(out)["models"][1] == {"name": "falcon-7b", "providers": ["Batch", "Streamer"]}


# -- chat ------------------------------------------------------------------------------------


def test_chat_prints_the_reply_and_a_final_newline(registry: Registry) -> None:
    code, out, err = run(registry, "chat", "-p", "Streamer", "Hi")
    assert (code, out, err) == (0, HELLO, "")


def test_chat_prints_tokens_as_they_arrive(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(site, "ticker-dist", "1.0", {"Ticker": TICKER})
    registry = registry_for()
    log: list[str] = registry.get("Ticker").module.log  # type: ignore[attr-defined]

    class Recorder(io.StringIO):
        def write(self, text: str) -> int:
            log.append(f"write {text}")
            return super().write(text)

        def flush(self) -> None:
            log.append("flush")

    code = cli.main(
        ["chat", "-p", "Ticker", "Hi"], registry=registry, stdout=Recorder(), stderr=io.StringIO()
    )
    assert code == 0
    assert log[:6] == ["yield Hel", "write Hel", "flush", "yield lo", "write lo", "flush"]


def test_chat_reads_the_prompt_from_stdin(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("a prompt on stdin\n"))
    assert run(registry, "chat", "-p", "Batch", "--no-stream")[:2] == (0, "batch\n")


def test_chat_reads_stdin_for_a_dash(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("a prompt on stdin\n"))
    assert run(registry, "chat", "-p", "Streamer", "-")[:2] == (0, HELLO)


def test_chat_refuses_an_empty_prompt(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("  \n"))
    code, _, err = run(registry, "chat", "-p", "Streamer")
    assert code == 2
    assert err.startswith("error: the prompt is empty")


def test_chat_types_options_by_their_declaration(registry: Registry) -> None:
    code, out, _ = run(
        registry,
        "chat",
        "-p",
        "Streamer",
        "-o",
        "temperature=0.25",
        "-o",
        "max_new_tokens=64",
        "-o",
        "do_sample=off",
        "-o",
        "stop=12",
        "Hi",
    )
    assert code == 0
    assert out == (
        "Hello do_sample=False:bool,max_new_tokens=64:int,stop='12':str,temperature=0.25:float\n"
    )


@pytest.mark.parametrize("key", ["provider", "model", "messages", "registry"])
def test_chat_refuses_a_call_keyword_given_as_an_option(registry: Registry, key: str) -> None:
    code, out, err = run(registry, "chat", "-p", "Streamer", "-o", f"{key}=x", "Hi")
    assert (code, out) == (2, "")  # refused before any I/O
    assert err == f"error: -o {key}=... is not an option: use -p NAME or -m MODEL\n"


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("temperature=hot", "error: option 'temperature' takes a float; cannot read 'hot' as one"),
        ("max_new_tokens=1.5", "error: option 'max_new_tokens' takes an int"),
        ("temprature=0.2", "did you mean 'temperature'?"),
        ("novalue", "error: -o takes KEY=VALUE, not 'novalue'"),
    ],
)
def test_chat_with_a_bad_option_is_a_usage_error_of_one_line(
    registry: Registry, option: str, message: str
) -> None:
    code, out, err = run(registry, "chat", "-p", "Streamer", "-o", option, "Hi")
    assert code == 2
    assert out == ""
    assert message in err
    assert err.startswith("error: ")
    assert err.count("\n") == 1


def test_chat_no_stream_calls_a_provider_that_cannot_stream(registry: Registry) -> None:
    assert run(registry, "chat", "-p", "Batch", "--no-stream", "Hi")[:2] == (0, "batch\n")


def test_chat_with_a_provider_that_cannot_stream_prints_the_whole_reply(
    registry: Registry,
) -> None:
    """Streaming is the CLI's default, not a demand; the Python API still refuses it."""
    assert run(registry, "chat", "-p", "Batch", "Hi")[:2] == (0, "batch\n")


def test_chat_by_model_picks_a_provider(registry: Registry) -> None:
    assert run(registry, "chat", "-m", "falcon-40b", "Hi")[:2] == (0, HELLO)


def test_chat_without_provider_or_model_is_an_error(registry: Registry) -> None:
    code, _, err = run(registry, "chat", "Hi")
    assert code == 2
    assert "choose a provider with -p NAME or a model with -m MODEL" in err


def test_chat_passes_base_url_and_timeout(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(site, "context-dist", "1.0", {"Context": CONTEXT})
    args = ["chat", "-p", "Context", "--base-url", "http://127.0.0.1:9/", "--timeout", "2.5", "Hi"]
    assert run(registry_for(), *args)[:2] == (0, "http://127.0.0.1:9 2.5\n")


def test_chat_failing_midway_keeps_the_partial_reply_and_exits_1(
    site: Path, registry_for: Callable[..., Registry]
) -> None:
    make_dist(site, "failing-dist", "1.0", {"Failing": FAILING})
    code, out, err = run(registry_for(), "chat", "-p", "Failing", "Hi")
    assert code == 1
    assert out == "Hel\n"
    assert err == "error: Failing: the connection broke\n"


# -- errors and exit codes ------------------------------------------------------------------


def test_a_runtime_error_is_one_line_without_traceback(registry: Registry) -> None:
    code, _, err = run(registry, "show", "nope")
    assert code == 1
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_g4f_core_debug_shows_the_traceback(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("G4F_CORE_DEBUG", "1")
    code, _, err = run(registry, "show", "nope")
    assert code == 1
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().splitlines()[-1].startswith("error: ")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["providers", "--colour"],
        ["show"],
    ],
    ids=["no command", "unknown command", "unknown flag", "missing argument"],
)
def test_usage_errors_exit_2(
    registry: Registry, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(registry, *argv)
    assert code == 2
    assert out == ""
    assert "usage: g4f-core" in err + capsys.readouterr().err


@pytest.mark.parametrize(
    "command", [[], ["providers"], ["show"], ["models"], ["chat"], ["emulate"]]
)
def test_every_command_has_help(
    site: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    make_dist(site, "streamer-dist", "1.2", {"Streamer": STREAMER})
    dists = CountedDists.under(site)
    code, out, _ = run(Registry(dists, environ={}), *command, "--help")
    assert code == 0
    assert f"usage: g4f-core {' '.join(command)}".rstrip() in out + capsys.readouterr().out
    assert dists.reads == 0  # help needs no discovery


def test_help_and_usage_errors_go_to_the_streams_given_to_main(registry: Registry) -> None:
    code, out, _ = run(registry, "providers", "--help")
    assert code == 0
    assert out.startswith("usage: g4f-core providers")
    code, _, err = run(registry, "frobnicate")
    assert code == 2
    assert "usage: g4f-core" in err


# -- real processes ------------------------------------------------------------------------


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("G4F_CORE_")}
    env.update(extra)
    return env


def test_python_m_g4f_core_lists_third_party_distributions(site: Path, tmp_path: Path) -> None:
    make_dist(
        site,
        "good-one",
        "1.0",
        {"Alpha": provider_source(models={"a": "org/a"}, url="https://a.example")},
    )
    make_dist(site, "good-two", "2.5", {"Bravo": BATCH, "Keyed": KEYED})
    make_dist(site, "broken-import", "0.1", {"Crash": BROKEN})
    make_dist(site, "invalid-caps", "0.2", {"Invalid": provider_source(supports_stream="yes")})
    make_dist(site, "twin-a", "1.0", {"Twin": provider_source()})
    make_dist(site, "twin-b", "1.0", {"Twin": provider_source()})
    ours = {"good-one", "good-two", "broken-import", "invalid-caps", "twin-a", "twin-b"}
    result = subprocess.run(
        [sys.executable, "-m", "g4f_core", "providers", "--json"],
        capture_output=True,
        text=True,
        env=_clean_env(PYTHONPATH=str(site)),
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    providers = {
        f"{p['distribution']}:{p['name']}": p
        for p in data["providers"]
        if p["distribution"] in ours
    }
    assert sorted(providers) == [
        "good-one:Alpha",
        "good-two:Bravo",
        "good-two:Keyed",
        "twin-a:Twin",
        "twin-b:Twin",
    ]
    alpha = providers["good-one:Alpha"]
    assert (alpha["models"], alpha["url"], alpha["supports_stream"], alpha["version"]) == (
        ["a"],
        "https://a.example",
        True,
        "1.0",
    )
    assert alpha["entry_point"] == f"Alpha = {module_name_for('good-one', 'Alpha')}"
    bravo = providers["good-two:Bravo"]
    assert (bravo["supports_stream"], bravo["version"]) == (False, "2.5")
    keyed = providers["good-two:Keyed"]
    assert (keyed["needs_auth"], keyed["working"]) == (True, False)
    failures = sorted(
        (f["distribution"], f["name"]) for f in data["failures"] if f["distribution"] in ours
    )
    assert failures == [
        ("broken-import", "Crash"),
        ("invalid-caps", "Invalid"),
        ("twin-a", "Twin"),
        ("twin-b", "Twin"),
    ]


def test_console_script_help_exits_0() -> None:
    script = Path(sysconfig.get_path("scripts")) / "g4f-core"
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, env=_clean_env(), timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: g4f-core")


def test_python_m_g4f_core_reports_a_runtime_error_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "g4f_core", "show", "g4ftest-no-such-provider"],
        capture_output=True,
        text=True,
        env=_clean_env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: no provider named 'g4ftest-no-such-provider'")
    assert result.stderr.count("\n") == 1
