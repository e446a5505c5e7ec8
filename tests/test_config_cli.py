"""``g4f-core config`` and ``config add``, and every listing and calling command on a provider
declared in the config file, against its emulator over loopback."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai_kit import configured, own_registry, table

from g4f_core import cli
from g4f_core.plugins.config import load_config
from g4f_core.plugins.registry import Registry
from g4f_core_providers.openai.server import OpenAIEmulator

COMMENTED = """\
# Endpoints I use.   (this comment, the blank lines and the layout must survive)

[providers.Ollama]
protocol = "openai"    # the only protocol for now
base_url = "http://localhost:11434/v1"
models = ["llama3.2"]
"""


def run(registry: Registry, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), registry=registry, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def emulator() -> Iterator[OpenAIEmulator]:
    with OpenAIEmulator(models=["gpt-4o-mini", "vendor/big-1"]) as server:
        yield server


@pytest.fixture
def emu(tmp_path: Path, emulator: OpenAIEmulator) -> Registry:
    return configured(
        tmp_path, table("Emu", emulator.url, '{ mini = "gpt-4o-mini", big = "vendor/big-1" }')
    )


# -- g4f-core config -----------------------------------------------------------------------


def test_config_without_a_file_says_where_it_would_be_and_how_to_make_it() -> None:
    code, out, _ = run(own_registry({}), "config")
    assert code == 0
    default = os.path.join(os.environ["XDG_CONFIG_HOME"], "g4f-core", "g4f-core.toml")
    assert (
        out.splitlines()[0] == f"config file: {default} (the default; G4F_CORE_CONFIG overrides it)"
    )
    assert "not found: `g4f-core config add NAME --base-url URL --model M` creates it" in out


def test_config_lists_the_declared_providers_and_their_problems(tmp_path: Path) -> None:
    registry = configured(
        tmp_path,
        COMMENTED
        + table("Cloud", "https://api.example/v1", extra='auth_env = "CLOUD_KEY"')
        + table("H2o", "http://h:1/v1")
        + table("Bad", "http://h:1/v1", extra="colour = 1"),
        CLOUD_KEY="x",
    )
    code, out, _ = run(registry, "config")
    assert code == 1  # problems make the command fail, so scripts can check a file
    lines = out.splitlines()
    assert lines[0] == f"config file: {tmp_path / 'g4f-core.toml'} (from G4F_CORE_CONFIG)"
    rows = {line.split()[0]: line for line in lines[2:6]}
    assert rows["NAME"].split() == [
        "NAME",
        "PROTOCOL",
        "BASE",
        "URL",
        "MODELS",
        "CREDENTIAL",
        "LOADED",
    ]
    assert rows["Ollama"].split() == [
        "Ollama",
        "openai",
        "http://localhost:11434/v1",
        "llama3.2",
        "-",
        "yes",
    ]
    assert "CLOUD_KEY (set)" in rows["Cloud"] and rows["Cloud"].endswith("yes")
    assert rows["H2o"].endswith("no")  # refused: an installed provider has the name
    assert "2 problem(s):" in out
    assert "table [providers.Bad], key 'colour': unknown key" in out
    assert "table [providers.H2o]: name clash" in out


def test_config_json_has_the_file_tables_and_problems(tmp_path: Path) -> None:
    registry = configured(tmp_path, COMMENTED + table("Bad", "ftp://x"))
    code, out, _ = run(registry, "config", "--json")
    data = json.loads(out)
    assert code == 1
    assert set(data) == {"path", "explicit", "exists", "providers", "problems"}
    assert (data["exists"], data["explicit"]) == (True, True)
    [ollama] = data["providers"]
    assert ollama == {
        "name": "Ollama",
        "protocol": "openai",
        "base_url": "http://localhost:11434/v1",
        "models": {"llama3.2": "llama3.2"},
        "auth_env": None,
        "supports_stream": True,
        "working": True,
        "headers": [],
        "loaded": True,
        "origin": {"file": str(tmp_path / "g4f-core.toml"), "table": "providers.Ollama"},
    }
    assert len(data["problems"]) == 1 and "key 'base_url'" in data["problems"][0]


def test_config_add_creates_the_file_and_its_folders(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "g4f-core.toml"
    registry = own_registry({"G4F_CORE_CONFIG": str(path)})
    code, out, err = run(
        registry, "config", "add", "Ollama", "--base-url", "http://localhost:11434/v1",
        "--model", "llama3.2", "--model", "qwen2.5:0.5b",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out.startswith(f"added [providers.Ollama] to {path}\n")
    assert path.read_text() == (
        "[providers.Ollama]\n"
        'protocol = "openai"\n'
        'base_url = "http://localhost:11434/v1"\n'
        'models = ["llama3.2", "qwen2.5:0.5b"]\n'
    )
    [t] = load_config(str(path)).tables
    assert (t.name, list(t.models), t.auth_env) == ("Ollama", ["llama3.2", "qwen2.5:0.5b"], None)


def test_config_add_keeps_the_rest_of_the_file_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "g4f-core.toml"
    path.write_text(COMMENTED)
    path.chmod(0o600)
    registry = own_registry({"G4F_CORE_CONFIG": str(path)})
    code, _, err = run(
        registry, "config", "add", "my.cloud", "--base-url", "https://api.example/v1",
        "--model", 'vendor/"quoted"', "--auth-env", "CLOUD_KEY",
    )  # fmt: skip
    assert (code, err) == (0, "")
    text = path.read_text()
    assert text.startswith(COMMENTED + "\n[providers.")
    assert text[len(COMMENTED) :] == (
        '\n[providers."my.cloud"]\n'
        'protocol = "openai"\n'
        'base_url = "https://api.example/v1"\n'
        'models = ["vendor/\\"quoted\\""]\n'
        'auth_env = "CLOUD_KEY"\n'
    )
    assert path.stat().st_mode & 0o777 == 0o600
    cloud = load_config(str(path)).tables[1]
    assert (cloud.name, list(cloud.models), cloud.auth_env) == (
        "my.cloud",
        ['vendor/"quoted"'],
        "CLOUD_KEY",
    )
    assert own_registry({"G4F_CORE_CONFIG": str(path)}).get("my.cloud").needs_auth


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["ollama", "--base-url", "http://h/v1", "--model", "m"], "already declares provider"),
        (["H2O", "--base-url", "http://h/v1", "--model", "m"], "'H2o' is the name of an installed"),
        (["New", "--base-url", "localhost:11434", "--model", "m"], "--base-url: must be an http"),
        (["New", "--base-url", "http://u:p@h/v1", "--model", "m"], "--base-url: carries a user"),
        (["New", "--base-url", "http://h/v1", "--model", "m", "--auth-env", "sk-1"], "--auth-env"),
        (["9New", "--base-url", "http://h/v1", "--model", "m"], "NAME: a provider name starts"),
        (["New", "--base-url", "http://h/v1", "--model", " m"], "--model: model names are"),
    ],
)  # fmt: skip
def test_config_add_refuses_bad_input_and_leaves_the_file_alone(
    tmp_path: Path, argv: list[str], says: str
) -> None:
    path = tmp_path / "g4f-core.toml"
    path.write_text(COMMENTED)
    code, out, err = run(own_registry({"G4F_CORE_CONFIG": str(path)}), "config", "add", *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and says in err
    assert path.read_text() == COMMENTED


def test_config_add_refuses_to_add_to_a_file_that_does_not_parse(tmp_path: Path) -> None:
    path = tmp_path / "g4f-core.toml"
    path.write_text("[providers\n")
    code, _, err = run(
        own_registry({"G4F_CORE_CONFIG": str(path)}),
        "config", "add", "X", "--base-url", "http://h/v1", "--model", "m",
    )  # fmt: skip
    assert code == 2 and "is not valid TOML" in err and "fix it before adding to it" in err
    assert path.read_text() == "[providers\n"


def test_config_add_needs_a_model_and_a_base_url() -> None:
    assert run(own_registry({}), "config", "add", "X", "--model", "m")[0] == 2
    assert run(own_registry({}), "config", "add", "X", "--base-url", "http://h")[0] == 2


# -- the other commands, on a configured endpoint ----------------------------------------


def test_providers_lists_a_configured_endpoint_with_its_table(
    emu: Registry, tmp_path: Path
) -> None:
    code, out, _ = run(emu, "providers")
    assert code == 0
    [row] = [line for line in out.splitlines() if line.startswith("Emu ")]
    assert row.split() == [
        "Emu", "mini,", "big", "yes", "no", "yes", "g4f-core", "0.1.0,", "g4f-core.toml",
        "[providers.Emu]",
    ]  # fmt: skip
    data = json.loads(run(emu, "providers", "--json")[1])
    [entry] = [p for p in data["providers"] if p["name"] == "Emu"]
    assert entry["origin"] == {"file": str(tmp_path / "g4f-core.toml"), "table": "providers.Emu"}
    assert entry["auth_env"] is None
    assert [o["name"] for o in entry["options"]] == [
        "temperature", "top_p", "max_tokens", "stop", "seed", "presence_penalty",
        "frequency_penalty",
    ]  # fmt: skip


def test_providers_lists_a_bad_table_with_its_file_and_table(tmp_path: Path) -> None:
    registry = configured(tmp_path, table("Bad", "http://h/v1", extra="colour = 1"))
    code, out, _ = run(registry, "providers")
    assert code == 0
    path = tmp_path / "g4f-core.toml"
    assert f"  Bad: {path}, table [providers.Bad], key 'colour': unknown key" in out
    [failure] = json.loads(run(registry, "providers", "--json")[1])["failures"]
    assert failure["origin"] == {"file": str(path), "table": "providers.Bad"}


def test_show_says_where_the_provider_was_declared(emu: Registry, tmp_path: Path) -> None:
    code, out, _ = run(emu, "show", "emu")
    assert code == 0
    assert f"declared in  {tmp_path / 'g4f-core.toml'} [providers.Emu]" in out
    assert "models       mini (gpt-4o-mini), big (vendor/big-1)" in out
    assert "stop               str | list[str]  None" in out
    assert "temperature        float            None  sampling temperature; >= 0, <= 2" in out
    shown = json.loads(run(emu, "show", "Emu", "--json")[1])
    assert shown["origin"]["table"] == "providers.Emu"


def test_models_lists_the_configured_models(emu: Registry) -> None:
    data = json.loads(run(emu, "models", "--json")[1])
    assert {"name": "mini", "providers": ["Emu"]} in data["models"]


def test_chat_streams_and_answers_whole_from_a_configured_endpoint(
    emu: Registry, emulator: OpenAIEmulator
) -> None:
    code, out, err = run(emu, "chat", "-p", "Emu", "Hello")
    assert (code, err) == (0, "")
    assert out.startswith("Hello from gpt-4o-mini! This is the g4f-core emulator")
    code, out, _ = run(
        emu, "chat", "-p", "emu", "-m", "big", "--no-stream", "-o", "max_tokens=3", "Hi"
    )
    assert (code, out) == (0, "Hello from vendor/big-1!\n")
    assert emulator.requests[-1].body["max_tokens"] == 3


def test_chat_with_an_option_out_of_range_sends_nothing(
    emu: Registry, emulator: OpenAIEmulator
) -> None:
    code, _, err = run(emu, "chat", "-p", "Emu", "-o", "temperature=9", "Hi")
    assert code == 2  # refused before any I/O
    assert err == "error: option 'temperature' must be <= 2 (allowed: >= 0, <= 2); got 9\n"
    assert emulator.requests == []


def test_check_emulator_passes_for_a_configured_endpoint(emu: Registry) -> None:
    code, out, _ = run(emu, "check", "Emu", "--emulator")
    assert code == 0, out
    assert "verdict: PASS (10 passed, 0 failed, 0 skipped)" in out


def test_check_live_passes_against_a_server_speaking_the_protocol(emu: Registry) -> None:
    code, out, _ = run(emu, "check", "Emu")
    assert code == 0, out
    assert "against its live endpoint" in out and "verdict: PASS" in out


def test_emulate_serves_a_configured_endpoint_until_stopped(tmp_path: Path) -> None:
    path = tmp_path / "g4f-core.toml"
    path.write_text(table("Mine", "https://api.example/v1", '["model-a"]', 'auth_env = "MINE_KEY"'))
    env = {**os.environ, "G4F_CORE_CONFIG": str(path), "G4F_CORE_MINE_AUTH": "anything"}
    server = subprocess.Popen(
        [sys.executable, "-m", "g4f_core", "emulate", "Mine"],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        first = server.stdout.readline().strip()
        assert first.startswith("Mine emulator listening on http://localhost:")
        url = first.rsplit(" ", 1)[-1]
        chat = subprocess.run(
            [sys.executable, "-m", "g4f_core", "chat", "-p", "Mine", "--base-url", url, "Hi"],
            capture_output=True, text=True, env=env, timeout=60, check=False,
        )  # fmt: skip
        assert chat.returncode == 0, chat.stderr
        assert chat.stdout.startswith("Hello from model-a!")
    finally:
        server.terminate()
        server.communicate(timeout=10)
    assert server.returncode == 0


def test_the_readmes_example_config_is_sound(tmp_path: Path) -> None:
    import re

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    part = readme.split("## Real providers: OpenAI-compatible endpoints", 1)[1].split("\n## ", 1)[0]
    [example] = re.findall(r"```toml\n(.*?)```", part, re.DOTALL)
    registry = configured(tmp_path, example)
    assert registry.failures() == []
    names = {p.name for p in registry.providers() if p.origin is not None}
    assert names == {"Ollama", "vLLM", "LlamaCpp", "OpenAI"}
    assert registry.get("OpenAI").needs_auth and registry.get("OpenAI").auth_env == "OPENAI_API_KEY"
    assert (
        "g4f-core config add Ollama --base-url http://localhost:11434/v1 --model llama3.2" in part
    )
