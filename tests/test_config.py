"""The config file reader: where the file is, what a sound table reads as, and every problem
named by file, table and key without quoting a value that could be a credential."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from g4f_core import Config, Origin, ProviderTable, load_config
from g4f_core.plugins.config import config_path, parse_config, user_config_dir

GOOD = """\
# my endpoints: comments are fine
[providers.Ollama]
protocol = "openai"
base_url = "http://localhost:11434/v1/"
models = ["llama3.2", "qwen2.5:0.5b"]

[providers."My.Proxy"]
protocol = "openai"
base_url = "https://proxy.example/api/v1"
models = { fast = "vendor/fast-1", big = "vendor/big-2" }
auth_env = "PROXY_KEY"
supports_stream = false
headers = { "X-Title" = "g4f-core" }
working = false
"""

CANARY = "sk-canary-4242-not-for-any-message"


def parsed(text: str, path: str = "/cfg/g4f-core.toml") -> Config:
    return parse_config(text, path)


def one_problem(text: str) -> str:
    config = parsed(text)
    assert len(config.problems) == 1, [str(p) for p in config.problems]
    return str(config.problems[0])


def base(extra: str, *, drop: str = "") -> str:
    lines = ["[providers.T]", 'protocol = "openai"', 'base_url = "http://h:1/v1"', 'models = ["m"]']
    kept = [line for line in lines if not (drop and line.startswith(drop))]
    return "\n".join(kept) + "\n" + extra + "\n"


# -- where the file is -----------------------------------------------------------------------


def test_the_environment_variable_names_the_file(tmp_path: Path) -> None:
    path, explicit = config_path({"G4F_CORE_CONFIG": str(tmp_path / "x.toml")})
    assert (path, explicit) == (str(tmp_path / "x.toml"), True)


def test_without_the_variable_the_file_is_in_the_user_config_directory(tmp_path: Path) -> None:
    path, explicit = config_path({})
    assert not explicit
    assert path == os.path.join(user_config_dir(), "g4f-core.toml")
    if sys.platform.startswith("linux"):  # conftest points XDG_CONFIG_HOME at a fresh folder
        assert path == os.path.join(os.environ["XDG_CONFIG_HOME"], "g4f-core", "g4f-core.toml")


def test_linux_falls_back_to_dot_config_without_xdg(monkeypatch: pytest.MonkeyPatch) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("the XDG rule is Linux's")
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert user_config_dir() == os.path.join(os.path.expanduser("~"), ".config", "g4f-core")


def test_a_missing_default_file_is_no_problem(tmp_path: Path) -> None:
    config = load_config(str(tmp_path / "none.toml"))
    assert config.explicit  # a path given by the caller counts as named
    assert not config.exists and config.tables == ()
    assert [p.message for p in config.problems] == [
        "G4F_CORE_CONFIG names a file that does not exist"
    ]
    assert load_config(environ={}).problems == ()  # the default location, absent: silent


# -- a sound file ----------------------------------------------------------------------------


def test_a_sound_file_reads_as_checked_tables() -> None:
    config = parsed(GOOD)
    assert config.problems == ()
    ollama, proxy = config.tables
    assert ollama == ProviderTable(
        name="Ollama",
        protocol="openai",
        base_url="http://localhost:11434/v1",  # trailing slash dropped
        models={"llama3.2": "llama3.2", "qwen2.5:0.5b": "qwen2.5:0.5b"},
        auth_env=None,
        supports_stream=True,
        headers={},
        working=True,
        origin=Origin("/cfg/g4f-core.toml", "providers.Ollama"),
    )
    assert proxy.name == "My.Proxy"
    assert proxy.origin.table == 'providers."My.Proxy"'
    assert dict(proxy.models) == {"fast": "vendor/fast-1", "big": "vendor/big-2"}
    assert (proxy.auth_env, proxy.supports_stream, proxy.working) == ("PROXY_KEY", False, False)
    assert dict(proxy.headers) == {"X-Title": "g4f-core"}


def test_tables_for_gives_one_protocol_and_remembers_who_asked() -> None:
    config = parsed(
        GOOD + base("").replace("[providers.T]", "[providers.X]").replace("openai", "other")
    )
    assert [t.name for t in config.tables_for("openai")] == ["Ollama", "My.Proxy"]
    assert [t.name for t in config.tables_for("other")] == ["X"]
    assert config.asked == {"openai", "other"}


def test_load_config_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "g4f-core.toml"
    path.write_text(GOOD, encoding="utf-8")
    config = load_config(environ={"G4F_CORE_CONFIG": str(path)})
    assert config.exists and config.explicit and config.path == str(path)
    assert [t.name for t in config.tables] == ["Ollama", "My.Proxy"]


# -- problems, each naming file, table and key -------------------------------------------------


def test_an_unknown_key_names_file_table_and_key_with_did_you_mean() -> None:
    text = base('bse_url = "x"')
    assert one_problem(text) == (
        "/cfg/g4f-core.toml, table [providers.T], key 'bse_url': unknown key; "
        "did you mean 'base_url'?"
    )


def test_an_unknown_key_far_from_every_key_lists_the_known_ones() -> None:
    assert "(known: protocol, base_url, models" in one_problem(base("colour = 1"))


@pytest.mark.parametrize(
    "key", ["api_key", "key", "token", "auth", "OPENAI_API_KEY", "password", "secret", "bearer"]
)
def test_a_credential_in_the_file_is_refused_without_quoting_it(key: str) -> None:
    message = one_problem(base(f'{key} = "{CANARY}"'))
    assert f"key {key!r}" in message
    assert 'auth_env = "MY_API_KEY"' in message
    assert CANARY not in message


@pytest.mark.parametrize("header", ["Authorization", "x-api-key", "Cookie", "api-key"])
def test_a_credential_header_is_refused_without_quoting_it(header: str) -> None:
    message = one_problem(base(f'headers = {{ "{header}" = "Bearer {CANARY}" }}'))
    assert "key 'headers'" in message and header in message and "auth_env" in message
    assert CANARY not in message


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"https://user:{CANARY}@api.example/v1", "user name or password"),
        (f"https://api.example/v1?key={CANARY}", "query"),
        ("ftp://api.example/v1", "http:// or https://"),
        ("http://:80/v1", "names no host"),
        ("http://h:99999/v1", "invalid port"),
    ],
)
def test_a_bad_base_url_is_refused_without_quoting_it(url: str, says: str) -> None:
    text = base(f'base_url = "{url}"', drop="base_url")
    message = one_problem(text)
    assert "key 'base_url'" in message and says in message
    assert CANARY not in message


def test_auth_env_holding_the_key_itself_is_refused_without_quoting_it() -> None:
    message = one_problem(base(f'auth_env = "{CANARY}"'))
    assert "key 'auth_env'" in message and "not the credential itself" in message
    assert CANARY not in message


@pytest.mark.parametrize(
    ("line", "key", "says"),
    [
        ("models = []", "models", "is empty"),
        ('models = "m"', "models", "a list of model names or a table"),
        ('models = ["a", "A"]', "models", "twice"),
        ('models = [" a"]', "models", "surrounding spaces"),
        ('models = { a = "" }', "models", "upstream id"),
        ('protocol = "Open AI!"', "protocol", "the name of a protocol"),
        ('supports_stream = "yes"', "supports_stream", "true or false"),
        ("working = 1", "working", "true or false"),
        ('headers = "X"', "headers", "a table of header"),
        ('headers = { "Bad Name" = "x" }', "headers", "not a valid header name"),
        ('headers = { "X-A" = 1 }', "headers", "a string on one line"),
    ],
)
def test_a_bad_value_names_its_key(line: str, key: str, says: str) -> None:
    name = line.split(" ")[0]
    message = one_problem(base(line, drop=name if name in ("models", "protocol") else "\0"))
    assert f"key {key!r}" in message and says in message


@pytest.mark.parametrize("missing", ["protocol", "base_url", "models"])
def test_a_missing_key_is_named_with_an_example(missing: str) -> None:
    message = one_problem(base("", drop=missing))
    assert f"missing key {missing!r} (for example: {missing} = " in message


def test_every_problem_of_a_table_is_reported_at_once_and_the_table_is_dropped() -> None:
    config = parsed(base('bse_url = "x"\napi_key = "y"', drop="models") + GOOD)
    assert [t.name for t in config.tables] == ["Ollama", "My.Proxy"]
    assert sorted(p.key or "-" for p in config.problems if p.name == "T") == [
        "-",
        "api_key",
        "bse_url",
    ]


def test_a_provider_declared_twice_ignoring_case_is_a_problem_of_the_second() -> None:
    text = GOOD + base("").replace("[providers.T]", "[providers.ollama]")
    config = parsed(text)
    assert [t.name for t in config.tables] == ["Ollama", "My.Proxy"]
    assert one_problem(text).endswith("declares provider 'Ollama' again (names ignore case)")


def test_a_bad_provider_name_is_a_problem() -> None:
    assert "a provider name starts with a letter" in one_problem(
        base("").replace("[providers.T]", '[providers."9 lives"]')
    )


def test_a_table_that_is_not_a_table_is_a_problem() -> None:
    assert "must be a table of settings" in one_problem("[providers]\nT = 3\n")


def test_an_unknown_top_level_key_says_did_you_mean() -> None:
    message = one_problem("[provider.T]\nx = 1\n")
    assert (
        message
        == "/cfg/g4f-core.toml, key 'provider': unknown top-level key; did you mean 'providers'?"
    )


def test_providers_that_is_not_a_table_is_a_problem() -> None:
    assert "must hold [providers.NAME] tables" in one_problem('providers = "all"\n')


def test_text_that_is_not_toml_is_one_problem_with_the_parser_position() -> None:
    message = one_problem("[providers.T]\nbase_url = \n")
    assert message.startswith("/cfg/g4f-core.toml: is not valid TOML: ")
    assert "line 2" in message


@pytest.mark.parametrize(
    ("content", "says"),
    [(b"\xff\xfe not text", "is not UTF-8 text"), (b"#" * ((1 << 20) + 2), "larger than 1 MiB")],
)
def test_a_file_that_cannot_be_text_is_one_problem(
    tmp_path: Path, content: bytes, says: str
) -> None:
    path = tmp_path / "g4f-core.toml"
    path.write_bytes(content)
    [problem] = load_config(str(path)).problems
    assert str(problem) == f"{path}: {says}" or says in str(problem)


def test_a_directory_in_place_of_the_file_is_a_problem(tmp_path: Path) -> None:
    [problem] = load_config(str(tmp_path)).problems
    assert "is a directory" in str(problem)


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root reads all")
def test_an_unreadable_file_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "g4f-core.toml"
    path.write_text(GOOD, encoding="utf-8")
    path.chmod(0)
    [problem] = load_config(str(path)).problems
    assert "cannot be read" in str(problem)


def test_table_reprs_show_no_url_path_or_header_values() -> None:
    proxy = parsed(GOOD).tables[1]
    assert "api/v1" not in repr(proxy) and 'g4f-core"' not in repr(proxy)
    assert "My.Proxy" in repr(proxy)


# -- cost --------------------------------------------------------------------------------------


def test_reading_no_file_imports_no_toml_parser(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from g4f_core.plugins.config import load_config\n"
        f"load_config({str(tmp_path / 'absent.toml')!r})\n"
        "print('tomllib' in sys.modules, 'tomli' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["False", "False"]


def test_hostile_nesting_is_one_problem_not_a_crash() -> None:
    message = one_problem("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert message == "/cfg/g4f-core.toml: nests too deeply"
